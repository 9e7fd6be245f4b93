"""Multiverse (arXiv 2506.09991): Goal/Outline/Path blocks, run with a re-prefilled join.

Multiverse's own engine merges the paths' KV without a second prefill; a stock engine cannot, so
the join here is ThreadWeaver-style (the paths' text is prefilled again as part of the trunk's
next prompt), recorded per sample as `join=re-prefilled` (strategies/adaptive/outline.py).
"""

from __future__ import annotations

from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.adaptive.outline import MAX_ITERATIONS, MULTIVERSE, OutlineDialect
from mplm_bench.strategies.adaptive.strategy import AdaptiveOptions, AdaptiveStrategy


class MultiverseOptions(AdaptiveOptions):
    max_iterations: int = Field(MAX_ITERATIONS, ge=1)
    max_path_tokens: int | None = Field(None, ge=1)


@strategies.register("multiverse", options=MultiverseOptions, protocol="multiverse")
class MultiverseStrategy(AdaptiveStrategy):
    options: MultiverseOptions
    branch_close = "</Path>"
    trunk_stops = ("</Goal>",)

    def dialect(self) -> OutlineDialect:
        return OutlineDialect(MULTIVERSE, self.options.max_iterations, self.options.max_path_tokens)
