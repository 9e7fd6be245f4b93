"""Worked multiplication: partial products by place value, each digit step written out.

The parts (one per nonzero digit of the second factor) are independent, which is what the
parallel dialects' threads take on; the trunk splits the factor and adds the partial products.
"""

from __future__ import annotations

import re

from mplm_bench.tasks.boxed.arithmetic import partial
from mplm_bench.tasks.boxed.task import wrap

PROBLEM = "Compute {a} × {b}."
_READ = re.compile(r"Compute (\d+) × (\d+)\.")


def trace(protocol: str, problem: str) -> str:
    m = _READ.search(problem)
    if m is None:
        return "I cannot read two factors in this problem."
    a, b = int(m.group(1)), int(m.group(2))
    digits = [(int(d), p) for p, d in enumerate(reversed(str(b))) if d != "0"] or [(0, 0)]
    digits.reverse()  # the largest place first, as a person writes it
    terms = " + ".join(str(d * 10**p) for d, p in digits)
    intro = f"To compute {a} × {b}, split {b} by place value: {b} = {terms}. Multiply {a} by each part, then add.\n"
    parts = [(f"{a} × {d * 10**p}", partial(a, d, p)) for d, p in digits]
    products = [a * d * 10**p for d, p in digits]
    outro = (f"Adding the partial products: {' + '.join(map(str, products))} = {a * b}.\n"
             f"The answer is \\boxed{{{a * b}}}.")
    return wrap(protocol, intro, parts, outro)
