"""Countdown instances as APR generates them (`src/data/countdown.py`, `generate_problems.py`
of Parallel-Reasoning/APR, commit 5577928).

One `random.Random(seed)` stream draws, per problem in order: the count of numbers
(`randint(min_numbers, numbers)`, drawn even when the two are equal), the target
(`choice(range(10, max_target + 1))`), then lists of numbers in [1, max_target - 1] until the
exhaustive search finds a solution. That is upstream's stream with `--num_workers 1` (its pool
forks after seeding; more workers interleave the stream), so `--seed 42 -T numbers=4` gives the
problems of `create_prob.sh` (tests/tasks/test_countdown_golden.py checks the first ones).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from mplm_bench.tasks.countdown.rules import combine_nums

MIN_TARGET = 10  # CountDown's default min_target; generate_problems draws targets from 10 up


@dataclass(frozen=True, slots=True)
class Problem:
    nums: list[int]
    target: int
    solution: list[str]
    start_size: int

    @property
    def optimal_path(self) -> str:
        return convert_to_path(self.target, self.nums, self.solution)

    def record(self) -> dict:
        """The columns of APR's `*_problems.json`."""
        return {"nums": self.nums, "target": self.target, "solution": self.solution,
                "optimal_path": self.optimal_path, "start_size": self.start_size}


def solve(target: int, nums: list[int], ops: list[str] | None = None) -> list[str] | None:
    """The first solution of upstream's depth-first `CountDown.search`, or None."""
    ops = ops or []
    if len(nums) == 1:
        return ops if nums[0] == target else None
    for i, j in itertools.combinations(range(len(nums)), 2):
        rest = [nums[k] for k in range(len(nums)) if k != i and k != j]
        for result, op in combine_nums(nums[i], nums[j]):
            found = solve(target, [*rest, result], [*ops, op])
            if found is not None:
                return found
    return None


def generate(rng: random.Random, count: int, numbers: int, min_numbers: int, max_target: int) -> list[Problem]:
    targets = list(range(MIN_TARGET, max_target + 1))
    out = []
    for _ in range(count):
        size = rng.randint(min_numbers, numbers)
        target = rng.choice(targets)
        while True:
            nums = [rng.randint(1, max_target - 1) for _ in range(size)]
            solution = solve(target, nums)
            if solution is not None:
                break
        out.append(Problem(nums, target, solution, size))
    return out


def convert_to_path(target: int, nums: list[int], operations: list[str]) -> str:
    """The no-backtracking trace of a solution (`CountDown.convert_to_path`), kept as APR's
    `optimal_path` column; upstream's quirks kept (a used value is removed with all its copies)."""
    explored: list[str] = []
    out = f"Current State: {target}:{nums}, Operations: {explored}\n"
    node = 1
    for op in operations:
        lhs = op.split("=")[0]
        sym = next(s for s in "+-*/" if s in lhs)
        i, j = (int(x) for x in lhs.split(sym))
        result = {"+": i + j, "-": i - j, "*": i * j, "/": i / j}[sym]
        nums = [int(n) for n in nums if n != i and n != j] + [int(result)]
        out += f"Exploring Operation: {op}, Resulting Numbers: {nums}\n"
        if len(nums) == 1:
            out += f"{nums[0]},{target} equal: Goal Reached\n"
        else:
            node += 1
            out += f"Generated Node #{node}: {nums} from Operation: {op}\n"
            explored.append(op)
            out += f"Current State: {target}:{nums}, Operations: {explored}\n"
    return out
