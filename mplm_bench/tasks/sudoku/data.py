"""Loading Sudoku instances from JSONL / JSON / Parquet files and Hugging Face datasets.

Every record is validated (shape, value range, a valid solution that agrees with the givens), and
any problem raises `TaskError` naming the file and the line or record, because a silently
skipped or misread puzzle would corrupt a benchmark's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from math import isqrt
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.files import dataset_rows, file_rows

# Field names accepted for the two grids: ours first, then common public-dataset spellings
# (`original` is the MPLM trace programs' name; `question`/`answer` is sapientinc/sudoku-extreme).
PUZZLE_KEYS = ("puzzle", "original", "question", "quizzes", "initial_board")
SOLUTION_KEYS = ("solution", "answer", "solutions")
DEFAULT_SPLIT = "test"


@dataclass(frozen=True, slots=True)
class Record:
    id: str | None
    puzzle: list[list[int]]
    solution: list[list[int]]


def load_source(source: str, n: int | None = None) -> list[Record]:
    """A local file if `source` exists, else a hub dataset spec `owner/name[/config][:split]`."""
    path = Path(source).expanduser()
    if path.exists():
        return load_file(path, n)
    if source.count("/") in (1, 2) and not source.startswith((".", "/", "~")):
        return load_hub(source, n)
    raise TaskError(f"sudoku: no such file {source!r} (and not a hub dataset id owner/name)")


def load_file(path: Path, n: int | None = None) -> list[Record]:
    return _collect(file_rows(path), n)


def load_hub(spec: str, n: int | None = None) -> list[Record]:
    """`owner/name[/config][:split]` through `datasets` (split defaults to `test`)."""
    name, _, split = spec.partition(":")
    parts = name.split("/")
    repo, config = "/".join(parts[:2]), (parts[2] if len(parts) > 2 else None)
    split = split or DEFAULT_SPLIT
    return _collect(dataset_rows("sudoku", spec, repo, config, split), n)


def _collect(rows: Iterable[tuple[str, Any]], n: int | None) -> list[Record]:
    out: list[Record] = []
    seen: dict[str, str] = {}
    for where, rec in islice(rows, n):
        r = parse_record(rec, where)
        if r.id is not None:
            if r.id in seen:
                raise TaskError(f"{where}: duplicate id {r.id!r} (first at {seen[r.id]})")
            seen[r.id] = where
        out.append(r)
    return out


def parse_record(rec: Any, where: str) -> Record:
    if not isinstance(rec, dict):
        raise TaskError(f"{where}: expected an object with `puzzle` and `solution`")
    pkey = next((k for k in PUZZLE_KEYS if k in rec), None)
    skey = next((k for k in SOLUTION_KEYS if k in rec), None)
    if pkey is None or skey is None:
        raise TaskError(f"{where}: missing field `puzzle` or `solution`")
    puzzle = _grid(rec[pkey], where, pkey, blank_ok=True)
    solution = _grid(rec[skey], where, skey, blank_ok=False)
    if len(puzzle) != len(solution):
        raise TaskError(f"{where}: puzzle is {len(puzzle)}×{len(puzzle)}, solution {len(solution)}")
    check_solution(puzzle, solution, where)
    check_unique(puzzle, solution, where)
    rid = rec.get("id")
    return Record(None if rid is None else str(rid), puzzle, solution)


def _grid(value: Any, where: str, key: str, blank_ok: bool) -> list[list[int]]:
    """An N×N list of ints, or a string of N² characters (`.`/`0` blank, digits, N ≤ 9)."""
    if isinstance(value, str):
        s = value.strip()
        size = isqrt(len(s))
        if size * size != len(s) or not all(ch == "." or ch.isdigit() for ch in s):
            raise TaskError(f"{where}: `{key}` string is not N² digits/dots")
        cells = [0 if ch == "." else int(ch) for ch in s]
        value = [cells[r * size : (r + 1) * size] for r in range(size)]
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise TaskError(f"{where}: `{key}` must be a list of rows")
    size = len(value)
    n = isqrt(size)
    if n < 2 or n * n != size:
        raise TaskError(f"{where}: `{key}` has {size} rows; N must be a square ≥ 4 (4, 9, 16, 25)")
    lo = 0 if blank_ok else 1
    for r, row in enumerate(value):
        if len(row) != size:
            raise TaskError(f"{where}: `{key}` row {r} has {len(row)} cells, expected {size}")
        for c, v in enumerate(row):
            if type(v) is not int or not lo <= v <= size:
                raise TaskError(f"{where}: `{key}`[{r}][{c}] = {v!r} is not in {lo}..{size}")
    return [list(row) for row in value]


UNIQUE_CHECK_MAX_SIZE = 9  # python-sat proves uniqueness in ~1 ms at 9×9; 16×16 and up cost more


def check_unique(puzzle: list[list[int]], solution: list[list[int]], where: str) -> None:
    """A puzzle must have one solution: with several, a right answer scores as wrong, and the
    reference policies (which infer N from the givens, formats.infer_size) answer nonsense (an
    all-blank 4×4 got `[[1]]`). Every size: the givens show at least N-1 distinct digits (else
    two missing digits swap); up to 9×9 also proved with python-sat."""
    size = len(puzzle)
    digits = {v for row in puzzle for v in row if v}
    if len(digits) < size - 1:
        raise TaskError(f"{where}: puzzle has {sum(map(bool, sum(puzzle, [])))} givens with "
                        f"{len(digits)} distinct digits, so it has more than one solution (a "
                        f"{size}×{size} puzzle needs at least {size - 1})")
    if size <= UNIQUE_CHECK_MAX_SIZE and _checker(size).is_unique(puzzle, solution) is False:
        raise TaskError(f"{where}: puzzle has more than one solution (its `solution` is "
                        "one of them); a benchmark puzzle needs exactly one")


@lru_cache(maxsize=2)
def _checker(size: int) -> Any:
    import atexit

    from mplm_bench.tasks.sudoku.uniqueness import ManyUniquenessChecker

    checker = ManyUniquenessChecker(size)
    atexit.register(checker.close)  # before interpreter teardown, where pysat's __del__ fails
    return checker


def check_solution(puzzle: list[list[int]], solution: list[list[int]], where: str) -> None:
    """The solution must be a valid Sudoku and agree with every given."""
    size = len(solution)
    n = isqrt(size)
    want = set(range(1, size + 1))
    groups = [(f"row {k}", solution[k]) for k in range(size)]
    groups += [(f"column {k}", [row[k] for row in solution]) for k in range(size)]
    groups += [
        (
            f"box {k}",
            [solution[(k // n) * n + a][(k % n) * n + b] for a in range(n) for b in range(n)],
        )
        for k in range(size)
    ]
    for label, vals in groups:
        if set(vals) != want:
            raise TaskError(f"{where}: solution {label} is not a permutation of 1..{size}")
    for r in range(size):
        for c in range(size):
            if puzzle[r][c] and puzzle[r][c] != solution[r][c]:
                raise TaskError(
                    f"{where}: solution contradicts the puzzle at ({r},{c}): "
                    f"{solution[r][c]} vs given {puzzle[r][c]}"
                )
