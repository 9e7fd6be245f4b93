"""The scripted PaCoRe synthesizer for Sudoku: check the references' grids, answer with a valid one.

A careful solver with the references in front of it needs no search: a full grid that keeps every
given and repeats no value in any row, column or box *is* the solution (the puzzles have a unique
one). So each reference's final grid is checked in reference order, one line per check, and the
first valid grid is the answer. When none passes, the synthesizer solves the puzzle itself: the
serial elimination trace on the original givens. It reads only the prompt text.
"""

from __future__ import annotations

from mplm_bench.runtime.synthesis import parse_synthesis
from mplm_bench.tasks.sudoku.formats import (
    PROMPT_PREFIX,
    Grid,
    final_answer,
    infer_size,
    parse_clue_map,
    parse_grid,
)
from mplm_bench.tasks.sudoku.geometry import box_side
from mplm_bench.tasks.sudoku.serial import serial_response

FALLBACK = "No reference gives a valid grid, so I solve the puzzle from the givens."


def givens_grid(original: str) -> Grid:
    """The puzzle of a `Solve this Sudoku:` prompt as a grid (0 = empty)."""
    if not original.startswith(PROMPT_PREFIX):
        raise ValueError(f"not a Sudoku problem: {original[:40]!r}")
    cells = parse_clue_map(original[len(PROMPT_PREFIX) :])
    bound = max((max(r + 1, c + 1, v) for (r, c), v in cells.items()), default=1)
    size = infer_size(bound)
    grid = [[0] * size for _ in range(size)]
    for (r, c), v in cells.items():
        if r < size and c < size:
            grid[r][c] = v
    return grid


def final_grid(text: str) -> Grid | None:
    """The last list of rows in a response: its final answer (a serial trace writes only one)."""
    i = text.rfind("[[")
    return parse_grid(text[i:]) if i >= 0 else None


def grid_problem(grid: Grid | None, givens: Grid) -> str | None:
    """Why `grid` is not the solution of `givens`, in words; None when it is."""
    size = len(givens)
    if grid is None:
        return "no final grid"
    if len(grid) != size or any(len(row) != size for row in grid):
        return f"the grid is not {size}x{size}"
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if not 1 <= v <= size:
                return f"cell ({r},{c}) holds {v}, not a value from 1 to {size}"
            if givens[r][c] and v != givens[r][c]:
                return f"cell ({r},{c}) is {v} but the given is {givens[r][c]}"
    n = box_side(size)
    units = [(f"row {r}", grid[r]) for r in range(size)]
    units += [(f"column {c}", [grid[r][c] for r in range(size)]) for c in range(size)]
    units += [
        (f"box {b}", [grid[(b // n) * n + i][(b % n) * n + j] for i in range(n) for j in range(n)])
        for b in range(size)
    ]
    for name, values in units:
        if len(set(values)) != size:
            twice = next(v for v in values if values.count(v) > 1)
            return f"{name} holds {twice} twice"
    return None


def synthesis_policy(prompt: str) -> str:
    view = parse_synthesis(prompt)
    givens = givens_grid(view.original)
    size = len(givens)
    lines = []
    for i, ref in enumerate(view.references, 1):
        grid = final_grid(ref)
        problem = grid_problem(grid, givens)
        if problem is None and grid is not None:
            lines.append(f"Reference {i}: keeps every given, and every row, column and box holds "
                         f"1 to {size} once.")
            return "\n".join(lines) + "\n" + final_answer(grid)
        lines.append(f"Reference {i}: {problem}.")
    return "\n".join([*lines, FALLBACK]) + serial_response(givens)
