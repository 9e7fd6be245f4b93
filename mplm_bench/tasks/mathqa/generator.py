"""Offline math problems: signed sums of two-digit products, optionally divided, exact answers.

`Compute 12 × 34 + 56 × 78 − 91 × 23.` or `Compute (12 × 34 − 56 × 78) ÷ 6.`; the answer is an
integer or a reduced fraction (`\\frac{-1939}{3}`), so grading exercises math-verify's LaTeX
parsing. The products are independent steps, the parts the parallel traces give to threads.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

from mplm_bench.tasks.boxed.arithmetic import partial
from mplm_bench.tasks.boxed.task import wrap

_TERM = re.compile(r"([+−-])?\s*(\d+) × (\d+)")
_DIVISOR = re.compile(r"\) ÷ (\d+)\.")


def latex(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def problem(rng: random.Random, terms: int) -> tuple[str, Fraction]:
    parts, total = [], 0
    for i in range(terms):
        x, y = rng.randrange(11, 100), rng.randrange(11, 100)
        sign = 1 if i == 0 or rng.random() < 0.5 else -1
        total += sign * x * y
        parts.append(("" if i == 0 else (" + " if sign > 0 else " − ")) + f"{x} × {y}")
    expr = "".join(parts)
    divisor = rng.choice([1, 1, 2, 3, 4, 6, 7, 9])
    if divisor == 1:
        return f"Compute {expr}.", Fraction(total)
    return f"Compute ({expr}) ÷ {divisor}.", Fraction(total, divisor)


def trace(protocol: str, text: str) -> str:
    terms = [(-1 if s in ("−", "-") else 1, int(x), int(y)) for s, x, y in _TERM.findall(text)]
    if not terms:
        return "I cannot work this problem out step by step."
    m = _DIVISOR.search(text)
    divisor = int(m.group(1)) if m else 1
    intro = f"The expression has {len(terms)} products. Compute each product, then combine them.\n"
    parts = []
    for _, x, y in terms:
        steps = [partial(x, int(d), p) for p, d in enumerate(reversed(str(y))) if d != "0"]
        work = " ".join(steps) + f" Adding: {x} × {y} = {x * y}."
        parts.append((f"{x} × {y}", work))
    values = [s * x * y for s, x, y in terms]
    total = sum(values)
    combined = " ".join(f"{'+' if v >= 0 else '−'} {abs(v)}" for v in values).lstrip("+ ")
    outro = f"Combining the products: {combined} = {total}.\n"
    answer = Fraction(total, divisor)
    if divisor != 1:
        outro += f"Dividing by {divisor}: {total} ÷ {divisor} = {latex(answer)}.\n"
    return wrap(protocol, intro, parts, outro + f"The answer is \\boxed{{{latex(answer)}}}.")
