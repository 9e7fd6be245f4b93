"""Score a Countdown answer by checking the arithmetic, not a label.

The answer is the solution path a search ends with (`Exploring Operation: a?b=c, Resulting
Numbers: […]` lines, as `check_solution` in APR's `src/eval/parallel_infernce_utils.py` reads it)
or a bare expression such as `(3+5)*2`. Either way: every given number is used exactly once, each
step's arithmetic is exact over the rationals (a division must come out whole, as Countdown's rules
and APR's `combine_nums` have it), the stated results and number lists agree, and the last number
is the target. `parsed` is the expression the path builds, so answers can be compared.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

from mplm_bench.tasks.base import Score

_STEP = re.compile(r"Exploring Operation:\s*(\d+)\s*([+\-*/])\s*(\d+)\s*=\s*(-?\d+),\s*Resulting Numbers:\s*\[([^\]]*)\]")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: a / b if b else None}
_AST_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _wrong(reason: str, parsed: str | None = None) -> Score:
    return Score(correct=False, score=0.0, parsed=parsed, extra={"reason": reason})


def _take(pool: list[tuple[Fraction, str]], value: int) -> str | None:
    for k, (v, expr) in enumerate(pool):
        if v == value:
            del pool[k]
            return expr
    return None


def check_path(nums: list[int], target: int, path: str) -> Score:
    steps = _STEP.findall(path)
    if not steps:
        return _wrong("no operations in the answer")
    pool = [(Fraction(n), str(n)) for n in nums]
    for a, op, b, c, listed in steps:
        x, y, z = int(a), int(b), int(c)
        ex = _take(pool, x)
        ey = _take(pool, y)
        if ex is None or ey is None:
            return _wrong(f"{a}{op}{b}: {x if ex is None else y} is not available")
        value = _OPS[op](Fraction(x), Fraction(y))
        if value is None or value != z or value.denominator != 1:
            return _wrong(f"{a}{op}{b}={c} is wrong arithmetic")
        pool.append((value, f"({ex}{op}{ey})"))
        stated = Counter(int(t) for t in listed.split(",") if t.strip())
        if stated != Counter(int(v) for v, _ in pool):
            return _wrong(f"after {a}{op}{b}={c} the numbers left are not [{listed}]")
    expr = pool[0][1][1:-1] if len(pool) == 1 and pool[0][1].startswith("(") else pool[0][1]
    if len(pool) != 1:
        return _wrong(f"{len(pool)} numbers left unused", expr)
    if pool[0][0] != target:
        return _wrong(f"reaches {pool[0][0]}, not {target}", expr)
    return Score(correct=True, score=1.0, parsed=expr, extra={"reason": "ok"})


def _eval(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
        left, right = _eval(node.left, used), _eval(node.right, used)
        if isinstance(node.op, ast.Div) and (right == 0 or (left / right).denominator != 1):
            raise ValueError("a division must come out whole")
        return _OPS[_AST_OPS[type(node.op)]](left, right)
    raise ValueError("only integers, + - * / and parentheses are allowed")


def check_expression(nums: list[int], target: int, text: str) -> Score:
    expr = text.strip().split("=")[0].strip()
    try:
        used: list[int] = []
        value = _eval(ast.parse(expr, mode="eval").body, used)
    except (SyntaxError, ValueError, RecursionError) as e:
        return _wrong(f"not an arithmetic expression ({e})")
    if Counter(used) != Counter(nums):
        return _wrong(f"uses {sorted(used)}, the numbers are {sorted(nums)}", expr)
    if value != target:
        return _wrong(f"evaluates to {value}, not {target}", expr)
    return Score(correct=True, score=1.0, parsed=expr, extra={"reason": "ok"})


def score_answer(nums: list[int], target: int, answer: str | None) -> Score:
    if answer is None or not answer.strip():
        return _wrong("no solution given")
    if "Exploring Operation" in answer:
        return check_path(nums, target, answer)
    return check_expression(nums, target, answer.strip().splitlines()[-1])
