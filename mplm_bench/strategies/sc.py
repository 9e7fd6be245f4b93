"""Self-consistency: K independent CoT trajectories and a majority vote over their answers.

Answers are normalised by the task (`Score.parsed`: the grid as a canonical list for Sudoku, the
verdict for SAT), so two trajectories that wrote the same answer differently vote together.
Ties are broken by the smallest normalised answer string: deterministic, and independent of the
order in which trajectories finished. The sample's answer is the text of the first trajectory (in
index order) that voted for the winner; the vote distribution goes to `extra_json`.
"""

from __future__ import annotations

import time
from collections import Counter

from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import RunContext, SampleResult, Strategy
from mplm_bench.strategies.trajectories import EnsembleOptions, Rounds, merge, trajectory_sampling
from mplm_bench.tasks.base import Instance, Score, Task


class SCOptions(EnsembleOptions):
    """`-S k=16`: trajectories per sample."""

    k: int = Field(16, ge=1)


def majority(parsed: list[str | None]) -> tuple[str | None, Counter[str], bool]:
    """(winner, counts, tie): the most frequent answer, ties to the smallest string; None votes
    (no parsable answer) do not count."""
    counts = Counter(p for p in parsed if p is not None)
    if not counts:
        return None, counts, False
    best = max(counts.values())
    tied = sorted(a for a, n in counts.items() if n == best)
    return tied[0], counts, len(tied) > 1


def vote_table(counts: Counter[str], scores: list[Score]) -> list[dict]:
    """Distinct answers by votes (then by answer), each with whether it was correct."""
    right = {s.parsed for s in scores if s.correct and s.parsed is not None}
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"answer": a, "count": n, "correct": a in right} for a, n in rows]


@strategies.register("sc", options=SCOptions, protocol="serial", generic=True)
class SCStrategy(Strategy):
    options: SCOptions

    def trajectories(self) -> int:
        return self.options.k

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        started = time.perf_counter()
        sampling = trajectory_sampling(self, task, instance, ctx)
        prompt = task.prompt(instance, self.protocol)
        trajs = await Rounds(self, task, key, ctx, sampling).run_round([prompt] * self.options.k)
        scores = [task.score(instance, t.world.metrics.answer) for t in trajs]
        winner, counts, tie = majority([s.parsed for s in scores])
        ens = merge(key, [trajs], root=None, latency=ctx.latency)
        m = ens.metrics
        if winner is not None:
            chosen = trajs[next(i for i, s in enumerate(scores) if s.parsed == winner)].world.metrics
            m.status, m.detail, m.answer = chosen.status, chosen.detail, chosen.answer
        else:  # nobody answered: the most common way the trajectories ended (ties: the earliest)
            status = Counter(str(t.world.metrics.status) for t in trajs).most_common(1)[0][0]
            first = next(t.world.metrics for t in trajs if str(t.world.metrics.status) == status)
            m.status, m.answer = first.status, None
            m.detail = "no trajectory gave an answer" + (f" ({first.detail})" if first.detail else "")
        m.wall_s = time.perf_counter() - started
        m.extra = {
            "k": self.options.k,
            "votes": vote_table(counts, scores),
            "n_answered": sum(counts.values()),
            "winner_votes": counts[winner] if winner is not None else 0,
            "tie": tie,
            "pass_at_k": any(s.correct for s in scores),
            "effective_ttc_tokens": m.gen_tokens,
            "temperature": sampling.temperature,
        }
        score = task.score(instance, m.answer)  # every token of every trajectory: PaCoRe's effective TTC
        return SampleResult(ens, score.model_copy(update={"extra": {"effective_ttc_tokens": m.gen_tokens,
                                                                    **score.extra}}))
