"""Multiverse (arXiv 2506.09991): Goal/Outline/Path blocks under the rules of the authors' engine.

The controller is Multiverse-Engine's, rule by rule (strategies/adaptive/multiverse_engine.py,
docs/parallel.md). That engine stitches the paths' KV into the trunk without a second prefill; a
stock engine cannot, so here the paths' text is prefilled again in the trunk's next prompt,
recorded per sample as `join=re-prefilled`.
"""

from __future__ import annotations

from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.adaptive.multiverse_engine import MAX_DEPTH, MultiverseEngineDialect
from mplm_bench.strategies.adaptive.strategy import AdaptiveOptions, AdaptiveStrategy
from mplm_bench.strategies.base import RunContext


class MultiverseOptions(AdaptiveOptions):
    # the deepest thread that may fork (trunk 0): the engine's `len(parent_start_path_idx_stack) > 5`
    max_depth: int = Field(MAX_DEPTH, ge=0)
    # not upstream (the engine has no cap): forks per sample; past it a </Goal> is decoded on as text
    max_iterations: int | None = Field(None, ge=1)
    # not upstream (a path's budget is what is left of the sample's): a path step's own cap
    max_path_tokens: int | None = Field(None, ge=1)


@strategies.register("multiverse", options=MultiverseOptions, protocol="multiverse")
class MultiverseStrategy(AdaptiveStrategy):
    options: MultiverseOptions
    branch_close = "</Path>"
    trunk_stops = ("</Goal>",)  # the outlines' close; every request also stops at </Path>
    no_outlines_ends = True  # the engine cannot go on from a </Goal> without outlines
    cut_note = "the paths were joined and the trunk decoded on"

    def dialect(self, caps_depth: int | None = None) -> MultiverseEngineDialect:
        o = self.options
        return MultiverseEngineDialect(o.max_depth, caps_depth, o.max_path_tokens, o.max_iterations)

    def run_dialect(self, ctx: RunContext) -> MultiverseEngineDialect:
        return self.dialect(ctx.caps.max_depth)
