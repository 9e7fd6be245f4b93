"""DPLL as the published SAT traces do it: unit propagation to a fixpoint, then branch.

Every choice here fixes what a trace says, so it follows the MPLM paper's trace programs
(arXiv 2607.01077, docs/protocols.md §3) rule for rule: the forced literal is always the one of the
*first* unit clause in clause order; the empty formula is checked before an empty clause, and both
before each propagation; the branch variable is the smallest one still in the formula; clause
order and literal order are kept when simplifying. Each node starts from its own formula and an
empty assignment (a thread knows only its prompt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mplm_bench.tasks.sat.formula import Formula


def assign(clauses: Sequence[Sequence[int]], var: int, value: bool) -> Formula:
    """The formula with `var` set: satisfied clauses dropped, the false literal removed."""
    true_lit = var if value else -var
    out: Formula = []
    for c in clauses:
        if true_lit in c:
            continue
        out.append([x for x in c if x != -true_lit])
    return out


def decided(clauses: Sequence[Sequence[int]]) -> bool | None:
    """True for no clauses (SAT), False if a clause is empty (UNSAT), else None."""
    if not clauses:
        return True
    if any(not c for c in clauses):
        return False
    return None


@dataclass(frozen=True, slots=True)
class Propagation:
    clauses: Formula  # the simplified formula (holds the empty clause after a conflict)
    units: list[tuple[int, bool]]  # forced assignments, in the order they were made
    result: bool | None  # SAT / UNSAT when propagation decided the node, else None


def propagate(clauses: Sequence[Sequence[int]]) -> Propagation:
    """Unit propagation to a fixpoint (or until the node is decided)."""
    cur: Formula = [list(c) for c in clauses]
    units: list[tuple[int, bool]] = []
    seen: dict[int, bool] = {}
    while True:
        state = decided(cur)
        if state is not None:
            return Propagation(cur, units, state)
        lit = next((c[0] for c in cur if len(c) == 1), None)
        if lit is None:
            return Propagation(cur, units, None)
        var, value = abs(lit), lit > 0
        if seen.get(var, value) != value:  # cannot happen once var is simplified away; kept
            return Propagation([[]], units, False)  # for parity with the trace programs
        if var not in seen:
            seen[var] = value
            units.append((var, value))
        cur = assign(cur, var, value)


def branch_variable(clauses: Sequence[Sequence[int]]) -> int | None:
    """The smallest variable still in the formula."""
    return min((abs(x) for c in clauses for x in c), default=None)


def satisfies(clauses: Sequence[Sequence[int]], assignment: Mapping[int, bool]) -> bool:
    """Every clause has a literal made true; unassigned variables make nothing true.

    Checked clause by clause on purpose: `pysat.formula.CNF.satisfied()` raises in 1.9.dev17
    (/work/shared/NOTES.md).
    """
    for c in clauses:
        values = (assignment.get(abs(x)) for x in c)
        if not any(v is not None and bool(v) == (x > 0) for x, v in zip(c, values, strict=True)):
            return False
    return True


def solve(clauses: Sequence[Sequence[int]]) -> dict[int, bool] | None:
    """A satisfying (partial) assignment found by this DPLL, trying False first; None if UNSAT."""
    prop = propagate(clauses)
    if prop.result is not None:
        return dict(prop.units) if prop.result else None
    var = branch_variable(prop.clauses)
    assert var is not None  # an undecided formula has a literal
    for value in (False, True):
        sub = solve(assign(prop.clauses, var, value))
        if sub is not None:
            return {**dict(prop.units), var: value, **sub}
    return None


@dataclass(frozen=True, slots=True)
class TreeSize:
    """Nodes (DPLL calls, i.e. threads in fork-join/MPLM) of the search tree of a formula."""

    full: int  # both children of every branch: what fork-join expands
    first_sat: int  # depth-first, False before True, stopping at the first SAT leaf: serial CoT
    satisfiable: bool


def tree_size(clauses: Sequence[Sequence[int]]) -> TreeSize:
    prop = propagate(clauses)
    if prop.result is not None:
        return TreeSize(1, 1, prop.result)
    var = branch_variable(prop.clauses)
    assert var is not None
    lo = tree_size(assign(prop.clauses, var, False))
    hi = tree_size(assign(prop.clauses, var, True))
    first = 1 + lo.first_sat + (0 if lo.satisfiable else hi.first_sat)
    return TreeSize(1 + lo.full + hi.full, first, lo.satisfiable or hi.satisfiable)
