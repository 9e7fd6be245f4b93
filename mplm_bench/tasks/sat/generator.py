"""Random 3-SAT instances as docs/protocols.md §3 describes the MPLM paper's data (arXiv 2607.01077).

`int(n_vars × ratio)` clauses, each over 3 distinct variables (in sampled order) with random
signs. Satisfiable instances are planted: draw an assignment, and flip one random literal of
every clause it falsifies (the flipped literal is then true). Unsatisfiable ones are whole
formulas sampled until python-sat says UNSAT. Everything comes from the given `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from mplm_bench.tasks.sat.dpll import satisfies
from mplm_bench.tasks.sat.formula import Formula

SOLVER = "glucose3"  # the solver family the published generator verified UNSAT labels with
MAX_UNSAT_TRIES = 10_000


@dataclass(frozen=True, slots=True)
class Generated:
    clauses: Formula
    satisfiable: bool
    planted: dict[int, bool] | None  # the planted assignment of a satisfiable instance
    tries: int  # formulas sampled (UNSAT instances); 1 for planted ones


def is_satisfiable(clauses: Sequence[Sequence[int]]) -> bool:
    """python-sat's verdict. A fresh solver per call (learned clauses must not leak, NOTES.md)."""
    if any(len(c) == 0 for c in clauses):
        return False
    from pysat.solvers import Solver

    with Solver(name=SOLVER, bootstrap_with=[list(map(int, c)) for c in clauses]) as s:
        return bool(s.solve())


def random_clause(rng: random.Random, n_vars: int, width: int = 3) -> list[int]:
    vs = rng.sample(range(1, n_vars + 1), width)
    return [v if rng.random() < 0.5 else -v for v in vs]


def planted(rng: random.Random, n_vars: int, n_clauses: int) -> Generated:
    hidden = {v: rng.random() < 0.5 for v in range(1, n_vars + 1)}
    clauses: Formula = []
    for _ in range(n_clauses):
        c = random_clause(rng, n_vars)
        if not satisfies([c], hidden):
            i = rng.randrange(len(c))
            c[i] = -c[i]
        clauses.append(c)
    return Generated(clauses, True, hidden, 1)


def sampled_unsat(rng: random.Random, n_vars: int, n_clauses: int,
                  max_tries: int = MAX_UNSAT_TRIES) -> Generated:
    for tries in range(1, max_tries + 1):
        clauses = [random_clause(rng, n_vars) for _ in range(n_clauses)]
        if not is_satisfiable(clauses):
            return Generated(clauses, False, None, tries)
    raise ValueError(
        f"no unsatisfiable formula with {n_vars} variables and {n_clauses} clauses in "
        f"{max_tries} tries: raise ratio (4.3 gives about half UNSAT)"
    )


def generate(rng: random.Random, n_vars: int, ratio: float, satisfiable: bool) -> Generated:
    if n_vars < 3:
        raise ValueError(f"3-SAT needs at least 3 variables, got {n_vars}")
    n_clauses = int(n_vars * ratio)
    if n_clauses < 1:
        raise ValueError(f"vars × ratio gives {n_clauses} clauses")
    if satisfiable:
        return planted(rng, n_vars, n_clauses)
    return sampled_unsat(rng, n_vars, n_clauses)
