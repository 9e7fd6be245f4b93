"""Formula text, DPLL steps, assignment checks and scoring of the SAT task."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mplm_bench.tasks.sat.dpll import (
    assign,
    branch_variable,
    propagate,
    satisfies,
    solve,
    tree_size,
)
from mplm_bench.tasks.sat.formula import num_vars, parse_formula, render_clause, render_formula
from mplm_bench.tasks.sat.generator import is_satisfiable
from mplm_bench.tasks.sat.policies import POLICIES, parent_of, read_prompt
from mplm_bench.tasks.sat.scoring import parse_answer, score_answer

literal = st.integers(1, 30).flatmap(lambda v: st.sampled_from([v, -v]))
formula = st.lists(st.lists(literal, max_size=4), max_size=12)


def test_rendering_matches_the_published_strings():
    assert render_clause([7, -4, 1]) == "( 7 ∨ ¬ 4 ∨ 1 )"
    assert render_formula([[7, -4, 1], [2]]) == "( 7 ∨ ¬ 4 ∨ 1 ) ∧ ( 2 )"
    assert render_clause([]) == "(  )"  # what the trace programs print for an empty clause
    assert render_formula([]) == "" and render_formula([], empty="TRUE") == "TRUE"


@given(formula)
def test_render_parse_round_trip(clauses):
    assert parse_formula(render_formula(clauses)) == clauses


def test_parsing_is_lenient():
    assert parse_formula("(¬4 ∨ 2) ∧ ( -3 v x5 ) ∧ (~1)") == [[-4, 2], [-3, 5], [-1]]
    assert parse_formula("TRUE") == [] and parse_formula("") == []
    assert parse_formula("(  )") == [[]]
    assert num_vars([[3, -9], []]) == 9


def test_prompt_reading():
    v = read_prompt("Your id is: 0.1.0.\n\n( 1 ∨ ¬ 2 )\n")
    assert (v.thread_id, v.parent, v.formula, v.started) == ("0.1.0", "0.1", [[1, -2]], False)
    root = read_prompt("( 1 ) ∧ ( 2 )\nTry unit propagation.\n<recv>\n{UNSAT.}\n</recv>\n<recv>\n{SAT.}\n</recv>")
    assert (root.thread_id, root.parent, root.formula) == ("0", None, [[1], [2]])
    assert root.started and root.received == (False, True)
    assert parent_of("0.1") == "0" and parent_of("0") is None and parent_of("7") == "0"


def test_policies_also_read_the_worker_prompts_of_the_released_traces():
    """The released programs wrote `Your id is: W.⏎F` (no blank line, no final newline); the
    runtime gives `Your id is: W.⏎⏎F⏎` (the spawn body between the tags). Same answer for both."""
    fj, mplm = POLICIES["fj"], POLICIES["mplm"]
    f = "( 5 ∨ 6 ) ∧ ( 5 ∨ ¬ 6 )"
    assert fj(f"Your id is: 0.0.\n{f}") == fj(f"Your id is: 0.0.\n\n{f}\n")
    first = mplm(f"Your id is: 0.0.\n{f}")
    assert first.endswith("<recv>") and "<spawn [0.0.1]>" in first
    resumed = f"Your id is: 0.0.\n{f}\n{first}\n{{UNSAT.}}\n</recv>"
    assert mplm(resumed) == "<recv>"
    assert mplm(resumed + "\n<recv>\n{SAT.}\n</recv>") == (
        "Conclusion for this subproblem: SAT.\n<send [0]>{SAT.}</send> <stop>")
    both = f"Your id is: 0.0.\n{f}\n{first}\n{{UNSAT.}}\n{{UNSAT.}}\n</recv>"  # a batch of two
    assert mplm(both).startswith("Conclusion for this subproblem: UNSAT.")


def test_propagation_follows_the_first_unit_clause_in_order():
    p = propagate([[2, 3], [-2], [-3, 4], [5, 1], [-4, -3]])
    assert p.units == [(2, False), (3, True), (4, True)] and p.result is False
    assert p.clauses == [[5, 1], []]
    q = propagate([[1, 2], [3]])
    assert q.units == [(3, True)] and q.result is None and q.clauses == [[1, 2]]
    assert propagate([]).result is True and propagate([[1], []]).units == []  # decided first
    assert branch_variable([[5, -3], [4]]) == 3
    assert assign([[1, 2], [-1, 3], [2, 3]], 1, True) == [[3], [2, 3]]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000))
def test_propagation_agrees_with_python_sat(seed):
    """The forced literals of a branch are what a fresh python-sat solver propagates from it."""
    from pysat.solvers import Solver

    rng = random.Random(seed)
    n = rng.randint(3, 8)
    clauses = [[v if rng.random() < 0.5 else -v for v in rng.sample(range(1, n + 1), 3)]
               for _ in range(int(n * 4.3))]
    var = rng.randint(1, n)
    for value in (False, True):
        lit = var if value else -var
        p = propagate(assign(clauses, var, value))
        with Solver(name="glucose3", bootstrap_with=clauses) as s:  # fresh: no learned clauses
            ok, implied = s.propagate(assumptions=[lit])
        # 3-literal clauses over distinct variables: only propagation can empty a clause
        assert (p.result is False) == (not ok)
        if ok:  # the fixpoint of unit propagation is unique, whatever the order
            assert {v if b else -v for v, b in p.units} | {lit} == set(implied)


@settings(max_examples=80, deadline=None)
@given(formula)
def test_dpll_agrees_with_python_sat(clauses):
    model = solve(clauses)
    assert (model is not None) == is_satisfiable(clauses)
    if model is not None:
        assert satisfies(clauses, model)
    t = tree_size(clauses)
    assert t.satisfiable == (model is not None) and 1 <= t.first_sat <= t.full


def test_satisfies_checks_clause_by_clause():
    assert satisfies([[1, -2], [2, 3]], {1: True, 3: True})
    assert not satisfies([[1, -2], [2, 3]], {1: True})  # x2, x3 unassigned: clause 2 open
    assert not satisfies([[]], {1: True})


def test_answer_parsing():
    assert parse_answer("SAT.").verdict == "SAT" and parse_answer("UNSAT.").verdict == "UNSAT"
    assert parse_answer("unsatisfiable").verdict == "UNSAT" and parse_answer("hmm").verdict is None
    assert parse_answer(None).assignment is None
    assert parse_answer("SAT. x1 = True, x2=False, x3: 1").assignment == {1: True, 2: False, 3: True}
    assert parse_answer("SAT\nv 1 -2 3 0").assignment == {1: True, 2: False, 3: True}
    assert parse_answer("SAT [1, -2]").assignment == {1: True, 2: False}
    assert not parse_answer("SAT x1=True x1=False").consistent


def test_scoring():
    f = [[1, -2], [2, 3]]
    s = score_answer(f, "SAT", "SAT.")
    assert s.correct and s.parsed == "SAT" and s.extra == {"sat_verified": "label"} and s.score == 1.0
    assert not score_answer(f, "SAT", "UNSAT.").correct  # UNSAT on a satisfiable formula
    assert not score_answer(f, "UNSAT", "SAT.").correct
    assert score_answer(f, "UNSAT", "UNSAT.").correct
    good = score_answer(f, "SAT", "SAT x1=True x3=True")
    assert good.correct and good.extra["sat_verified"] == "assignment"
    bad = score_answer(f, "SAT", "SAT x1=False x3=True")  # clause 1 false: wrong despite the label
    assert not bad.correct and bad.extra["sat_verified"] == "assignment"
    none = score_answer(f, "SAT", None)
    assert not none.correct and none.parsed is None
