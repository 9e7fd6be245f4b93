"""ThreadWeaver (arXiv 2512.07843): outlines, then one thread per outline, joined into the trunk.

A generic strategy: its controller (strategies/adaptive/outline.py) runs on any task whose
prompt states a problem and whose answer is scored from the final trace.
"""

from __future__ import annotations

from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.adaptive.outline import (
    MAX_ITERATIONS,
    THREADWEAVER,
    THREADWEAVER_CONCLUSION,
    OutlineDialect,
)
from mplm_bench.strategies.adaptive.strategy import AdaptiveOptions, AdaptiveStrategy


class ThreadWeaverOptions(AdaptiveOptions):
    no_conclusion: bool = True  # every published run; False joins with ⏎<Conclusion>⏎
    max_iterations: int = Field(MAX_ITERATIONS, ge=1)  # controller iterations (trunk steps + blocks)
    max_thread_tokens: int | None = Field(None, ge=1)  # None: the run's per-step max_tokens


@strategies.register("threadweaver", options=ThreadWeaverOptions, protocol="threadweaver")
class ThreadWeaverStrategy(AdaptiveStrategy):
    options: ThreadWeaverOptions
    branch_close = "</Thread>"
    trunk_stops = ("</Outlines>",)

    def dialect(self) -> OutlineDialect:
        o = self.options
        return OutlineDialect(THREADWEAVER if o.no_conclusion else THREADWEAVER_CONCLUSION,
                              o.max_iterations, o.max_thread_tokens)
