"""DeepConf (Fu et al., "Deep Think with Confidence", arXiv 2508.15260; facebookresearch/deepconf):
self-consistency that reads the model's own token confidence to drop weak traces.

- `-S mode=offline` (`deepconf-offline.py` + `analysis_offline.py`): `total_budget` traces; among
  those with an answer, a trace confidence (`confidence_type`: lowest group, bottom-10% group,
  tail or mean) picks the top `top_percent` (`filter_top_confidence`: kept when at least the
  (1 - top_percent) percentile), and their answers are voted with the confidences as weights.
- `-S mode=online` (`deepconf-online.py`): `warmup_traces` traces run to the end; the threshold is
  the `confidence_percentile` percentile of their lowest group confidences (90: DeepConf-low, keeps
  about the top 10%; 10: DeepConf-high). The other traces run with the stop rule: each is aborted
  when a window of `window_size` tokens has a mean confidence below the threshold
  (strategies/deepconf_watch.py), and does not vote. Warm-up traces at or above the threshold and
  the traces that ran to their end vote, weighted by their lowest group confidence. After each
  wave of `wave_size` traces, the budget stops early when the winner holds at least
  `consensus_threshold` of the vote weight (the paper's adaptive sampling, §3.2; the upstream
  scripts launch the whole budget at once and have no consensus stop).

Generic like `sc`: every task that states its problem as text and scores an answer; answers are
compared as the task normalises them (`Score.parsed`). Definitions and columns: docs/deepconf.md.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field, model_validator

from mplm_bench.registry import strategies
from mplm_bench.runtime.confidence import (
    ConfidenceType,
    consensus,
    lowest_group_confidence,
    percentile,
    trace_confidence,
    weighted_vote,
)
from mplm_bench.strategies.base import RunContext, SampleResult, Strategy
from mplm_bench.strategies.deepconf_watch import ConfidenceWatch, Watched
from mplm_bench.strategies.trajectories import (
    EnsembleOptions,
    Rounds,
    Trajectory,
    merge,
    trajectory_sampling,
)
from mplm_bench.tasks.base import Instance, Score, Task


class DeepConfOptions(EnsembleOptions):
    """`-S` options, named as upstream names them (docs/deepconf.md says where each comes from)."""

    mode: Literal["offline", "online"] = "online"
    total_budget: int = Field(16, ge=1)  # traces at most (upstream 256 online, 512 offline)
    window_size: int = Field(128, ge=1)  # group confidence window (upstream 2048, for 10k+ token traces)
    logprobs: int = Field(20, ge=1, le=20)  # top-k log-probabilities per token (upstream 20)
    # online
    warmup_traces: int = Field(4, ge=1)  # upstream 16 of 256
    confidence_percentile: float = Field(90.0, ge=0.0, le=100.0)  # 90: DeepConf-low, 10: DeepConf-high
    consensus_threshold: float = Field(0.95, gt=0.0, le=1.0)  # τ; 1.0: stop only on unanimity
    wave_size: int | None = Field(None, ge=1)  # traces between consensus checks; None: warmup_traces
    # votes the consensus needs before it may stop the budget (one vote is always unanimous)
    consensus_min_votes: int = Field(2, ge=1)
    # offline
    confidence_type: ConfidenceType = "bottom_window"
    top_percent: float = Field(0.1, gt=0.0, le=1.0)  # η: the share of answered traces kept
    bottom_percent: float = Field(0.1, gt=0.0, le=1.0)  # of the groups, for bottom_window
    tail_tokens: int | None = Field(None, ge=1)  # for tail; None: window_size (upstream 2048)
    threshold: float | None = None  # online: a fixed threshold instead of the warm-up's (sweeps)

    @model_validator(mode="after")
    def _budget(self) -> DeepConfOptions:
        if self.mode == "online" and self.threshold is None and self.warmup_traces > self.total_budget:
            raise ValueError(f"warmup_traces ({self.warmup_traces}) exceeds total_budget ({self.total_budget})")
        return self


@dataclass(slots=True)
class Trace:
    traj: Trajectory
    score: Score
    confs: tuple[float, ...]
    watched: Watched | None
    warmup: bool = False

    @property
    def stopped(self) -> bool:
        """The window rule fired: the trace does not vote (upstream: `gconf_threshold`)."""
        return self.watched is not None and self.watched.stopped_at is not None

    @property
    def aborted(self) -> bool:
        """It fired while the trace ran, and the trace was cut (not ended before the abort landed)."""
        return self.stopped and self.watched is not None and self.watched.aborted

    @property
    def tokens(self) -> int:
        return sum(c.completion_tokens for c in self.traj.world.calls)


@strategies.register("deepconf", options=DeepConfOptions, protocol="serial", generic=True)
class DeepConfStrategy(Strategy):
    options: DeepConfOptions

    def trajectories(self) -> int:
        return self.options.total_budget

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        started = time.perf_counter()
        o = self.options
        sampling = replace(trajectory_sampling(self, task, instance, ctx), logprobs=o.logprobs)
        watch = ConfidenceWatch(ctx.backend, o.window_size)
        wctx = replace(ctx, backend=watch)
        prompt = task.prompt(instance, self.protocol)
        runner = Rounds(self, task, key, wctx, sampling)  # each wave is a round
        rounds = runner.rounds
        traces: list[Trace] = []

        async def wave(width: int, warmup: bool) -> list[Trace]:
            trajs = await runner.run_round([prompt] * width)
            new = [self._trace(t, task, instance, watch, warmup) for t in trajs]
            traces.extend(new)
            return new

        if o.mode == "offline":
            await wave(o.total_budget, warmup=False)
            answered = [t for t in traces if t.score.parsed is not None]
            confs = [trace_confidence(t.confs, o.confidence_type, o.window_size, o.tail_tokens, o.bottom_percent)
                     for t in answered]
            threshold = percentile(confs, (1 - o.top_percent) * 100) if confs else None
            voters = [(t, c) for t, c in zip(answered, confs, strict=True) if threshold is not None and c >= threshold]
            reached = None
        else:
            voters, threshold, reached = await self._online(wave, traces, watch)
        winner, totals = weighted_vote([t.score.parsed for t, _ in voters], [c for _, c in voters])
        return self._result(task, instance, key, ctx, rounds, traces, voters, winner, totals, threshold,
                            reached, sampling.temperature, started)

    async def _online(self, wave, traces: list[Trace], watch: ConfidenceWatch):
        o = self.options
        voters: list[tuple[Trace, float]] = []
        threshold = o.threshold
        if threshold is None:  # the warm-up sets it
            warm = await wave(o.warmup_traces, warmup=True)
            mins = [lowest_group_confidence(t.confs, o.window_size) for t in warm]
            threshold = percentile(mins, o.confidence_percentile)
            # upstream: a warm-up trace votes when its min_conf >= conf_bar and it has an answer
            voters = [(t, m) for t, m in zip(warm, mins, strict=True) if m >= threshold and t.score.parsed is not None]
        watch.threshold = threshold
        step = o.wave_size or o.warmup_traces
        reached = False
        while len(traces) < o.total_budget and not reached:
            for t in await wave(min(step, o.total_budget - len(traces)), warmup=False):
                if not t.stopped and t.score.parsed is not None:
                    voters.append((t, lowest_group_confidence(t.confs, o.window_size)))
            _, totals = weighted_vote([t.score.parsed for t, _ in voters], [c for _, c in voters])
            reached = len(voters) >= o.consensus_min_votes and consensus(totals) >= o.consensus_threshold
        # a consensus stop is one that left traces of the budget unstarted
        return voters, threshold, reached and len(traces) < o.total_budget

    @staticmethod
    def _trace(traj: Trajectory, task: Task, instance: Instance, watch: ConfidenceWatch, warmup: bool) -> Trace:
        seen = [watch.seen[f"{traj.world.key}/{c.call}"] for c in traj.world.calls
                if f"{traj.world.key}/{c.call}" in watch.seen]
        confs = tuple(x for w in seen for x in w.confidences)
        stopped = next((w for w in seen if w.stopped_at is not None), None)
        return Trace(traj, task.score(instance, traj.world.metrics.answer), confs,
                     stopped or (seen[-1] if seen else None), warmup)

    def _result(self, task, instance, key, ctx, rounds, traces: list[Trace], voters, winner, totals,
                threshold, reached, temperature, started) -> SampleResult:
        o = self.options
        ens = merge(key, rounds, root=None, latency=ctx.latency)
        m = ens.metrics
        if winner is not None:
            chosen = next(t for t, _ in voters if t.score.parsed == winner).traj.world.metrics
            m.status, m.detail, m.answer = chosen.status, chosen.detail, chosen.answer
        else:
            status = Counter(str(t.traj.world.metrics.status) for t in traces).most_common(1)[0][0]
            first = next(t.traj.world.metrics for t in traces if str(t.traj.world.metrics.status) == status)
            m.status, m.answer = first.status, None
            m.detail = "no trace voted" + (f" ({first.detail})" if first.detail else "")
        m.wall_s = time.perf_counter() - started
        stopped = [t for t in traces if t.aborted]
        saved, estimated = tokens_saved(traces, o.total_budget)
        columns = {
            "traces_started": len(traces),
            "traces_stopped_early": len(stopped),
            "traces_voted": len(voters),
            "tokens_saved": saved,
            "tokens_saved_estimated": estimated,
            "conf_threshold": float(threshold) if threshold is not None else None,
            "consensus_stop": bool(reached),
            "effective_ttc_tokens": m.gen_tokens,
        }
        m.extra = {
            "mode": o.mode,
            "total_budget": o.total_budget,
            "votes": [{"answer": a, "weight": round(w, 3), "correct": any(t.score.correct for t, _ in voters
                                                                          if t.score.parsed == a)}
                      for a, w in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))],
            "consensus": round(consensus(totals), 4) if totals else 0.0,
            "pass_at_k": any(t.score.correct for t in traces),
            "temperature": temperature,
            **columns,
        }
        score = task.score(instance, m.answer)
        return SampleResult(ens, score.model_copy(update={"extra": {**columns, **score.extra}}))


def tokens_saved(traces: list[Trace], budget: int) -> tuple[int, bool]:
    """Tokens the sample did not generate against running all `budget` traces to their end:
    Σ over stopped traces of (whole length − tokens generated) + whole length × traces never
    started (a consensus stop). A stopped trace's whole length is known on a virtual-time backend
    (the scripted step was generated whole, then cut); elsewhere it, and an unstarted trace's, is
    estimated as the mean length of this sample's traces that ran to their end (0 if none did).
    Returns (tokens, whether any part was estimated)."""
    ran = [t.tokens for t in traces if not t.aborted]
    mean_len = sum(ran) / len(ran) if ran else 0.0
    saved, estimated = 0.0, False
    for t in traces:
        if not t.aborted:  # ran to its end (a rule that fired as it ended saved nothing)
            continue
        w = t.watched
        assert w is not None
        if w.full_tokens is not None:
            saved += w.full_tokens - t.tokens
        else:
            saved += max(0.0, mean_len - t.tokens)
            estimated = True
    unstarted = budget - len(traces)
    if unstarted > 0:
        saved += unstarted * mean_len
        estimated = True
    return int(round(saved)), estimated
