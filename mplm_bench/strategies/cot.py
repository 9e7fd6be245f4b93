"""Serial chain of thought: one master thread that never spawns."""

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy


@strategies.register("cot", protocol="serial", generic=True)
class COTStrategy(Strategy):
    """One thread, the serial protocol: the task's CoT prompt, one response."""
