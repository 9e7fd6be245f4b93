"""A strategy runs one sample: it builds the threads, picks the scheduler and scores the answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from mplm_bench.backends.base import Backend, Sampling
from mplm_bench.runtime.accounting import CallRecord, SampleMetrics
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel, Scheduler
from mplm_bench.runtime.world import World
from mplm_bench.tasks.base import Instance, Score, Task


class StrategyOptions(BaseModel):
    """`-S key=value` options shared by the message-passing strategies."""

    model_config = ConfigDict(extra="forbid")

    scheduler: Literal["auto", "sync", "async"] = "auto"  # auto: what the task's protocol uses


@dataclass(slots=True)
class Ensemble:
    """Several Worlds recorded as one sample (PaCoRe, self-consistency): every trajectory's calls,
    relabelled with distinct thread ids, and metrics aggregated over them. Results rows need only
    `calls` and `metrics`, which a World has too."""

    key: str
    calls: list[CallRecord]
    metrics: SampleMetrics


@dataclass(slots=True)
class SampleResult:
    world: World | Ensemble
    score: Score


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every sample of a run shares."""

    backend: Backend
    caps: Caps
    sampling: Sampling
    latency: LatencyModel
    log_prompts: bool = False


class Strategy:
    name: ClassVar[str]
    protocol: ClassVar[str]  # the task protocol its threads follow
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions

    def __init__(self, options: StrategyOptions | None = None) -> None:
        self.options = options or self.Options()

    def scheduler_kind(self, task: Task) -> Literal["sync", "async"]:
        chosen = self.options.scheduler
        return task.scheduler(self.protocol) if chosen == "auto" else chosen

    def sampling(self, task: Task, instance: Instance, ctx: RunContext) -> Sampling:
        """The run's sampling, with the task's per-instance max_tokens when the user set none."""
        if ctx.sampling.max_tokens is not None:
            return ctx.sampling
        return replace(ctx.sampling, max_tokens=task.max_tokens(instance, self.protocol))

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        world = World(
            key,
            task.prompt(instance, self.protocol),
            ctx.caps,
            self.sampling(task, instance, ctx),
            log_prompts=ctx.log_prompts,
        )
        await Scheduler(ctx.backend, ctx.latency).run(world, self.scheduler_kind(task))
        return SampleResult(world, task.score(instance, world.metrics.answer))
