"""Run scripted samples through the code `run` uses and collect every step as a training example.

The samples go through `runner.plan`, `runner.build_backend` and the strategy's `run_sample` with
`log_prompts` on, exactly as `mplm-bench run -b scripted --log-prompts` runs them (same sample
keys too), so every exported prompt is, by construction, the prompt the runtime sends at that step
and every response is the reference policy's answer to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.export.options import ExportOptions, strategy_for, training_seed
from mplm_bench.instances import Instances
from mplm_bench.plan import Plan, build_backend, plan
from mplm_bench.runtime.accounting import CallRecord, Status
from mplm_bench.runtime.backend import ASSISTANT_MARK, Backend, BackendError
from mplm_bench.runtime.protocol import MASTER_ID, SYSTEM_PROMPT
from mplm_bench.runtime.synthesis import is_synthesis
from mplm_bench.runtime.world import World
from mplm_bench.strategies.adaptive.strategy import AdaptiveStrategy
from mplm_bench.strategies.base import RunContext
from mplm_bench.tasks.base import Instance, no_policy_message


@dataclass(slots=True)
class Step:
    """One step of one thread: the chat the runtime sent and the reference response."""

    call: int  # index of the call within its sample, as in the run's calls table
    thread_id: str
    role: str  # master (the root thread) or worker (any thread it spawned, at any depth)
    step: int
    depth: int
    round: int
    system: str | None
    prompt: str
    response: str
    prompt_tokens: int  # the rendered chat, template and generation prompt included
    completion_tokens: int
    assistant_prefix: str = ""  # a continuation call's assistant text before its response
    ends_turn: bool = True  # False: it stopped on a tag (a thread's close, the outlines' end)


@dataclass(slots=True)
class SampleSteps:
    instance: Instance
    status: str
    correct: bool
    steps: list[Step] = field(default_factory=list)
    unfinished: int = 0  # calls left out: preempted, aborted or cut (no complete response)


def _depths(calls: list[CallRecord]) -> dict[str, int]:
    """Each thread's distance from the root along parent links (the root has none)."""
    parent = {c.thread_id: c.parent_id for c in calls}

    def depth(tid: str) -> int:
        d, seen = 0, {tid}
        while (up := parent.get(tid)) is not None and up not in seen:
            seen.add(up)
            d, tid = d + 1, up
        return d

    return {tid: depth(tid) for tid in parent}


class TraceSource:
    """One protocol's scripted samples for an export: a validated run plan and its backend."""

    def __init__(self, protocol: str, opts: ExportOptions) -> None:
        self.protocol = protocol
        self.cfg = RunConfig(
            task=opts.task, task_options=opts.task_options, strategy=strategy_for(protocol),
            strategy_options=opts.strategy_options, backend="scripted",
            backend_options=opts.backend_options, seed=training_seed(opts.seed), data=opts.data, n=opts.n,
            out=opts.out, log_prompts=True,
        )
        self.plan: Plan = plan(self.cfg)
        runtime_protocol = self.plan.strategy.protocol
        try:
            found = self.plan.task.policy(runtime_protocol)
        except Exception as e:  # a task may list a protocol it has no reference policy for
            raise ConfigError(f"task {opts.task!r} has no scripted policy for protocol "
                              f"{runtime_protocol!r}: {e}") from None
        if found is None:  # plan() refuses this already for the scripted backend; kept explicit
            raise ConfigError(no_policy_message(opts.task, runtime_protocol))
        self.synthesis_only = protocol == "pacore"
        self.adaptive_rows = opts.adaptive_rows
        self._backend: Backend | None = None

    @property
    def config_hash(self) -> str:
        return self.cfg.config_hash()

    @property
    def instances(self) -> Instances:
        return self.plan.instances

    def backend(self) -> Backend:
        if self._backend is None:
            try:
                self._backend = build_backend(self.plan)
            except BackendError as e:
                raise ConfigError(str(e)) from None
        return self._backend

    def describe(self) -> dict[str, Any]:
        p = self.plan
        return {
            "protocol": self.protocol,
            "strategy": self.cfg.strategy,
            "runtime_protocol": p.strategy.protocol,
            "scheduler": p.strategy.scheduler_kind(p.task),
            "config_hash": self.config_hash,
            "run_id": self.cfg.run_id(),
            "identity": self.cfg.identity(),
            "task_options": p.task.options.model_dump(mode="json"),
            "strategy_options": p.strategy.options.model_dump(mode="json"),
            "caps": p.caps.to_dict(),
            "backend": self.backend().describe(),
        }

    async def sample(self, instance: Instance) -> SampleSteps:
        p = self.plan
        ctx = RunContext(self.backend(), p.caps, p.sampling, p.latency, log_prompts=True)
        key = f"{self.config_hash}/{instance.id}/0"  # the key `run` gives repeat 0
        result = await p.strategy.run_sample(p.task, instance, key, ctx)
        calls = result.world.calls
        out = SampleSteps(instance, str(result.world.metrics.status), bool(result.score.correct))
        if result.world.metrics.status is not Status.OK:
            return out
        depths = _depths(calls)
        system = getattr(result.world, "system", SYSTEM_PROMPT)  # an Ensemble's Worlds use the default
        if isinstance(p.strategy, AdaptiveStrategy) and self.adaptive_rows == "calls":
            out.steps.extend(self._call_steps(calls, depths, system))
            return out
        if isinstance(p.strategy, AdaptiveStrategy):
            assert isinstance(result.world, World)  # one trajectory, not an Ensemble
            # these systems train on the whole trace as one assistant turn (docs/parallel.md):
            # one example per sample; its completion tokens are the generated ones (not the headers)
            out.steps.append(Step(
                call=0, thread_id=calls[0].thread_id, role="master", step=0, depth=0, round=1, system=system,
                # the user message the sample really opened with: the dialect's prompt profile
                prompt="".join(result.world.threads[MASTER_ID].segments),
                response=result.world.metrics.answer or "",
                prompt_tokens=calls[0].prompt_tokens, completion_tokens=sum(c.completion_tokens for c in calls),
            ))
            return out
        for c in calls:
            if c.status != "ok" or c.finish_reason != "stop" or c.prompt is None:
                out.unfinished += 1
                continue
            if self.synthesis_only and not is_synthesis(c.prompt):
                continue
            depth = depths.get(c.thread_id, 0)
            out.steps.append(Step(
                call=c.call, thread_id=c.thread_id, role="master" if depth == 0 else "worker", step=c.step,
                depth=depth, round=c.round, system=system, prompt=c.prompt,
                response=c.response, prompt_tokens=c.prompt_tokens,
                completion_tokens=c.completion_tokens,
            ))
        return out

    @staticmethod
    def _call_steps(calls: list[CallRecord], depths: dict[str, int], system: str | None) -> list[Step]:
        """One step per call of a continuation dialect, in the context the engine gave it: the user
        message, then the assistant text so far (the logged prompt after ASSISTANT_MARK)."""
        steps = []
        for c in calls:
            if c.status != "ok" or c.finish_reason != "stop" or c.prompt is None:
                continue
            user, _, prefix = c.prompt.partition(ASSISTANT_MARK)
            depth = depths.get(c.thread_id, 0)
            steps.append(Step(
                call=c.call, thread_id=c.thread_id, role="master" if depth == 0 else "worker", step=c.step,
                depth=depth, round=c.round, system=system, prompt=user, response=c.response,
                prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
                assistant_prefix=prefix, ends_turn=not c.stop_reason,
            ))
        return steps

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
