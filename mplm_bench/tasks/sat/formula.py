"""Formula text of the published SAT traces: `( 7 ∨ ¬ 4 ∨ 1 ) ∧ ( 2 ∨ 3 ∨ ¬ 5 )`.

A formula is a list of clauses, a clause a list of non-zero ints (DIMACS signs). Rendering is an
interface: the released MPLM checkpoints (arXiv 2607.01077, docs/protocols.md §3) were trained on
exactly these characters. Parsing is lenient, because it reads what a thread was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Clause = list[int]
Formula = list[list[int]]

# docs/protocols.md §3 / the MPLM paper's trace programs: clauses `( a ∨ b ∨ c )` joined by ` ∧ `,
# a negated literal is `¬ ` followed by the variable number.
AND = " ∧ "
OR = " ∨ "
NOT = "¬ "
# What the published serial program prints for a formula with no clauses left; the fork-join
# and MPLM programs print the empty string there (so a spawn body is then `⏎⏎`).
SERIAL_EMPTY = "TRUE"

_GROUP = re.compile(r"\(([^()]*)\)")
_LITERAL = re.compile(r"([¬~!\-])?\s*[xX]?(\d+)")


def render_literal(lit: int) -> str:
    return str(lit) if lit > 0 else NOT + str(-lit)


def render_clause(clause: Sequence[int]) -> str:
    """`( 7 ∨ ¬ 4 ∨ 1 )`; an empty clause is `(  )` (two spaces), as the trace programs print it."""
    return "( " + OR.join(render_literal(x) for x in clause) + " )"


def render_formula(clauses: Iterable[Sequence[int]], empty: str = "") -> str:
    """Clauses joined by ` ∧ `; `empty` is what a formula without clauses renders as."""
    text = AND.join(render_clause(c) for c in clauses)
    return text or empty


def parse_formula(text: str) -> Formula:
    """Clauses in order from `( 7 ∨ ¬ 4 ∨ 1 ) ∧ …`; `TRUE` or text without clauses is [].

    Lenient: `¬4`, `-4`, `~4` and `x4` are read too, and any separator between literals works;
    a literal 0 (not a variable) is skipped.
    """
    out: Formula = []
    for body in _GROUP.findall(text):
        clause = []
        for sign, num in _LITERAL.findall(body):
            v = int(num)
            if v:
                clause.append(-v if sign else v)
        out.append(clause)
    return out


def variables(clauses: Iterable[Iterable[int]]) -> list[int]:
    """The variables occurring in the clauses, ascending."""
    return sorted({abs(x) for c in clauses for x in c})


def num_vars(clauses: Iterable[Iterable[int]]) -> int:
    """The largest variable number (0 for a formula without literals)."""
    return max((abs(x) for c in clauses for x in c), default=0)
