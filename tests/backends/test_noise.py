"""The noisy scripted policy: error models, seeding, each task's mistakes, and what noise does to
accuracy under every strategy."""

from __future__ import annotations

import asyncio
import random

import pytest
from noise_helpers import run_all
from sudoku_puzzle import GIVENS, PROMPT, PUZZLE, SOLUTION
from toys import CharCounter

from mplm_bench.backends.noise import error_probability, step_rng
from mplm_bench.backends.scripted import ScriptedBackend, ScriptedOptions
from mplm_bench.registry import strategies, tasks
from mplm_bench.runtime.backend import BackendError, Request, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.protocol import Recv, Stop, parse_response
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.runtime.synthesis import render_synthesis
from mplm_bench.strategies.base import RunContext
from mplm_bench.tasks.base import Instance
from mplm_bench.tasks.sat.corrupt import corrupt_step as sat_corrupt
from mplm_bench.tasks.sat.traces import WAIT, conclusion, first_step, serial_trace
from mplm_bench.tasks.sudoku.corrupt import corrupt_step as sudoku_corrupt
from mplm_bench.tasks.sudoku.formats import final_answer, parse_clue_map, parse_grid
from mplm_bench.tasks.sudoku.policies import fj_policy, mplm_policy, serial_policy


@pytest.mark.parametrize("model,prompt,gen,p", [
    ("step", 10_000, 10_000, 0.1),
    ("tokens", 123, 1000, 0.1),
    ("tokens", 0, 2000, 1 - 0.9**2),
    ("tokens", 5000, 0, 0.0),
    ("context", 500, 500, 0.1),
    ("context", 2500, 500, 1 - 0.9**3),
    ("position", 500, 1000, 0.1),  # 1k tokens written at mean position 1k: as `tokens`
    ("position", 3500, 1000, 1 - 0.9**4),  # the same tokens four times deeper err four times as often
])
def test_error_models(model, prompt, gen, p):
    assert error_probability(0.1, model, prompt, gen) == pytest.approx(p)
    assert error_probability(0.0, model, prompt, gen) == 0.0


def _req(rid="cfg/inst/0/r1.t0/3", thread="0", prompt="Solve"):
    return Request(rid, thread, (prompt,), None, Sampling())


def test_the_coin_depends_on_what_the_step_is_not_when_it_runs():
    draw = lambda seed, r: step_rng(seed, r).random()  # noqa: E731
    a = draw(0, _req())
    assert draw(0, _req(rid="cfg/inst/0/r1.t0/7")) == a  # same step at another call index
    assert draw(0, Request("cfg/inst/0/r1.t0/3", "0", ("Sol", "ve"), None, Sampling())) == a
    others = [draw(1, _req()), draw(0, _req(rid="cfg/inst/0/r1.t1/3")), draw(0, _req(thread="5")),
              draw(0, _req(prompt="Solve!"))]
    assert a not in others and len(set(others)) == 4


# -- Sudoku mistakes ----------------------------------------------------------------------------
def _well_formed(text: str) -> None:
    step = parse_response(text)
    assert step.terminal is not None and not step.errors


def _cells(grid):
    return {(r, c): v for r, row in enumerate(grid) for c, v in enumerate(row)}


def test_sudoku_final_answer_gets_one_wrong_cell():
    clean = serial_policy(PROMPT)
    wrong = sudoku_corrupt(PROMPT, clean, random.Random(1))
    _well_formed(wrong)
    assert wrong[: clean.rfind("[[")] == clean[: clean.rfind("[[")]  # the trace is untouched
    got = _cells(parse_grid(wrong[wrong.rfind("[["):]))
    diff = {k for k, v in _cells(SOLUTION).items() if got[k] != v}
    assert len(diff) == 1 and 1 <= got[diff.pop()] <= 4


def test_sudoku_worker_mistakes():
    # fork-join worker 3 = cell (0,2), a single: it reports another value, consistently
    clean = fj_policy("Your id is: 3.\n" + GIVENS)
    wrong = sudoku_corrupt("Your id is: 3.\n" + GIVENS, clean, random.Random(0))
    _well_formed(wrong)
    v = int(wrong.split("{ From 3: ")[1][0])
    assert v != 3 and f"The remaining candidates are: {{{v}}}." in wrong
    # fork-join worker 16 = cell (3,3), two candidates: it guesses one instead of None
    wrong = sudoku_corrupt("Your id is: 16.\n" + GIVENS, fj_policy("Your id is: 16.\n" + GIVENS),
                           random.Random(0))
    assert "{ From 16: None }" not in wrong and wrong.split("{ From 16: ")[1][0] in "12"
    # MPLM given cell 1 = (0,0) = 1 misreads its given
    prompt = "Your id is: 1.\n" + GIVENS
    wrong = sudoku_corrupt(prompt, mplm_policy(prompt), random.Random(0))
    v = int(wrong.split("{ From 1: ")[1][0])
    assert v != 1 and f"given with value {v}." in wrong and isinstance(parse_response(wrong).terminal, Stop)
    # MPLM empty cell that should wait: it commits early, to its peers and the master
    prompt = "Your id is: 16.\n" + GIVENS
    clean = mplm_policy(prompt)
    assert isinstance(parse_response(clean).terminal, Recv)
    wrong = sudoku_corrupt(prompt, clean, random.Random(0))
    _well_formed(wrong)
    assert isinstance(parse_response(wrong).terminal, Stop)
    assert "<send [0,4,8,11,12,13,14,15]>{ From 16: " in wrong


def test_sudoku_master_spawn_hands_out_one_wrong_cell():
    clean = fj_policy(PROMPT)
    wrong = sudoku_corrupt(PROMPT, clean, random.Random(0))
    _well_formed(wrong)
    body = lambda t: parse_clue_map(t[t.index(">") + 1 : t.index("</spawn>")])  # noqa: E731
    a, b = body(clean), body(wrong)
    assert a.keys() == b.keys() and sum(a[k] != b[k] for k in a) == 1
    assert wrong[wrong.index("</spawn>"):] == clean[clean.index("</spawn>"):]


def test_sudoku_synthesis_answer_gets_one_wrong_cell():
    prompt = render_synthesis(PROMPT, [final_answer(SOLUTION)])
    clean = serial_policy(prompt)
    wrong = sudoku_corrupt(prompt, clean, random.Random(3))
    assert wrong.splitlines()[0] == clean.splitlines()[0] and wrong != clean
    _well_formed(wrong)


# -- SAT mistakes -------------------------------------------------------------------------------
F = [[1, 2], [-1, 2], [1, -2], [2, 3, -1]]


@pytest.mark.parametrize("prompt,clean,expected", [
    # a leaf flips, message included
    ("Your id is: 0.1.\n\n( 2 )\n", first_step([[2]], "0.1", "0", False),
     "Try unit propagation.\n- Unit: x2 = True\nResult: UNSAT.\n<send [0]>{UNSAT.}</send> <stop>"),
    # a conclusion flips
    ("", conclusion(False, "0.1"),
     "Conclusion for this subproblem: SAT.\n<send [0.1]>{SAT.}</send> <stop>"),
    # the root's final answer flips
    ("", "<stop>UNSAT.</stop>", "<stop>SAT.</stop>"),
    # an MPLM thread that should wait after one {UNSAT.} concludes UNSAT at once
    ("Your id is: 0.1.\n\n( 2 )\n", WAIT, "Conclusion for this subproblem: UNSAT.\n<send [0]>{UNSAT.}</send> <stop>"),
])
def test_sat_verdict_flips(prompt, clean, expected):
    wrong = sat_corrupt(prompt, clean, random.Random(0))
    assert wrong == expected
    _well_formed(wrong)


def test_sat_branch_step_becomes_a_premature_leaf():
    clean = first_step(F, "0.1", "0", True)
    assert "<spawn" in clean
    wrong = sat_corrupt("Your id is: 0.1.\n\n...\n", clean, random.Random(0))
    assert wrong.startswith("Try unit propagation.\nNo unit clauses.\nResult: ")
    assert "<spawn" not in wrong and wrong.endswith("</send> <stop>")
    _well_formed(wrong)


def test_sat_serial_trace_flips_only_its_final_verdict():
    clean = serial_trace(F)
    wrong = sat_corrupt("...", clean, random.Random(0))
    assert clean.endswith("<stop>SAT.</stop>") and wrong == clean[: -len("<stop>SAT.</stop>")] + "<stop>UNSAT.</stop>"


# -- the noisy backend --------------------------------------------------------------------------
def test_noise_needs_a_task_error_model():
    with pytest.raises(BackendError, match="error model"):
        ScriptedBackend(lambda p: "", ScriptedOptions(error_rate=0.5), counter=CharCounter())


def _requests(task, protocol="serial"):
    inst = Instance(id="g", size=4, data={"puzzle": PUZZLE, "solution": SOLUTION})
    return [Request(f"cfg/g/0/r1.t{i}/0", "0", (task.prompt(inst, protocol),), None, Sampling())
            for i in range(40)]


def test_noisy_backend_is_deterministic_and_order_free():
    task = tasks.get("sudoku")()
    opts = ScriptedOptions(error_rate=0.3, error_model="step", error_seed=3)
    reqs = _requests(task)

    async def texts(order):
        b = ScriptedBackend(task.reference_policy("serial"), opts, counter=CharCounter())
        out = {r.request_id: (await b.generate(r)).text for r in order}
        return out, b.n_corrupted

    a, na = asyncio.run(texts(reqs))
    b, nb = asyncio.run(texts(reqs[::-1]))
    assert a == b and na == nb and 0 < na < 40
    assert len({t for t in a.values()}) > 2  # independent mistakes per trajectory
    c, _ = asyncio.run(texts(reqs))
    assert c == a
    b = ScriptedBackend(task.reference_policy("serial"), opts, counter=CharCounter())
    assert b.describe()["error_rate"] == 0.3 and b.describe()["error_model"] == "step"
    assert b.describe()["error_seed"] == 3


def test_exact_synthesis_spares_only_synthesis_steps():
    task = tasks.get("sudoku")()
    policy = task.reference_policy("serial")
    serial = _requests(task)[0]
    synthesis = Request("cfg/g/0/r2.t0/0", "0", (render_synthesis(serial.prompt, ["no grid", "none"]),),
                        None, Sampling())

    def wrong(request: Request, exact_synthesis: bool) -> bool:
        opts = ScriptedOptions(error_rate=1.0, error_model="step", exact_synthesis=exact_synthesis)
        b = ScriptedBackend(policy, opts, counter=CharCounter())
        return asyncio.run(b.generate(request)).text != policy(request.prompt)

    assert wrong(serial, False) and wrong(serial, True)  # the references still err
    assert wrong(synthesis, False) and not wrong(synthesis, True)


@pytest.mark.parametrize("strategy", ["cot", "fj", "mplm", "sc", "pacore"])
def test_every_step_wrong_still_reads_as_protocol_text(strategy):
    task = tasks.get("sudoku")()
    strat = strategies.get(strategy)()
    backend = ScriptedBackend(task.reference_policy(strat.protocol),
                              ScriptedOptions(error_rate=1.0, error_model="step"), counter=CharCounter())
    inst = Instance(id="g", size=4, data={"puzzle": PUZZLE, "solution": SOLUTION})
    ctx = RunContext(backend, Caps(), Sampling(), LatencyModel())
    res = asyncio.run(strat.run_sample(task, inst, "k", ctx))
    assert backend.n_corrupted == res.world.metrics.n_calls  # every step had a mistake to make
    assert res.world.metrics.n_protocol_errors == 0 and res.world.metrics.status != "protocol_error"


# -- accuracy under noise, end to end through the runner ----------------------------------------
def test_pacore_and_sc_beat_a_single_trajectory_under_noise(tmp_path):
    """Sudoku 9x9, 100 seeded samples, `-M error_rate=0.1` under the default `tokens` model: a
    ~8k-token serial trace then goes wrong with probability 1-0.9^8 = 0.57. Measured here:
    cot 52%, sc (k=16) 99%, pacore (low) 89% (and, not asserted: mplm 20%, fj 37%)."""
    noise = {"error_rate": 0.1}
    acc = {}
    for s in ("cot", "sc", "pacore"):
        df, manifest = run_all(tmp_path, "sudoku", {"size": 9}, s, 100, noise)
        assert manifest["backend"]["error_rate"] == 0.1 and manifest["backend"]["error_model"] == "tokens"
        assert len(df) == 100 and set(df["status"]) == {"ok"}
        acc[s] = df["correct"].mean()
    assert acc["cot"] < 0.6
    assert acc["sc"] >= acc["cot"] + 0.3 and acc["pacore"] >= acc["cot"] + 0.3, acc


@pytest.mark.parametrize("task,options,n", [("sudoku", {"size": 4}, 4), ("sudoku", {"size": 9}, 3),
                                            ("sat", {"vars": 8}, 4)])
@pytest.mark.parametrize("strategy", ["cot", "fj", "mplm", "sc", "pacore"])
def test_without_noise_every_strategy_is_always_right(tmp_path, task, options, n, strategy):
    df, _ = run_all(tmp_path, task, options, strategy, n, {"error_rate": 0.0})
    assert df["correct"].all() and (df["status"] == "ok").all()
