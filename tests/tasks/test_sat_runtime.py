"""SAT traces through the real runtime (World + Scheduler + ScriptedBackend, one token per char).

The golden strings below are written out by hand from docs/protocols.md §3 and the MPLM paper's
released trace programs (arXiv 2607.01077), not produced by the code under test.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World
from mplm_bench.tasks.base import Instance
from mplm_bench.tasks.sat import SATTask
from mplm_bench.tasks.sat.dpll import tree_size
from mplm_bench.tasks.sat.stats import serial_search_nodes, thread_search_nodes
from mplm_bench.tasks.sat.task import make_instance

TASK = SATTask()


def run(instance: Instance, protocol: str, task: SATTask = TASK) -> World:
    backend = ScriptedBackend(task.policy(protocol), counter=CharCounter())
    world = World("k", task.prompt(instance, protocol), Caps(), Sampling(max_tokens=1_000_000))
    asyncio.run(Scheduler(backend).run(world, task.scheduler(protocol)))
    return world


def steps(world: World) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in world.calls:
        out.setdefault(c.thread_id, []).append(c.response)
    return out


# --- a fixed 6-variable pair: x1=False leaves a block over x5, x6 that needs a branch and is
# UNSAT; x1=True is decided by unit propagation alone (SAT in F_SAT, UNSAT in F_UNSAT) ---------
F_SAT = [[1, 5, 6], [1, 5, -6], [1, -5, 6], [1, -5, -6], [-1, 2, 3], [-1, -2], [-1, -3, 4]]
F_UNSAT = F_SAT + [[-1, -4, -3]]
SAT_TEXT = ("( 1 ∨ 5 ∨ 6 ) ∧ ( 1 ∨ 5 ∨ ¬ 6 ) ∧ ( 1 ∨ ¬ 5 ∨ 6 ) ∧ ( 1 ∨ ¬ 5 ∨ ¬ 6 ) ∧ "
            "( ¬ 1 ∨ 2 ∨ 3 ) ∧ ( ¬ 1 ∨ ¬ 2 ) ∧ ( ¬ 1 ∨ ¬ 3 ∨ 4 )")
UNSAT_TEXT = SAT_TEXT + " ∧ ( ¬ 1 ∨ ¬ 4 ∨ ¬ 3 )"
LEFT = "( 5 ∨ 6 ) ∧ ( 5 ∨ ¬ 6 ) ∧ ( ¬ 5 ∨ 6 ) ∧ ( ¬ 5 ∨ ¬ 6 )"  # x1 = False
RIGHT_SAT = "( 2 ∨ 3 ) ∧ ( ¬ 2 ) ∧ ( ¬ 3 ∨ 4 )"  # x1 = True
RIGHT_UNSAT = RIGHT_SAT + " ∧ ( ¬ 4 ∨ ¬ 3 )"
SIX = "( 6 ) ∧ ( ¬ 6 )"  # the x1=False block with x5 either way


def inst(clauses, label):
    return make_instance("golden-" + label, clauses, label, 6, "test")


def root_branch(right: str, recv: str) -> str:
    return ("Try unit propagation.\nNo unit clauses.\nBranch on x1.\n"
            f"<spawn [0.0]>\n{LEFT}\n</spawn>\n<spawn [0.1]>\n{right}\n</spawn>\n{recv}")


def left_branch(recv: str) -> str:
    return ("Try unit propagation.\nNo unit clauses.\nBranch on x5.\n"
            f"<spawn [0.0.0]>\n{SIX}\n</spawn>\n<spawn [0.0.1]>\n{SIX}\n</spawn>\n{recv}")


LEAF_X6 = "Try unit propagation.\n- Unit: x6 = True\nResult: UNSAT.\n<send [0.0]>{UNSAT.}</send> <stop>"
UNITS_234 = "Try unit propagation.\n- Unit: x2 = False\n- Unit: x3 = True\n- Unit: x4 = True\n"
RIGHT_LEAF = {
    "SAT": UNITS_234 + "Result: SAT.\n<send [0]>{SAT.}</send> <stop>",
    "UNSAT": UNITS_234 + "Result: UNSAT.\n<send [0]>{UNSAT.}</send> <stop>",
}
LEFT_CONCLUSION = "Conclusion for this subproblem: UNSAT.\n<send [0]>{UNSAT.}</send> <stop>"
SERIAL_LEFT = """Branch on x1.
Branch x1=0
CNF:
( 5 ∨ 6 ) ∧ ( 5 ∨ ¬ 6 ) ∧ ( ¬ 5 ∨ 6 ) ∧ ( ¬ 5 ∨ ¬ 6 )
  Branch on x5.
  Branch x5=0
  CNF:
  ( 6 ) ∧ ( ¬ 6 )
    Unit assignments: x6=True
    CNF:
    (  )
    Result: UNSAT.
  Branch x5=1
  CNF:
  ( 6 ) ∧ ( ¬ 6 )
    Unit assignments: x6=True
    CNF:
    (  )
    Result: UNSAT.
  Both branches failed for x5. UNSAT.
Branch x1=1
CNF:
"""
SERIAL = {
    "SAT": SERIAL_LEFT + """( 2 ∨ 3 ) ∧ ( ¬ 2 ) ∧ ( ¬ 3 ∨ 4 )
  Unit assignments: x2=False, x3=True, x4=True
  CNF:
  TRUE
  Result: SAT.
<stop>SAT.</stop>""",
    "UNSAT": SERIAL_LEFT + """( 2 ∨ 3 ) ∧ ( ¬ 2 ) ∧ ( ¬ 3 ∨ 4 ) ∧ ( ¬ 4 ∨ ¬ 3 )
  Unit assignments: x2=False, x3=True, x4=True
  CNF:
  (  )
  Result: UNSAT.
Both branches failed for x1. UNSAT.
<stop>UNSAT.</stop>""",
}


def test_golden_prompts():
    assert TASK.prompt(inst(F_SAT, "SAT"), "serial") == SAT_TEXT
    assert TASK.prompt(inst(F_UNSAT, "UNSAT"), "mplm") == UNSAT_TEXT
    assert TASK.prompt(inst(F_SAT, "SAT"), "fj") == SAT_TEXT


@pytest.mark.parametrize("label", ["SAT", "UNSAT"])
def test_golden_serial(label):
    w = run(inst(F_SAT if label == "SAT" else F_UNSAT, label), "serial")
    assert steps(w) == {"0": [SERIAL[label]]}
    assert w.metrics.answer == label + "." and w.metrics.status == "ok"
    assert serial_search_nodes(SERIAL[label]) == 5  # root, x1=0, x5=0, x5=1, x1=1


@pytest.mark.parametrize("label", ["SAT", "UNSAT"])
def test_golden_fork_join(label):
    clauses, text, right = (F_SAT, SAT_TEXT, RIGHT_SAT) if label == "SAT" else (F_UNSAT, UNSAT_TEXT, RIGHT_UNSAT)
    w = run(inst(clauses, label), "fj")
    r0, r00 = root_branch(right, "<recv [0.0, 0.1]>"), left_branch("<recv [0.0.0, 0.0.1]>")
    leaf = {"0.0.0": LEAF_X6, "0.0.1": LEAF_X6}
    assert steps(w) == {
        "0": [r0, f"<stop>{label}.</stop>"],
        "0.0": [r00, LEFT_CONCLUSION],
        "0.1": [RIGHT_LEAF[label]],
        **{k: [v] for k, v in leaf.items()},
    }
    t = w.threads
    assert t["0"].prompt == f"{text}\n{r0}\n{{UNSAT.}}\n{{{label}.}}\n</recv>"
    assert t["0.1"].prompt == f"Your id is: 0.1.\n{right}"
    assert t["0.0"].prompt == f"Your id is: 0.0.\n{LEFT}\n{r00}\n{{UNSAT.}}\n{{UNSAT.}}\n</recv>"
    assert t["0.0.1"].prompt == f"Your id is: 0.0.1.\n{SIX}"
    assert w.metrics.answer == f"{label}." and w.metrics.n_preempted == 0
    assert thread_search_nodes(w.calls) == {"expanded": 5, "preempted": 0}


def test_golden_mplm_sat_stops_on_the_first_sat_and_preempts_the_rest():
    w = run(inst(F_SAT, "SAT"), "mplm")
    r0, r00 = root_branch(RIGHT_SAT, "<recv>"), left_branch("<recv>")
    assert steps(w) == {"0": [r0, "<stop>SAT.</stop>"], "0.0": [""], "0.1": [RIGHT_LEAF["SAT"]]}
    assert w.threads["0"].prompt == f"{SAT_TEXT}\n{r0}\n{{SAT.}}\n</recv>"
    # 0.0 was writing its branch step when the root stopped: aborted, partial tokens counted once
    (cut,) = [c for c in w.calls if c.status == "preempted"]
    assert cut.thread_id == "0.0" and len(r00) > len(RIGHT_LEAF["SAT"]) + len("<stop>SAT.</stop>")
    assert cut.completion_tokens == len(RIGHT_LEAF["SAT"]) + len("<stop>SAT.</stop>")
    assert w.metrics.gen_tokens == len(r0) + len(RIGHT_LEAF["SAT"]) + len("<stop>SAT.</stop>") + cut.completion_tokens
    assert w.metrics.critical_path_tokens == len(r0) + len(RIGHT_LEAF["SAT"]) + len("<stop>SAT.</stop>")
    assert thread_search_nodes(w.calls) == {"expanded": 2, "preempted": 1}


def test_golden_mplm_unsat_waits_on_each_unsat():
    w = run(inst(F_UNSAT, "UNSAT"), "mplm")
    r0, r00 = root_branch(RIGHT_UNSAT, "<recv>"), left_branch("<recv>")
    assert steps(w) == {
        "0": [r0, "<recv>", "<stop>UNSAT.</stop>"],
        "0.0": [r00, LEFT_CONCLUSION],  # both leaves answer at the same time: one receive
        "0.1": [RIGHT_LEAF["UNSAT"]],
        "0.0.0": [LEAF_X6],
        "0.0.1": [LEAF_X6],
    }
    once = "\n{UNSAT.}\n</recv>"
    assert w.threads["0"].prompt == f"{UNSAT_TEXT}\n{r0}{once}\n<recv>{once}"
    assert w.threads["0.0"].prompt == f"Your id is: 0.0.\n{LEFT}\n{r00}\n{{UNSAT.}}\n{{UNSAT.}}\n</recv>"
    assert w.metrics.answer == "UNSAT." and w.metrics.n_preempted == 0


def test_an_emptied_formula_is_an_empty_spawn_body_and_a_sat_leaf():
    # x1=True satisfies every clause: the spawn body is `⏎⏎`, the child's formula is empty
    w = run(make_instance("empty", [[1, 2], [1, -2]], "SAT", 2, "test"), "fj")
    first = w.calls[0].response
    assert "<spawn [0.1]>\n\n</spawn>" in first
    assert w.threads["0.1"].prompt == "Your id is: 0.1.\n"  # one newline inside each tag is layout
    assert steps(w)["0.1"] == ["Try unit propagation.\nNo unit clauses.\nResult: SAT.\n<send [0]>{SAT.}</send> <stop>"]
    assert steps(w)["0.0"] == ["Try unit propagation.\n- Unit: x2 = True\nResult: UNSAT.\n<send [0]>{UNSAT.}</send> <stop>"]
    assert w.metrics.answer == "SAT."


# --- generated instances ------------------------------------------------------------------

def generated(n_vars: int, n: int, seed: int = 7) -> list[Instance]:
    return SATTask(SATTask.Options(vars=n_vars)).generate(n, seed)


@pytest.mark.parametrize("n_vars", [6, 8, 10, 12, 14])
@pytest.mark.parametrize("protocol", ["serial", "fj", "mplm"])
def test_scripted_policies_are_always_right(n_vars, protocol):
    for instance in generated(n_vars, 16):
        w = run(instance, protocol)
        score = TASK.score(instance, w.metrics.answer)
        assert w.metrics.status == "ok" and score.correct, (instance.id, w.metrics.answer)
        assert w.metrics.n_protocol_errors == 0 and w.metrics.n_dropped_messages == 0
        full = tree_size(instance.data["clauses"])
        nodes = TASK.trace_columns(w.calls)["search_nodes"]
        if protocol == "serial":
            assert nodes == serial_search_nodes(w.calls[0].response) == full.first_sat
        elif protocol == "fj":
            assert nodes == thread_search_nodes(w.calls)["expanded"] == full.full
        else:
            assert 1 <= nodes <= full.full


@pytest.mark.parametrize("n_vars", [6, 10, 14])
def test_mplm_critical_path_versus_fork_join(n_vars):
    shorter = 0
    for instance in generated(n_vars, 24, seed=11):
        fj, mplm = run(instance, "fj"), run(instance, "mplm")
        cp_fj, cp_mplm = fj.metrics.critical_path_tokens, mplm.metrics.critical_path_tokens
        n_fj, n_mplm = thread_search_nodes(fj.calls), thread_search_nodes(mplm.calls)
        if instance.data["label"] == "SAT":
            assert cp_mplm <= cp_fj, instance.id
            assert n_mplm["expanded"] <= n_fj["expanded"]
            shorter += cp_mplm < cp_fj
        else:  # no early exit on UNSAT: both expand the whole tree, nothing is preempted
            assert n_mplm == n_fj == {"expanded": tree_size(instance.data["clauses"]).full, "preempted": 0}
            assert mplm.metrics.n_preempted == 0
    assert shorter > 0


def test_preempted_subtrees_stop_and_count_their_tokens_once():
    policy = TASK.policy("mplm")
    non_master = 0
    for instance in generated(12, 30, seed=3):
        if instance.data["label"] != "SAT":
            continue
        w = run(instance, "mplm")
        m = w.metrics
        assert [c.call for c in w.calls] == list(range(len(w.calls))) and m.n_calls == len(w.calls)
        assert m.gen_tokens == sum(c.completion_tokens for c in w.calls)
        assert m.n_preempted == sum(c.status == "preempted" for c in w.calls)
        final = w.calls[-1].end_v if w.calls[-1].thread_id == "0" else max(c.end_v for c in w.calls)
        master_stop = max(c.end_v for c in w.calls if c.thread_id == "0")
        for tid, t in w.threads.items():
            if t.state != "preempted":
                continue
            # the moment of preemption: the stop of its nearest stopped ancestor (or the master's)
            a = t.parent
            while a != "0" and w.threads[a].state != "stopped":
                a = w.threads[a].parent
            cut_at = max(c.end_v for c in w.calls if c.thread_id == a) if a != "0" else master_stop
            mine = [c for c in w.calls if c.thread_id == tid]
            assert all(c.start_v <= cut_at for c in mine), tid  # nothing starts after the cut
            for c in mine:
                if c.status == "preempted":
                    assert c.end_v == cut_at and c.response == ""
                    assert c.completion_tokens == int(cut_at - c.start_v)
                    if c.step == 0:  # the step it was cut from was longer than what counted
                        assert c.completion_tokens < len(policy(t.prompt))
                else:
                    assert c.end_v <= cut_at
            non_master += a != "0" and any(c.status == "preempted" for c in mine)
        assert final == master_stop
    assert non_master > 0  # some subtree was cut by a worker's stop, not by the end of the sample


def test_vars_12_times_50_under_all_protocols_through_the_runner(tmp_path):
    from mplm_bench.config import RunConfig
    from mplm_bench.runner import execute, plan

    timings = {}
    for strategy in ("cot", "fj", "mplm"):
        t0 = time.perf_counter()
        cfg = RunConfig(task="sat", task_options={"vars": 12}, strategy=strategy,
                        backend="scripted", backend_options={"max_tokens": 1_000_000}, n=50,
                        out=tmp_path)
        p = plan(cfg)
        backend = ScriptedBackend(p.task.policy(p.strategy.protocol), counter=CharCounter())
        asyncio.run(execute(p, backend))
        import pandas as pd

        df = pd.read_parquet(p.store.dir / "samples")
        assert len(df) == 50 and df["correct"].all() and (df["status"] == "ok").all()
        assert set(df["sat_verified"]) == {"label"} and set(df["label"]) == {"SAT", "UNSAT"}
        assert (df["n_vars"] == 12).all() and (df["n_clauses"] == 51).all()
        assert (df["search_nodes"] >= 1).all()
        if strategy == "fj":
            assert (df["preempted_nodes"] == 0).all()
        timings[strategy] = time.perf_counter() - t0
    print(f"sat vars=12 n=50 through the runner: {timings}")  # seen, never asserted
