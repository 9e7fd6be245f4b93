"""Serial chain of thought: one master thread that never spawns.

On a streamed input (docs/streaming.md) the master needs the whole input, so it starts when the
last piece arrives. `-S prefill_while_reading=true` sends each arrived prefix of its prompt to the
engine meanwhile (one generated token, response unused), so a prefix cache holds the input read
so far and the final call prefills only what came last.
"""

from typing import ClassVar

from mplm_bench.config import ConfigError
from mplm_bench.registry import strategies
from mplm_bench.runtime.protocol import MASTER_ID
from mplm_bench.runtime.world import Seed
from mplm_bench.strategies.base import Strategy, StrategyOptions
from mplm_bench.tasks.base import SampleSetup, Task

PREFILL_ID = "prefill"  # prefill request k is thread `prefill.k`


class COTOptions(StrategyOptions):
    """`-S prefill_while_reading=true`: with --input-rate, warm the prefix cache as pieces arrive."""

    prefill_while_reading: bool = False


@strategies.register("cot", options=COTOptions, protocol="serial", generic=True)
class COTStrategy(Strategy):
    """One thread, the serial protocol: the task's CoT prompt, one response."""

    options: COTOptions
    streams_input: ClassVar[bool] = True

    def check_stream(self, task: Task) -> None:
        if self.options.prefill_while_reading and self.input_stream is None:
            raise ConfigError("strategy option prefill_while_reading: needs a streamed input "
                              "(--input-rate or --input-schedule)")
        super().check_stream(task)

    def side_seeds(self, setup: SampleSetup, arrivals: list[float]) -> list[tuple[Seed, float]]:
        """One prefill request per piece before the last, released when that piece arrives."""
        if not self.options.prefill_while_reading or not setup.piece_ends:
            return []
        prompt = (setup.prompt,) if isinstance(setup.prompt, str) else setup.prompt
        return [(Seed(f"{PREFILL_ID}.{k + 1}", tuple(prompt[:end]), max_tokens=1, awaited=False,
                      cache_as=MASTER_ID), arrivals[k])
                for k, end in enumerate(setup.piece_ends[:-1])]
