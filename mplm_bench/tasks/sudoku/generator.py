"""Puzzle generation as described in docs/protocols.md §2 (the MPLM paper's data recipe).

A solved grid comes from the standard base pattern with rows shuffled within bands, columns
within stacks, bands, stacks and digits permuted. Clues are then visited in random order and
each is removed with probability p, the removal kept only if the puzzle stays solvable by naked
singles alone (so the published traces, which never search, solve it) — or, with `hard=True`,
only if the solution stays unique (checked with python-sat), which may need search.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mplm_bench.tasks.sudoku.geometry import box_side
from mplm_bench.tasks.sudoku.solver import SinglesState

SIZES = (4, 9, 16, 25)


@dataclass(frozen=True, slots=True)
class Puzzle:
    puzzle: list[list[int]]
    solution: list[list[int]]

    @property
    def n_givens(self) -> int:
        return sum(1 for row in self.puzzle for v in row if v)


def solved_grid(size: int, rng: random.Random) -> list[list[int]]:
    """A random valid grid from the base pattern (n·(r mod n) + r div n + c) mod N."""
    n = box_side(size)

    def shuffled(seq: range) -> list[int]:
        out = list(seq)
        rng.shuffle(out)
        return out

    rows = [g * n + r for g in shuffled(range(n)) for r in shuffled(range(n))]
    cols = [g * n + c for g in shuffled(range(n)) for c in shuffled(range(n))]
    digits = shuffled(range(1, size + 1))
    return [[digits[(n * (r % n) + r // n + c) % size] for c in cols] for r in rows]


def make_puzzle(
    size: int,
    rng: random.Random,
    p: float = 0.5,
    hard: bool = False,
    conflict_budget: int | None = None,
) -> Puzzle:
    """One puzzle; the same rng state gives the same puzzle."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size}")
    solution = solved_grid(size, rng)
    order = list(range(size * size))
    rng.shuffle(order)
    # The coin comes first: "removable, then coin" and "coin, then removable" give the same
    # distribution (the coin is independent), and this way half the checks are skipped.
    tries = [i for i in order if rng.random() < p]
    state = SinglesState([v for row in solution for v in row], size)
    if not hard:
        for i in tries:
            if state.removable(i):
                state.clear(i)
    else:
        _remove_unique(state, solution, tries, conflict_budget)
    cells = state.cells
    puzzle = [cells[r * size : (r + 1) * size] for r in range(size)]
    return Puzzle(puzzle, [row[:] for row in solution])


def _remove_unique(
    state: SinglesState, solution: list[list[int]], tries: list[int], budget: int | None
) -> None:
    """Remove clues while the solution stays unique; singles-solvable removals skip the SAT call."""
    from mplm_bench.tasks.sudoku.uniqueness import DEFAULT_CONFLICT_BUDGET, UniquenessChecker

    size = state.size
    singles_ok = True  # monotone: once singles fail they fail for every later removal too
    checker: UniquenessChecker | None = None
    try:
        for i in tries:
            if singles_ok and state.removable(i):
                state.clear(i)
                continue
            if checker is None:
                budget = DEFAULT_CONFLICT_BUDGET if budget is None else budget
                checker = UniquenessChecker(solution, budget)
            v = state.cells[i]
            state.clear(i)
            grid = [state.cells[r * size : (r + 1) * size] for r in range(size)]
            if checker.is_unique(grid) is True:
                singles_ok = False  # removed a clue singles could not recover
            else:  # not unique, or unknown within the budget: keep the clue (NOTES.md)
                state.set(i, v)
    finally:
        if checker is not None:
            checker.close()


def generate(size: int, seed: int | str, p: float = 0.5, hard: bool = False) -> Puzzle:
    """Convenience wrapper: a puzzle from a fresh `random.Random(seed)`."""
    return make_puzzle(size, random.Random(seed), p=p, hard=hard)
