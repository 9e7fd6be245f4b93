"""Bounds on what one `--data` record may hold, shared by the tasks' loaders (issue 39.4).

A number in a record can size an allocation (python-sat allocates per variable up to the largest
one: 10^9 is 24 GB) or a search (a Countdown target's factors, a Countdown search over n numbers
grows as n!): a record beyond these bounds is refused with one line that names the bound, before
anything runs. The bounds are far above what the benchmarks hold (SAT: hundreds of variables;
Countdown: 3–6 numbers, targets up to 10^4).
"""

from __future__ import annotations

from typing import Any

from mplm_bench.tasks.base import TaskError

# JSON nesting of one record: far beyond any task's layout (a Sudoku grid is 2 deep), well within
# what the loaders (and repr, in error lines) walk without hitting Python's recursion limit
MAX_RECORD_DEPTH = 64
MAX_SAT_VARS = 1_000_000  # python-sat: about 24 bytes a variable up to the largest
MAX_COUNTDOWN_NUMBERS = 6  # the generator's `numbers` bound; the reference search grows as n!
MAX_COUNTDOWN_VALUE = 1_000_000  # numbers and target; the heuristic factors the target


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def within(value: Any, low: int, high: int) -> bool:
    """An int (not a bool) in low..high."""
    return is_int(value) and low <= value <= high


def check_depth(obj: Any, where: str, limit: int = MAX_RECORD_DEPTH) -> None:
    """Refuse a record nested deeper than `limit` (without recursion: the check must not be what
    overflows the stack)."""
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise TaskError(f"{where}: the record is nested more than {limit} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item if isinstance(v, list | tuple | dict))
