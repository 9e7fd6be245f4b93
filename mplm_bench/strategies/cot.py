"""Serial chain of thought: one master thread that never spawns."""

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy


@strategies.register("cot")
class COTStrategy(Strategy):
    name = "cot"
    generic = True
    protocol = "serial"
