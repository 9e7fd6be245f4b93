"""Independent trajectories over the one runtime, and how several of them become one sample.

PaCoRe, self-consistency and DeepConf run rounds of one-thread Worlds, one per prompt (a round's
prompts may all be the same, or each its own: a verifier per candidate). Each trajectory is an
ordinary World on the task's `serial` protocol, run by the ordinary Scheduler; a round's Worlds are
awaited together, so with an engine backend every sample's trajectories sit in one batch. What is
new here is only bookkeeping: distinct ids, a round barrier, and merging the Worlds' records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mplm_bench.runtime.accounting import CallRecord, SampleMetrics
from mplm_bench.runtime.backend import Completion, Sampling
from mplm_bench.runtime.latency import LatencyModel
from mplm_bench.runtime.protocol import MASTER_ID
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World
from mplm_bench.strategies.base import Ensemble, RunContext, StrategyOptions

if TYPE_CHECKING:
    from mplm_bench.strategies.base import Strategy
    from mplm_bench.tasks.base import Instance, Task

# docs/protocols.md §5 (and stepfun-ai/PaCoRe's defaults): trajectories are sampled at temperature 1.0.
DEFAULT_TEMPERATURE = 1.0


class EnsembleOptions(StrategyOptions):
    """Options shared by the multi-trajectory strategies."""

    # None: the run's `-M temperature` when it is above 0, else 1.0. K greedy trajectories would
    # be K copies of one answer, so the harness-wide greedy default is not a useful default here;
    # an explicit `-S temperature=0` still gets greedy trajectories.
    temperature: float | None = None


def trajectory_sampling(strategy: Strategy, task: Task, instance: Instance, ctx: RunContext) -> Sampling:
    base = strategy.sampling(task, instance, ctx)
    chosen = getattr(strategy.options, "temperature", None)
    if chosen is None:
        chosen = base.temperature if base.temperature > 0 else DEFAULT_TEMPERATURE
    return replace(base, temperature=chosen)


@dataclass(slots=True)
class Trajectory:
    id: str  # `r{round}.t{index}`: unique within the sample (`Rounds`)
    round: int
    world: World
    consumed: str = ""  # ids of the trajectories whose responses its prompt carries
    prompt: str = ""  # its first prompt, whole (identical ones in a round share the prefix cache)

    def _last(self) -> CallRecord | None:
        calls = [c for c in self.world.calls if c.thread_id == MASTER_ID]
        return calls[-1] if calls else None

    @property
    def response(self) -> str:
        """The text of its final step (a CoT trajectory has exactly one)."""
        last = self._last()
        return last.response if last is not None else ""

    @property
    def finish_reason(self) -> str:
        last = self._last()
        return last.finish_reason if last is not None else ""


Prompt = str | Sequence[str]  # a prompt, or its segments


@dataclass(slots=True)
class Rounds:
    """One sample's rounds of trajectories. Each `run_round` is a new round, so trajectory
    `r{round}.t{i}` (i: its index in the round) is unique in the sample, and trajectory i of one
    round lines up with trajectory i of the next (analysis/branches.py reads them so)."""

    strategy: Strategy
    task: Task
    key: str
    ctx: RunContext
    sampling: Sampling
    rounds: list[list[Trajectory]] = field(default_factory=list)
    started: int = 0  # trajectories started in the sample so far

    async def run_round(self, prompts: Sequence[Prompt], consumed: str | Sequence[str] = "") -> list[Trajectory]:
        """One trajectory per prompt, run concurrently; returns when all have ended. `consumed`:
        the ids of the trajectories whose responses the prompts carry (one string for all, or
        one per prompt).

        Each World gets the key `{sample key}/r{round}.t{i}`, so request ids stay unique and the
        noisy scripted backend draws independent errors per trajectory. With a `-M seed`, the
        sample's j-th trajectory samples with seed + j: equal seeds would make them identical.
        """
        if not isinstance(consumed, str) and len(consumed) != len(prompts):
            raise ValueError(f"{len(consumed)} consumed lists for {len(prompts)} prompts")
        round_no, seed = len(self.rounds) + 1, self.sampling.seed
        dialect = self.task.dialect(self.strategy.protocol)
        trajs = []
        for i, prompt in enumerate(prompts):
            tid = f"r{round_no}.t{i}"
            s = self.sampling if seed is None else replace(self.sampling, seed=seed + self.started + i)
            world = World(f"{self.key}/{tid}", prompt, self.ctx.caps, s, log_prompts=self.ctx.log_prompts,
                          dialect=dialect)
            trajs.append(Trajectory(tid, round_no, world, consumed if isinstance(consumed, str) else consumed[i],
                                    prompt if isinstance(prompt, str) else "".join(prompt)))
        self.rounds.append(trajs)
        self.started += len(trajs)
        kind = self.strategy.scheduler_kind(self.task)
        await asyncio.gather(*(Scheduler(self.ctx.backend, self.ctx.latency).run(t.world, kind) for t in trajs))
        return trajs


def _relabel(traj: Trajectory, thread_id: str | None) -> str | None:
    """The trajectory's master becomes its id; a thread it spawned (a model may write spawn tags
    even on a CoT prompt) becomes `{id}:{thread}`."""
    if thread_id is None:
        return None
    return traj.id if thread_id == MASTER_ID else f"{traj.id}:{thread_id}"


def round_time(trajs: list[Trajectory], latency: LatencyModel | None) -> float:
    """How long a round takes: its slowest trajectory, each timed alone; or, with an engine's
    costs (`-M latency_profile`), the round's one-step trajectories on one batch clock, since
    they run on the engine together. A prompt sent earlier in the round comes from the prefix
    cache (the clock prefills one prompt after another)."""
    alone = max(t.world.metrics.virtual_time for t in trajs)
    clock = latency.clock() if latency is not None else None
    if clock is None or any(len(t.world.calls) != 1 for t in trajs):
        return alone  # a trajectory that spawned threads keeps its own clock
    seen: set[str] = set()
    for t in trajs:  # a prompt sent earlier in the round is served whole by the prefix cache
        c, prompt = t.world.calls[0], t.prompt
        cached = c.prompt_tokens if prompt in seen else c.cached_prompt_tokens
        seen.add(prompt)
        clock.add(t.id, 0.0, Completion("", c.prompt_tokens, c.completion_tokens, "stop", cached))
    return max(clock.run().values())


def merge(key: str, rounds: list[list[Trajectory]], root: str | None,
          latency: LatencyModel | None = None) -> Ensemble:
    """One sample's record from its rounds of trajectories.

    Calls are renumbered in round order and relabelled: thread id = trajectory id, `round` = the
    strategy's round, parent = `root` (the final synthesizer; None for a vote). Virtual time and
    critical-path time are offset by the earlier rounds, because a round starts only when the
    slowest trajectory of the previous one has ended (the barrier): the sample's critical path and
    virtual time are sums over rounds of the round's maximum (`round_time`).
    """
    calls: list[CallRecord] = []
    m = SampleMetrics()
    v0 = cp0 = 0.0
    for trajs in rounds:
        for t in trajs:
            for c in t.world.calls:
                parent = root if c.thread_id == MASTER_ID and t.id != root else _relabel(t, c.parent_id)
                first = c.thread_id == MASTER_ID and c.step == 0
                rec = replace(
                    c, call=len(calls), thread_id=_relabel(t, c.thread_id) or t.id, parent_id=parent,
                    round=t.round, start_v=c.start_v + v0, end_v=c.end_v + v0,
                    cp_start=c.cp_start + cp0, cp_end=c.cp_end + cp0,
                    consumed_from=t.consumed if first else ",".join(
                        x for x in (_relabel(t, s) for s in c.consumed_from.split(",") if s) if x),
                )
                calls.append(rec)
                m.add_call(rec)
            wm = t.world.metrics
            m.n_threads += wm.n_threads
            m.n_messages += wm.n_messages
            m.n_dropped_messages += wm.n_dropped_messages
            m.n_preempted += wm.n_preempted
            m.n_protocol_errors += wm.n_protocol_errors
            m.max_depth = max(m.max_depth, wm.max_depth + (root is not None and t.id != root))
        v0 += round_time(trajs, latency)
        cp0 += max(t.world.metrics.critical_path_tokens for t in trajs)
    m.virtual_time, m.critical_path_tokens = v0, cp0
    m.rounds = len(rounds)
    return Ensemble(key, calls, m)


def round_stats(rounds: list[list[Trajectory]]) -> dict[str, list[int]]:
    """Per round: the input tokens each trajectory got (one prompt per round), the largest context
    (prompt + completion) of any of its calls, and the tokens it generated in all — what a
    "bounded context" plot needs."""
    inputs, contexts, gen = [], [], []
    for trajs in rounds:
        cs = [c for t in trajs for c in t.world.calls]
        inputs.append(max((c.prompt_tokens for c in cs), default=0))
        contexts.append(max((c.prompt_tokens + c.completion_tokens for c in cs), default=0))
        gen.append(sum(c.completion_tokens for c in cs))
    return {"round_input_tokens": inputs, "round_max_context": contexts, "round_gen_tokens": gen}
