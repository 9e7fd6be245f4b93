"""Uniqueness checks with python-sat, for `hard=True` puzzles (beyond naked singles).

One solver per puzzle holds the Sudoku rules plus one clause that blocks the known solution; a
candidate puzzle is unique iff that formula is UNSAT under its clues as assumptions, so
every check reuses the same solver and its learned clauses (see /work/shared/NOTES.md).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

from mplm_bench.tasks.sudoku.geometry import box_side

# CaDiCaL honours the conflict budget better than Glucose (NOTES.md, python-sat); measured here
# too: 25×25 at p=1 took 230 s with CaDiCaL, 397 s with Glucose 4. Most of that is calls that run
# out of budget near the minimum (~0.3-0.7 s each at 25×25 whatever the budget), so the budget
# is kept small: 2,000 conflicts changed no puzzle at 16×16 and one clue in 265 at 25×25.
SOLVER_NAME = "cadical153"
DEFAULT_CONFLICT_BUDGET = 2_000


def var(r: int, c: int, v: int, size: int) -> int:
    """DIMACS variable for "cell (r,c) holds v" (v in 1..N)."""
    return (r * size + c) * size + v


@lru_cache(maxsize=4)
def sudoku_clauses(size: int) -> tuple[tuple[int, ...], ...]:
    """Exactly-one per cell, and per value in each row, column and box (pairwise AMO).

    Cached: at 25×25 this is ~750k clauses and ~0.5 s to build.
    """
    n = box_side(size)
    units: list[list[int]] = []
    for r in range(size):
        for c in range(size):
            units.append([var(r, c, v, size) for v in range(1, size + 1)])
    for v in range(1, size + 1):
        for k in range(size):
            units.append([var(k, c, v, size) for c in range(size)])
            units.append([var(r, k, v, size) for r in range(size)])
            br, bc = (k // n) * n, (k % n) * n
            units.append([var(br + a, bc + b, v, size) for a in range(n) for b in range(n)])
    clauses: list[tuple[int, ...]] = []
    for group in units:
        clauses.append(tuple(group))
        clauses.extend((-a, -b) for a, b in combinations(group, 2))
    return tuple(clauses)


class UniquenessChecker:
    """`is_unique(clues)` for puzzles of one fixed solution; use as a context manager."""

    def __init__(self, solution: list[list[int]], conflict_budget: int = DEFAULT_CONFLICT_BUDGET):
        from pysat.solvers import Solver  # lazy: only hard generation needs it

        self.size = len(solution)
        self.budget = conflict_budget
        self.solver = Solver(name=SOLVER_NAME, bootstrap_with=sudoku_clauses(self.size))
        self.solver.add_clause(
            [-var(r, c, v, self.size) for r, row in enumerate(solution) for c, v in enumerate(row)]
        )

    def is_unique(self, puzzle: list[list[int]]) -> bool | None:
        """True if unique, False if another solution exists, None if the budget ran out."""
        assumptions = [
            var(r, c, v, self.size) for r, row in enumerate(puzzle) for c, v in enumerate(row) if v
        ]
        if self.budget > 0:
            self.solver.conf_budget(self.budget)
            res = self.solver.solve_limited(assumptions=assumptions)
        else:
            res = self.solver.solve(assumptions=assumptions)
        return None if res is None else not res

    def close(self) -> None:
        self.solver.delete()

    def __enter__(self) -> UniquenessChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ManyUniquenessChecker:
    """`is_unique(puzzle, solution)` for many puzzles of one size on one solver: each puzzle's
    blocking clause is guarded by a fresh selector literal (assumed for its check, then
    disabled for good), so the Sudoku rules are loaded once instead of once per puzzle (11 ms
    per 9×9 puzzle to ~1 ms: `--data` files are checked at load)."""

    def __init__(self, size: int, conflict_budget: int = DEFAULT_CONFLICT_BUDGET):
        from pysat.solvers import Solver

        self.size, self.budget = size, conflict_budget
        self.solver = Solver(name=SOLVER_NAME, bootstrap_with=sudoku_clauses(size))
        self.next_selector = size**3 + 1

    def is_unique(self, puzzle: list[list[int]], solution: list[list[int]]) -> bool | None:
        """True if unique, False if another solution exists, None if the budget ran out."""
        sel, self.next_selector = self.next_selector, self.next_selector + 1
        n = self.size
        self.solver.add_clause([-sel] + [-var(r, c, v, n) for r, row in enumerate(solution) for c, v in enumerate(row)])
        clues = [var(r, c, v, n) for r, row in enumerate(puzzle) for c, v in enumerate(row) if v]
        self.solver.conf_budget(self.budget)
        res = self.solver.solve_limited(assumptions=[*clues, sel])
        self.solver.add_clause([-sel])  # this puzzle's blocking clause never constrains another
        return None if res is None else not res

    def close(self) -> None:
        self.solver.delete()
