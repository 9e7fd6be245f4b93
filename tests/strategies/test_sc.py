"""Self-consistency: the vote, its tie rule, the record of a run, and trajectory sampling."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sudoku_puzzle import PUZZLE, SOLUTION
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.registry import strategies, tasks
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.strategies.base import RunContext
from mplm_bench.strategies.sc import SCOptions, majority, vote_table
from mplm_bench.tasks.base import Instance, Score
from mplm_bench.tasks.sudoku.formats import render_grid
from mplm_bench.tasks.sudoku.serial import serial_response


@pytest.mark.parametrize("votes,winner,tie", [
    (["b", "a", "b", None], "b", False),
    (["b", "a", "b", "a", None, None, None], "a", True),  # tie: the smallest answer string wins
    (["UNSAT", "SAT"], "SAT", True),
    (["z"], "z", False),
    ([None, None], None, False),  # None is no vote, however many
    ([], None, False),
])
def test_majority_vote_and_ties(votes, winner, tie):
    w, counts, t = majority(votes)
    assert (w, t) == (winner, tie)
    assert sum(counts.values()) == sum(v is not None for v in votes)


def test_vote_table_orders_by_count_then_answer_and_marks_correct_answers():
    counts = Counter({"b": 2, "a": 2, "c": 3})
    scores = [Score(correct=True, score=1, parsed="a"), Score(correct=False, score=0, parsed="c")]
    assert vote_table(counts, scores) == [
        {"answer": "c", "count": 3, "correct": False},
        {"answer": "a", "count": 2, "correct": True},
        {"answer": "b", "count": 2, "correct": False},
    ]


class Recording(ScriptedBackend):
    """Remembers the sampling parameters of every request."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sampling: list[Sampling] = []

    async def generate(self, request):
        self.sampling.append(request.sampling)
        return await super().generate(request)


INSTANCE = Instance(id="golden", size=4, data={"puzzle": PUZZLE, "solution": SOLUTION})


def run_sc(k=5, sampling: Sampling | None = None, **opts):
    task = tasks.get("sudoku")()
    strat = strategies.get("sc")(SCOptions(k=k, **opts))
    backend = Recording(task.reference_policy("serial"), counter=CharCounter())
    ctx = RunContext(backend, Caps(), sampling or Sampling(), LatencyModel())
    return asyncio.run(strat.run_sample(task, INSTANCE, "s", ctx)), backend


def test_sc_run_records_every_trajectory_and_the_vote():
    res, _ = run_sc(k=5)
    rec, m = res.world, res.world.metrics
    serial = serial_response(PUZZLE)
    assert res.score.correct and m.status == "ok" and m.answer.strip() == render_grid(SOLUTION)
    assert [c.thread_id for c in rec.calls] == [f"r1.t{i}" for i in range(5)]
    assert {c.parent_id for c in rec.calls} == {None} and {c.round for c in rec.calls} == {1}
    assert m.gen_tokens == 5 * len(serial) == m.extra["effective_ttc_tokens"]
    assert m.critical_path_tokens == len(serial)  # the trajectories run side by side
    assert m.extra["votes"] == [{"answer": render_grid(SOLUTION), "count": 5, "correct": True}]
    assert m.extra["winner_votes"] == 5 and not m.extra["tie"] and m.extra["pass_at_k"]


def test_trajectories_sample_at_temperature_one_with_distinct_seeds():
    _, backend = run_sc(k=3, sampling=Sampling(seed=7))
    assert [s.temperature for s in backend.sampling] == [1.0] * 3  # not K greedy copies
    assert sorted(s.seed for s in backend.sampling) == [7, 8, 9]
    _, backend = run_sc(k=2, sampling=Sampling(temperature=0.6))
    assert {s.temperature for s in backend.sampling} == {0.6}  # the run's own, when it samples
    _, backend = run_sc(k=2, temperature=0.0)
    assert {s.temperature for s in backend.sampling} == {0.0}  # explicitly greedy
    assert {s.seed for s in backend.sampling} == {None}


def test_sc_without_answers_reports_how_trajectories_ended():
    res, _ = run_sc(k=3, sampling=Sampling(max_tokens=10))
    m = res.world.metrics
    assert m.status == "truncated" and m.answer is None and not res.score.correct
    assert m.detail.startswith("no trajectory gave an answer") and m.extra["n_answered"] == 0
