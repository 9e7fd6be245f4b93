"""Golden traces through the real runtime: the fixed 4x4 puzzle under serial, FJ and MPLM.

The policy-level goldens (tests/tasks/test_sudoku_policies.py) pin each step's text; these pin what the
runtime does with them: which thread runs when, and the exact prompt every step sees, so the
prompts a released checkpoint gets are the ones its training traces had (docs/protocols.md §1–2).
"""

from __future__ import annotations

import asyncio

from sudoku_puzzle import ALL15, ANSWER, FJ_SPAWN1, GIVENS, IDS16, PROMPT, PUZZLE, SOLUTION

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.registry import strategies, tasks
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.strategies.base import RunContext
from mplm_bench.tasks.base import Instance


def run(strategy: str):
    task = tasks.get("sudoku")()
    inst = Instance(id="golden", size=4, data={"puzzle": PUZZLE, "solution": SOLUTION})
    strat = strategies.get(strategy)()
    backend = ScriptedBackend(task.policy(strat.protocol))
    ctx = RunContext(backend, Caps(), Sampling(), LatencyModel(), log_prompts=True)
    result = asyncio.run(strat.run_sample(task, inst, "golden", ctx))
    assert result.score.correct and result.world.metrics.status == "ok"
    return result.world


def steps(world, tid):
    return [(c.prompt, c.response) for c in world.calls if c.thread_id == tid]


def test_serial_is_one_step():
    w = run("cot")
    ((prompt, response),) = steps(w, "0")
    assert prompt == PROMPT and response.startswith("\nRound 1:\n") and response.endswith(ANSWER)
    assert w.metrics.n_threads == 1 and w.metrics.rounds == 1


def test_fork_join_trace():
    w = run("fj")
    replies = "{ From 3: 3 }\n{ From 5: 3 }\n{ From 8: 2 }\n{ From 10: 1 }\n{ From 15: 2 }\n{ From 16: None }"
    spawn2 = f"<spawn [16]>{ALL15}</spawn>\n<recv [16]>"
    p2 = PROMPT + "\n" + FJ_SPAWN1 + "\n" + replies + "\n</recv>"
    p3 = p2 + "\n" + spawn2 + "\n{ From 16: 1 }\n</recv>"
    assert steps(w, "0") == [(PROMPT, FJ_SPAWN1), (p2, spawn2), (p3, ANSWER)]
    # worker 16 is spawned twice (a reset), each time with the then-current grid as its body
    assert [p for p, _ in steps(w, "16")] == ["Your id is: 16.\n" + GIVENS, "Your id is: 16.\n" + ALL15]
    assert w.metrics.rounds == 5 and w.metrics.n_calls == 3 + 6 + 1


def test_mplm_trace():
    w = run("mplm")
    spawn = f"<spawn [{IDS16}]>{GIVENS}</spawn>\n<recv [{IDS16}]>"
    master = steps(w, "0")
    assert master[0] == (PROMPT, spawn)
    replies = "\n".join(f"{{ From {i + 1}: {v} }}" for i, v in enumerate(sum(SOLUTION, [])))
    assert master[1] == (PROMPT + "\n" + spawn + "\n" + replies + "\n</recv>", ANSWER)
    # cell (3,3), id 16: empty; hears the givens, then the two cells solved in round 2
    p1 = "Your id is: 16.\n" + GIVENS
    (_, r1), (p2, r2), (p3, r3) = steps(w, "16")
    assert p2 == p1 + "\n" + r1 + "\n{ From 4: 4 }\n{ From 11: 4 }\n{ From 12: 3 }\n{ From 13: 4 }\n{ From 14: 3 }\n</recv>"
    assert p3 == p2 + "\n" + r2 + "\n{ From 8: 2 }\n{ From 15: 2 }\n</recv>"
    assert r3.endswith("<send [0,4,8,11,12,13,14,15]>{ From 16: 1 }</send><stop>")
    # synchronous rounds: master, all cells, two elimination rounds, master
    assert [c.round for c in w.calls if c.thread_id == "16"] == [2, 3, 4]
    assert w.metrics.rounds == 5 and w.metrics.n_threads == 17
