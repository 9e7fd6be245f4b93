"""Generator: determinism, naked-singles solvability, uniqueness (hard), consistency."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mplm_bench.tasks.sudoku.data import check_solution
from mplm_bench.tasks.sudoku.generator import generate, make_puzzle, solved_grid
from mplm_bench.tasks.sudoku.solver import solve_naked_singles
from mplm_bench.tasks.sudoku.uniqueness import UniquenessChecker


def count_solutions(puzzle: list[list[int]], limit: int = 2) -> int:
    """Independent brute force (backtracking on the most constrained cell), up to `limit`."""
    size = len(puzzle)
    n = int(size**0.5)
    grid = [row[:] for row in puzzle]

    def options(r: int, c: int) -> set[int]:
        used = set(grid[r]) | {grid[k][c] for k in range(size)}
        br, bc = r - r % n, c - c % n
        used |= {grid[br + a][bc + b] for a in range(n) for b in range(n)}
        return set(range(1, size + 1)) - used

    def rec() -> int:
        best = None
        for r in range(size):
            for c in range(size):
                if not grid[r][c]:
                    opts = options(r, c)
                    if best is None or len(opts) < len(best[2]):
                        best = (r, c, opts)
        if best is None:
            return 1
        r, c, opts = best
        total = 0
        for v in opts:
            grid[r][c] = v
            total += rec()
            grid[r][c] = 0
            if total >= limit:
                break
        return total

    return rec()


def assert_consistent(puzzle: list[list[int]], solution: list[list[int]]) -> None:
    check_solution(puzzle, solution, "generated")  # valid solution that agrees with the givens


@pytest.mark.parametrize("size", [4, 9, 16, 25])
def test_solved_grid_is_valid(size: int) -> None:
    sol = solved_grid(size, random.Random(3))
    assert_consistent([[0] * size for _ in range(size)], sol)


@pytest.mark.parametrize("size", [4, 9, 16])
def test_seeded_determinism(size: int) -> None:
    a, b = generate(size, 7), generate(size, 7)
    assert a == b
    assert generate(size, 8) != a


@pytest.mark.parametrize("size", [4, 9, 16])
@pytest.mark.parametrize("seed", range(4))
def test_naked_singles_solvable(size: int, seed: int) -> None:
    puz = generate(size, seed)
    assert_consistent(puz.puzzle, puz.solution)
    assert solve_naked_singles(puz.puzzle) == puz.solution
    assert 0 < puz.n_givens < size * size


def test_naked_singles_solvable_25() -> None:
    puz = generate(25, 0)
    assert_consistent(puz.puzzle, puz.solution)
    assert solve_naked_singles(puz.puzzle) == puz.solution


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), p=st.floats(0.0, 1.0), size=st.sampled_from([4, 9]))
def test_property_singles_solvable(seed: int, p: float, size: int) -> None:
    puz = make_puzzle(size, random.Random(seed), p=p)
    assert_consistent(puz.puzzle, puz.solution)
    assert solve_naked_singles(puz.puzzle) == puz.solution


def test_p_bounds() -> None:
    full = generate(9, 1, p=0.0)
    assert full.puzzle == full.solution
    assert generate(9, 1, p=1.0).n_givens < generate(9, 1, p=0.2).n_givens


def test_removal_is_maximal_at_p1() -> None:
    """With p=1 every clue was tried, so no single remaining clue can go (for singles)."""
    puz = generate(9, 5, p=1.0)
    for r in range(9):
        for c in range(9):
            if puz.puzzle[r][c]:
                trial = [row[:] for row in puz.puzzle]
                trial[r][c] = 0
                assert solve_naked_singles(trial) != puz.solution


@pytest.mark.parametrize("size,seed", [(4, 0), (4, 1), (4, 2), (9, 0), (9, 1)])
def test_hard_puzzles_are_unique(size: int, seed: int) -> None:
    puz = generate(size, seed, p=1.0, hard=True)
    assert_consistent(puz.puzzle, puz.solution)
    assert count_solutions(puz.puzzle) == 1
    with UniquenessChecker(puz.solution, conflict_budget=0) as checker:
        assert checker.is_unique(puz.puzzle) is True
    assert generate(size, seed, p=1.0, hard=True) == puz  # deterministic too


def test_hard_goes_beyond_singles_and_is_minimal() -> None:
    puzzles = [generate(9, s, p=1.0, hard=True) for s in range(5)]
    assert any(solve_naked_singles(p.puzzle) != p.solution for p in puzzles)
    puz = puzzles[0]  # p=1 tried every clue: none of the rest can go without losing uniqueness
    with UniquenessChecker(puz.solution, conflict_budget=0) as checker:
        for r in range(9):
            for c in range(9):
                if puz.puzzle[r][c]:
                    trial = [row[:] for row in puz.puzzle]
                    trial[r][c] = 0
                    assert checker.is_unique(trial) is False


def test_uniqueness_checker_detects_ambiguity() -> None:
    sol = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
    empty = [[0] * 4 for _ in range(4)]
    with UniquenessChecker(sol, conflict_budget=0) as checker:
        assert checker.is_unique(empty) is False
        assert checker.is_unique(sol) is True


def test_bad_size_rejected() -> None:
    with pytest.raises(ValueError):
        generate(6, 0)
