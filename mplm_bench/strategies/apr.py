"""Adaptive parallel reasoning (APR): a root search hands sub searches to children that see only
their message and return only their result (tasks/countdown, docs/countdown.md)."""


from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.apr_columns import apr_columns
from mplm_bench.strategies.base import RunContext, SampleResult, Strategy, StrategyOptions
from mplm_bench.tasks.base import Instance, Task


class APROptions(StrategyOptions):
    """`-S sub_calls=N`: the root prompt opens with `Sub Call Budget: N ` (APR's conditioning on
    the number of children; the reference spawns at most N per round). `-S child_budget=B`: every
    child prompt opens with `Token Budget: B ` (the controller's child budget prefix)."""

    sub_calls: int | None = Field(None, ge=1, le=256)
    child_budget: int | None = Field(None, ge=1, le=1_000_000)


@strategies.register("apr", options=APROptions, protocol="apr",
                     task_specific=frozenset({"sub_calls", "child_budget"}))
class APRStrategy(Strategy):
    """APR: a root that hands sub-searches to message-only children (docs/countdown.md)."""

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        result = await super().run_sample(task, instance, key, ctx)
        score = result.score  # APR's own token counts as sample columns (strategies/apr_columns.py)
        extra = {**apr_columns(result.world.calls), **score.extra}
        return SampleResult(result.world, score.model_copy(update={"extra": extra}))
