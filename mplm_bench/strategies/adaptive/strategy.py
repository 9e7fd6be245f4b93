"""The generic adaptive strategies' shared `run_sample`: one World under the strategy's dialect.

Generic: the task only states the problem (its `serial` prompt) and scores the final trace; the
strategy's controller (a continuation dialect) decides what the model's tags mean. A task lists
the strategy's protocol in `Task.protocols` when its scripted reference policy can write traces
in that format (for `-b scripted`, replay and SFT export).
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

from mplm_bench.config import ConfigError
from mplm_bench.runtime.accounting import Status
from mplm_bench.runtime.dialect import ContinuationDialect
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.runtime.protocol import SchedulerKind
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World
from mplm_bench.strategies.adaptive.columns import adaptive_columns
from mplm_bench.strategies.adaptive.prompts import (
    HARNESS,
    PromptProfile,
    first_prompt,
    load_profile,
)
from mplm_bench.strategies.base import RunContext, SampleResult, Strategy, StrategyOptions
from mplm_bench.tasks.base import Instance, Task


class AdaptiveOptions(StrategyOptions):
    # the first prompt: `upstream` (the one the dialect's checkpoints were trained on), `harness`
    # (the harness's system message and task instruction), or a YAML file (adaptive/prompts.py)
    prompt: str = "upstream"


class AdaptiveStrategy(Strategy):
    generic: ClassVar[bool] = True
    # the first prompt is the task's problem; every later step continues the assistant turn
    sends: ClassVar[frozenset[PromptKind]] = frozenset({PromptKind.PROBLEM, PromptKind.CONTINUATION})
    branch_close: ClassVar[str]
    trunk_stops: ClassVar[tuple[str, ...]]
    uses_stop_strings: ClassVar[bool] = True
    join: ClassVar[str] = "re-prefilled"  # how children's text enters the trunk (docs/parallel.md)
    # True: a step at the outlines' close without outlines ends its thread (a protocol error), and
    # one that decodes on from it was a fork the controller refused (columns.py)
    no_outlines_ends: ClassVar[bool] = False
    cut_note: ClassVar[str] = "the block was closed"  # what a branch cut by its token limit led to

    options: AdaptiveOptions

    def dialect(self) -> ContinuationDialect:
        raise NotImplementedError

    @cached_property
    def profile(self) -> PromptProfile | None:
        return load_profile(self.options.prompt, self.protocol)

    def check(self, task: Task) -> None:
        super().check(task)
        if self.profile is not None and type(task).question is Task.question:
            raise ConfigError(f"task {task.name!r} states its problems only in its own prompt (no Task.question), "
                              f"so the {self.profile.name} prompt cannot wrap them: use -S prompt=harness")

    def run_dialect(self, ctx: RunContext) -> ContinuationDialect:
        """The sample's controller; a strategy whose controller reads the run (its caps) overrides this."""
        return self.dialect()

    def scheduler_kind(self, task: Task) -> SchedulerKind:
        # a join waits on all its branches; async lets a branch's completion be applied as it ends
        return "async" if self.options.scheduler == "auto" else self.options.scheduler

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        sampling = self.sampling(task, instance, ctx)
        question = None if self.profile is None else task.question(instance)
        system, user = first_prompt(self.profile, question, task.prompt(instance, "serial"))
        world = World(key, user, ctx.caps, sampling, system=system, log_prompts=ctx.log_prompts,
                      dialect=self.run_dialect(ctx))
        await Scheduler(ctx.backend, ctx.latency).run(world, self.scheduler_kind(task))
        score = task.score(instance, world.metrics.answer)
        m = world.metrics
        cols = adaptive_columns(world.calls, m.critical_path_tokens, self.branch_close, self.trunk_stops,
                                self.no_outlines_ends)
        cols["join"] = self.join
        cols["prompt_profile"] = HARNESS if self.profile is None else self.profile.name
        if m.status is Status.OK and cols["cut_branches"]:
            m.detail = f"{cols['cut_branches']} branch(es) cut by their token limit; {self.cut_note}"
        return SampleResult(world, score.model_copy(update={"extra": {**score.extra, **cols}}))
