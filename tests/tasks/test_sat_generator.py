"""Instance generation of the SAT task: determinism, shape, labels checked by python-sat."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from mplm_bench.registry import tasks
from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.sat import SATTask
from mplm_bench.tasks.sat.dpll import satisfies
from mplm_bench.tasks.sat.generator import is_satisfiable, planted, sampled_unsat


def make(**options) -> SATTask:
    return SATTask(SATTask.Options(**options))


def test_registered_with_defaults_of_the_paper():
    assert tasks.get("sat") is SATTask
    o = SATTask.Options()
    assert (o.vars, o.ratio, o.sat_fraction) == (10, 4.3, 0.5)
    assert SATTask.protocols == ("serial", "fj", "mplm")
    t = SATTask()
    assert [t.scheduler(p) for p in t.protocols] == ["sync", "sync", "async"]


def test_same_options_and_seed_give_the_same_instances():
    a, b = make(vars=8).generate(12, 5), make(vars=8).generate(12, 5)
    assert [i.model_dump() for i in a] == [i.model_dump() for i in b]
    assert [i.data for i in make(vars=8).generate(12, 6)] != [i.data for i in a]
    # instance i does not depend on n: a longer run extends a shorter one (resumable runs)
    assert [i.model_dump() for i in make(vars=8).generate(5, 5)] == [i.model_dump() for i in a[:5]]
    assert len({i.id for i in a}) == 12


@pytest.mark.parametrize("n_vars", [6, 9, 12, 14])
def test_shape_and_labels_verified_by_python_sat(n_vars):
    instances = make(vars=n_vars).generate(20, 1)
    for inst in instances:
        clauses = inst.data["clauses"]
        assert len(clauses) == int(n_vars * 4.3) == inst.meta["n_clauses"]
        assert inst.size == inst.meta["n_vars"] == n_vars
        for c in clauses:
            assert len(c) == 3 and len({abs(x) for x in c}) == 3
            assert all(1 <= abs(x) <= n_vars for x in c)
        assert is_satisfiable(clauses) == (inst.data["label"] == "SAT") == (inst.meta["label"] == "SAT")
    assert [i.data["label"] for i in instances] == ["SAT", "UNSAT"] * 10


@pytest.mark.parametrize("fraction,n,sat", [(0.0, 6, 0), (1.0, 6, 6), (0.3, 10, 3), (0.5, 7, 4)])
def test_sat_fraction(fraction, n, sat):
    got = make(vars=6, sat_fraction=fraction).generate(n, 0)
    assert sum(i.data["label"] == "SAT" for i in got) == sat


def test_planting_flips_one_literal_of_each_falsified_clause():
    g = planted(random.Random(4), 10, 43)
    assert g.satisfiable and g.planted is not None and satisfies(g.clauses, g.planted)


def test_unsat_sampling_gives_up_with_a_clear_message():
    with pytest.raises(ValueError, match="no unsatisfiable formula"):
        sampled_unsat(random.Random(0), 10, 5, max_tries=3)
    g = sampled_unsat(random.Random(0), 6, 25)
    assert not g.satisfiable and not is_satisfiable(g.clauses) and g.tries >= 1


@pytest.mark.parametrize("bad", [{"vars": 2}, {"ratio": 0}, {"sat_fraction": 1.5}, {"size": 9}])
def test_bad_options_are_rejected(bad):
    with pytest.raises(ValidationError):
        SATTask.Options(**bad)


def test_unknown_protocol():
    t, inst = SATTask(), make(vars=6).generate(1, 0)[0]
    with pytest.raises(TaskError, match="no protocol"):
        t.policy("pacore")
    with pytest.raises(TaskError, match="no protocol"):
        t.prompt(inst, "cot")
