"""Countdown instances from local files with APR's columns (`*_problems.json`, `val.json`).

A record needs `nums` (a list of positive integers) and `target` (an integer); APR's other
columns (`solution`, `start_size`, `optimal_path`, `search_path`, …) may be there; scoring does
not read them (it checks the answer's arithmetic). `id` is optional (default: `<file stem>-<record index>`). Accepted:
`.json` (an array, as APR writes it), `.jsonl`, `.parquet`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.files import file_rows, is_row_file
from mplm_bench.tasks.limits import MAX_COUNTDOWN_NUMBERS, MAX_COUNTDOWN_VALUE, within


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    nums: list[int]
    target: int
    solution: list[str] | None


def parse_record(where: str, raw: Any, default_id: str) -> Record:
    if not isinstance(raw, dict):
        raise TaskError(f"{where}: expected an object with `nums` and `target`")
    nums: Any = raw.get("nums")
    target: Any = raw.get("target")
    if hasattr(nums, "tolist"):
        nums = nums.tolist()
    if isinstance(nums, list) and len(nums) > MAX_COUNTDOWN_NUMBERS:  # the search grows as n!
        raise TaskError(f"{where}: {len(nums)} numbers; a problem has at most {MAX_COUNTDOWN_NUMBERS} numbers")
    if not isinstance(nums, list) or len(nums) < 2 or not all(within(n, 1, MAX_COUNTDOWN_VALUE) for n in nums):
        raise TaskError(f"{where}: `nums` must be a list of at least two integers in 1..{MAX_COUNTDOWN_VALUE:,}, "
                        f"got {str(nums)[:60]}")
    if not within(target, 0, MAX_COUNTDOWN_VALUE):
        raise TaskError(f"{where}: `target` must be in 0..{MAX_COUNTDOWN_VALUE:,}, got {str(target)[:40]}")
    solution = raw.get("solution")
    solution = list(solution) if isinstance(solution, list | tuple) else None
    return Record(str(raw.get("id", default_id)), list(nums), int(target), solution)


def read_source(source: str, n: int | None) -> list[Record]:
    path = Path(source)
    if not path.is_file() or not is_row_file(path):
        raise TaskError(f"countdown --data: {source} is not a .json, .jsonl or .parquet file")
    rows = file_rows(path)
    out = [parse_record(where, raw, f"{path.stem}-{i}")
           for i, (where, raw) in enumerate(itertools.islice(rows, n))]
    if not out:
        raise TaskError(f"countdown --data: {source} holds no records")
    return out
