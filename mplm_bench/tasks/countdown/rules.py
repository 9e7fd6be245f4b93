"""Countdown's moves, search nodes and heuristics, as APR defines them.

Reproduces `src/countdown_utils.py` of Parallel-Reasoning/APR (commit 5577928): `combine_nums`
(which results a pair of numbers yields, and how the operation is written), `CountdownNode` and
the two heuristics. The details that shape the traces are kept on purpose: subtraction and
division always put the larger number first, division only when exact, nodes compare by
heuristic alone (ties keep insertion order in sorts and fall to heap order in `heapq`).
"""

from __future__ import annotations

import functools
import math
from typing import Any


def combine_nums(a: int, b: int) -> list[tuple[int, str]]:
    """Every (result, operation text) of one pair, in upstream's order: +, *, then - and /."""
    a, b = int(a), int(b)
    out = [(a + b, f"{a}+{b}={a + b}"), (a * b, f"{a}*{b}={a * b}")]
    if a <= b:
        out.append((b - a, f"{b}-{a}={b - a}"))
        if a != 0 and b % a == 0:
            out.append((b // a, f"{b}/{a}={b // a}"))
    else:
        out.append((a - b, f"{a}-{b}={a - b}"))
        if b != 0 and a % b == 0:
            out.append((a // b, f"{a}/{b}={a // b}"))
    return out


class Node:
    """A search state: the numbers left and the operations that led there (`CountdownNode`)."""

    __slots__ = ("idx", "parent", "nums", "operations", "heuristic")

    def __init__(self, idx: Any, parent: Node | None, nums: list[int], operations: list[str],
                 heuristic: float) -> None:
        self.idx = idx
        self.parent = parent
        self.nums = nums
        self.operations = operations
        self.heuristic = heuristic

    def __lt__(self, other: Node) -> bool:  # by heuristic only, exactly as upstream
        return self.heuristic < other.heuristic


@functools.lru_cache(maxsize=4096)
def _factors(target: int) -> tuple[int, ...]:
    """Upstream's `[i for i in range(2, target + 1) if target % i == 0]`, in O(sqrt(target));
    a target without such factors (0, 1) is its own, where upstream's min() of nothing raises."""
    small = [i for i in range(2, math.isqrt(max(target, 0)) + 1) if target % i == 0]
    out = sorted({*small, *(target // i for i in small), *([target] if target >= 2 else [])})
    return tuple(out) or (target,)


def mult_heuristic(nums: list[int], target: int) -> int:
    """Distance of each number to the nearest factor of the target, summed (upstream's default)."""
    factors = _factors(target)
    return sum(min(abs(n - f) for f in factors) for n in nums)


def sum_heuristic(nums: list[int], target: int) -> float:
    if len(nums) == 1:
        return abs(nums[0] - target)
    return sum(abs(n - target) for n in nums) / len(nums)


HEURISTICS = {"mult_heuristic": mult_heuristic, "sum_heuristic": sum_heuristic}
