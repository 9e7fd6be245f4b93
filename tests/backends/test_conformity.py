"""`-M conformity=p`: a step that received answers copies one with probability p, seeded like the
error noise (backends/conformity.py)."""

from __future__ import annotations

import asyncio

from noise_helpers import run_all
from sudoku_puzzle import PUZZLE, SOLUTION
from toys import CharCounter

from mplm_bench.backends.conformity import Conformity, received_answers
from mplm_bench.backends.scripted import ScriptedBackend, ScriptedOptions
from mplm_bench.registry import tasks
from mplm_bench.runtime.backend import Request, Sampling
from mplm_bench.runtime.synthesis import render_synthesis
from mplm_bench.tasks.base import Instance
from mplm_bench.tasks.sudoku.formats import final_answer

WRONG = [row[:] for row in SOLUTION]
WRONG[0][0], WRONG[0][1] = WRONG[0][1], WRONG[0][0]
REFS = [f"My grid.\n{final_answer(WRONG)}", f"Checked.\n{final_answer(SOLUTION)}"]


def _synthesis(i: int) -> Request:
    task = tasks.get("sudoku")()
    inst = Instance(id="g", size=4, data={"puzzle": PUZZLE, "solution": SOLUTION})
    prompt = render_synthesis(task.prompt(inst, "serial"), REFS)
    return Request(f"cfg/g/0/r2.t{i}/0", "0", (prompt,), None, Sampling())


def _texts(rate: float, seed: int = 0, order: int = 1) -> tuple[list[str], int]:
    policy = tasks.get("sudoku")().reference_policy("serial")
    b = ScriptedBackend(policy, ScriptedOptions(conformity=rate, error_seed=seed), counter=CharCounter())
    reqs = [_synthesis(i) for i in range(60)][::order]
    out = {r.request_id: asyncio.run(b.generate(r)).text for r in reqs}
    return [out[k] for k in sorted(out)], b.n_adopted


def test_only_received_answers_are_adopted():
    assert received_answers(_synthesis(0).prompt) == REFS
    assert received_answers("Solve this Sudoku: ...") == []
    assert Conformity(1.0, 0).adopt(Request("c/g/0/r1.t0/0", "0", ("Solve this Sudoku: x",), None,
                                            Sampling())) is None


def test_conformity_is_seeded_and_has_its_effect():
    exact, n0 = _texts(0.0)
    assert n0 == 0 and all(t not in REFS for t in exact)  # the synthesizer checks the references
    all_copy, n1 = _texts(1.0)
    assert n1 == 60 and set(all_copy) == set(REFS)  # a uniform draw: both references get copied
    some, n = _texts(0.3)
    assert 8 <= n <= 30 and sum(t in REFS for t in some) == n
    assert _texts(0.3, order=-1) == (some, n)  # order-free: the draw depends on the step alone
    assert _texts(0.3, seed=1)[0] != some  # another error_seed, other draws


def test_conformity_lowers_pacore_accuracy_and_is_recorded(tmp_path):
    # the references err half the time; the synthesis steps are spared the error coin
    noise = {"error_rate": 0.5, "error_model": "step", "exact_synthesis": True}
    free, m0 = run_all(tmp_path, "sudoku", {"size": 4}, "pacore", 40, noise)
    copy, m1 = run_all(tmp_path, "sudoku", {"size": 4}, "pacore", 40, noise | {"conformity": 1.0})
    assert "conformity" not in m0["backend"] and m1["backend"]["conformity"] == 1.0
    # the synthesizer checks the references (or solves it itself); a copier takes one at random
    assert free["correct"].mean() == 1.0 and copy["correct"].mean() <= 0.8


def test_export_sft_refuses_conformity(tmp_path):
    from cli_helpers import invoke_cli

    r = invoke_cli("export-sft", "--task", "sudoku", "--protocol", "pacore", "-T", "size=4", "-n", "2",
                   "-M", "conformity=0.5", "--allow-noise", "--out", str(tmp_path / "sft"), "-q")
    assert r.returncode == 2 and "conformity" in r.stderr and not (tmp_path / "sft").exists()
