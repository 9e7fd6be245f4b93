"""A strategy runs one sample: it builds the threads, picks the scheduler and scores the answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from mplm_bench.config import ConfigError
from mplm_bench.runtime.accounting import CallRecord, SampleMetrics, Status
from mplm_bench.runtime.backend import Backend, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.input_stream import InputStream, ScheduleMismatch, StreamedSample
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.runtime.protocol import SchedulerKind
from mplm_bench.runtime.scheduler import LatencyModel, Scheduler
from mplm_bench.runtime.world import Seed, World
from mplm_bench.tasks.base import Instance, SampleSetup, Score, SetupContext, Task, TaskError


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
    # generic strategies run on any task that states its problem as text and scores an answer
    # (cot, sc, pacore over `serial`; the adaptive ones over their own dialects); the others are
    # task protocols: trace programs only their task's policies write (fj, mplm)
    generic: ClassVar[bool] = False
    # the kinds of prompt it sends (runtime/prompt_kinds.py): a scripted run needs a task whose
    # reference policy answers every one of them (strategies/contract.py)
    sends: ClassVar[frozenset[PromptKind]] = frozenset({PromptKind.PROBLEM})
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    # raise it when what it measures changes for the same options: a new run id (option_defaults.py)
    version: ClassVar[int] = 0
    # options only some tasks' protocols read (`Task.strategy_options`); set elsewhere, an error
    task_specific: ClassVar[frozenset[str]] = frozenset()
    # its threads can start on a streamed input's pieces as they arrive (docs/streaming.md)
    streams_input: ClassVar[bool] = False
    # its controller decides on the stop string that ended a step: a server that cannot say
    # which matched is refused before any sample (backends/stop_probe.py)
    uses_stop_strings: ClassVar[bool] = False

    def __init__(self, options: StrategyOptions | None = None, input_stream: InputStream | None = None) -> None:
        self.options = options or self.Options()
        self.input_stream = input_stream  # --input-rate / --input-schedule; None: all there at once

    def trajectories(self) -> int:
        """How many trajectories (each a thread held in memory) one sample may run: an ensemble's
        width, checked against `Caps.max_threads` before anything runs (`-S k=10^9`)."""
        return 1

    def check(self, task: Task) -> None:
        """Reject, before anything runs, a task-specific option that this task does not read."""
        unused = (self.task_specific & self.options.model_fields_set) - task.strategy_options(self.protocol)
        for name in sorted(unused):
            raise ConfigError(f"strategy option {name}: task {task.name!r} has no use for it "
                              f"under the {self.protocol!r} protocol")

    def check_stream(self, task: Task) -> None:
        """Reject a streamed input this strategy or task cannot take, before anything runs."""
        if self.input_stream is None:
            return
        if not self.streams_input:
            raise ConfigError(f"strategy {self.name!r} does not take a streamed input (--input-rate); "
                              "cot, fj and mplm do")
        if not task.streams_input:
            raise ConfigError(f"task {task.name!r} has no input that arrives in pieces (--input-rate): "
                              "see docs/streaming.md")

    def scheduler_kind(self, task: Task) -> SchedulerKind:
        chosen = self.options.scheduler
        if chosen == "auto" and self.input_stream is not None:
            # a thread starts when its piece arrives, not at the next round's barrier
            return "async"
        return task.scheduler(self.protocol) if chosen == "auto" else chosen

    def sampling(self, task: Task, instance: Instance, ctx: RunContext) -> Sampling:
        """The run's sampling, with the task's per-instance max_tokens when the user set none."""
        if ctx.sampling.max_tokens is not None:
            return ctx.sampling
        return replace(ctx.sampling, max_tokens=task.max_tokens(instance, self.protocol))

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        sampling = self.sampling(task, instance, ctx)
        setup = task.setup(instance, self.protocol, SetupContext(
            self.options, context_window(ctx.backend), sampling.max_tokens, streamed=self.input_stream is not None))
        feed = self.streamed(setup)
        world = World(key, setup.prompt, ctx.caps, sampling, log_prompts=ctx.log_prompts, dialect=setup.dialect,
                      seeds=(*_seeds(setup, ctx), *(feed.side_seeds if feed is not None else ())))
        if feed is not None:
            feed.hold(world)
        scheduler = await self._run(world, task, setup, ctx)
        score = task.score(instance, world.metrics.answer)
        columns = {**setup.columns, **(feed.columns(world, scheduler) if feed is not None else {})}
        if columns:
            score = score.model_copy(update={"extra": {**columns, **score.extra}})
        return SampleResult(world, score)

    async def _run(self, world: World, task: Task, setup: SampleSetup, ctx: RunContext) -> Scheduler | None:
        """Run the sample's World; None (no scheduler) when its setup already ended it."""
        if setup.truncated is not None:
            world.finish(Status.TRUNCATED, setup.truncated)
            return None
        scheduler = Scheduler(ctx.backend, ctx.latency)
        await scheduler.run(world, self.scheduler_kind(task))
        if setup.cut is not None and world.metrics.status is Status.OK:
            world.metrics.status, world.metrics.detail = Status.TRUNCATED, setup.cut
        return scheduler

    def streamed(self, setup: SampleSetup) -> StreamedSample | None:
        """The sample's streamed input (--input-rate / --input-schedule); None: all there at once."""
        if self.input_stream is None:
            return None
        try:
            return StreamedSample.start(self.input_stream, setup.pieces, setup.piece_of,
                                        lambda arrivals: self.side_seeds(setup, arrivals))
        except ScheduleMismatch as e:
            raise TaskError(str(e)) from None

    def side_seeds(self, setup: SampleSetup, arrivals: list[float]) -> list[tuple[Seed, float]]:
        """Threads the master does not wait on, each with its release time (CoT's prefill
        requests); none by default."""
        return []


def _seeds(setup: SampleSetup, ctx: RunContext) -> tuple[Seed, ...]:
    """The task's seed threads; the user's -M max_tokens wins over a seed's own."""
    if ctx.sampling.max_tokens is None:
        return setup.seeds
    return tuple(replace(s, max_tokens=None) for s in setup.seeds)


def context_window(backend: Backend) -> int | None:
    """The backend's context window in tokens, as its `describe()` reports it (engines report
    theirs; the scripted backend has one only with `-M max_model_len`); None when it has none."""
    value = backend.describe().get("max_model_len")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
