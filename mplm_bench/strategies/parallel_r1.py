"""Parallel-R1 (arXiv 2509.07980): the model opens <Parallel>, the config sets how many paths.

A generic strategy; controller rules in strategies/adaptive/paths.py.
"""

from __future__ import annotations

from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.adaptive.paths import (
    MAX_BLOCKS,
    MAX_PATH_TOKENS,
    NUM_PATHS,
    PathsDialect,
)
from mplm_bench.strategies.adaptive.strategy import AdaptiveOptions, AdaptiveStrategy


class ParallelR1Options(AdaptiveOptions):
    num_paths: int = Field(NUM_PATHS, ge=1)
    max_path_response_length: int | None = Field(MAX_PATH_TOKENS, ge=1)
    max_iterations: int = Field(MAX_BLOCKS, ge=1)  # max_iterations_for_parallel_thinking
    path_temperature: float = Field(1.0, ge=0.0)


@strategies.register("parallel-r1", options=ParallelR1Options, protocol="parallel-r1")
class ParallelR1Strategy(AdaptiveStrategy):
    options: ParallelR1Options
    branch_close = "</Path>"
    trunk_stops = ("<Parallel>",)

    def dialect(self) -> PathsDialect:
        o = self.options
        return PathsDialect(o.num_paths, o.max_path_response_length, o.max_iterations, o.path_temperature)
