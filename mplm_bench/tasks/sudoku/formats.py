"""The Sudoku strings of the published traces, and lenient parsers for them.

Every string built here is an interface: the released MPLM checkpoints (arXiv 2607.01077,
docs/protocols.md §2) were trained on exactly these characters, so spacing and separators matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from math import isqrt

Cell = tuple[int, int]
Grid = list[list[int]]

# docs/protocols.md §2: the master's first prompt, identical for serial, fj and mplm.
PROMPT_PREFIX = "Solve this Sudoku:\n"

# One clue-map entry `(r,c): {v}`; lenient about spaces because models drift on them.
CLUE_RE = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*:\s*\{\s*(\d+)\s*\}")
# A candidate-map entry with any number of values: `(r,c): {2,3,4}`.
ENTRY_RE = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*:\s*\{([\d\s,]*)\}")
# A worker payload `{ From W: V }`, V a value or None (docs/protocols.md §2, fj and mplm).
FROM_RE = re.compile(r"\{\s*From\s+(\d+)\s*:\s*(\d+|None)\s*\}")
_ROW_RE = re.compile(r"\[([\d\s,]*)\]")
_GRID_RE = re.compile(r"\[\s*(\[[\d\s,]*\](?:\s*,\s*\[[\d\s,]*\])*)\s*,?\s*\]")


def compact_set(values: Iterable[int]) -> str:
    """`{2,3,4}`: sets inside clue maps and serial-CoT lines are joined by `,` with no space
    (docs/protocols.md §2; MPLM paper trace programs)."""
    return "{" + ",".join(map(str, sorted(values))) + "}"


def spaced_set(values: Iterable[int]) -> str:
    """`{1, 2, 5}`: candidate sets in fj/mplm worker text are joined by `, ` (docs/protocols.md §2)."""
    return "{" + ", ".join(map(str, sorted(values))) + "}"


def clue_map(cells: Mapping[Cell, Iterable[int]]) -> str:
    """`{ (r,c): {v}, (r,c): {v} }`, cells sorted by (r,c) (docs/protocols.md §2, "clue map").

    An empty map renders as `{  }` — the same `"{ " + "" + " }"` the trace programs produce.
    """
    items = [f"({r},{c}): {compact_set(cells[(r, c)])}" for r, c in sorted(cells)]
    return "{ " + ", ".join(items) + " }"


def grid_clue_map(grid: Sequence[Sequence[int]]) -> str:
    """Clue map of a grid's filled cells (0 = empty)."""
    return clue_map({(r, c): (v,) for r, row in enumerate(grid) for c, v in enumerate(row) if v})


def master_prompt(puzzle: Sequence[Sequence[int]]) -> str:
    return PROMPT_PREFIX + grid_clue_map(puzzle)


def render_grid(grid: Sequence[Sequence[int]]) -> str:
    """`[[3, 4, 2, 1], [2, 1, 3, 4]]`: `str()` of a Python list of int rows (docs/protocols.md §2)."""
    return str([[int(v) for v in row] for row in grid])


def final_answer(grid: Sequence[Sequence[int]]) -> str:
    """`<stop>⏎GRID⏎</stop>`: the master's final answer (docs/protocols.md §2)."""
    return "<stop>\n" + render_grid(grid) + "\n</stop>"


def parse_clue_map(text: str) -> dict[Cell, int]:
    """Single-valued entries of a clue map; entries listed twice keep the last value."""
    return {(int(r), int(c)): int(v) for r, c, v in CLUE_RE.findall(text)}


def parse_candidate_map(text: str) -> dict[Cell, set[int]]:
    """Entries with any number of values (e.g. the serial trace's candidate maps)."""
    out: dict[Cell, set[int]] = {}
    for r, c, vals in ENTRY_RE.findall(text):
        out[(int(r), int(c))] = {int(v) for v in vals.replace(",", " ").split()}
    return out


def parse_grid(text: str) -> Grid | None:
    """The first list of int rows in `text` (`[[1, 2], [2, 1]]`, any whitespace), else None.

    Shape is not checked here: scoring compares against the solution and reports the mismatch.
    """
    m = _GRID_RE.search(text)
    if m is None:
        return None
    rows = []
    for body in _ROW_RE.findall(m.group(1)):
        toks = body.replace(",", " ").split()
        rows.append([int(t) for t in toks])
    return rows


def infer_size(bound: int, max_id: int = 0) -> int:
    """Smallest N = n² with N ≥ bound and N² ≥ max_id.

    `bound` is the largest of row+1, col+1 and value seen in the text. Policies see only text,
    and the givens do not state N. This is exact for every puzzle with a unique solution: such a
    puzzle shows at least N-1 distinct digits (two missing digits could be swapped), so its
    largest value is ≥ N-1 > (n-1)², which rules out every smaller square.
    """
    n = isqrt(bound - 1) + 1 if bound > 1 else 1
    while n**4 < max_id:
        n += 1
    return n * n
