"""The scripted PaCoRe synthesizer for 3-SAT: trust what can be checked, and only that.

The two verdicts are not equally checkable from text. A SAT claim is as good as its assignment,
and an assignment is checked clause by clause in moments; an UNSAT claim has no short certificate.
So the synthesizer reads each reference (in order) for an assignment: one written out in its final
answer (`x1=True, …`, as this synthesizer writes it), or else the path to the first
`Result: SAT.` leaf of a serial DPLL trace (its `Unit assignments` and `Branch xV=b` lines). The
first assignment that satisfies the formula settles it: SAT, whatever the reference concluded —
a careful reader believes the trace over a contradicting last line. Failing that, SAT claims are
discarded (none showed a model) and the UNSAT claims decide; when there are none either, the
synthesizer solves the formula itself (the serial trace). A plain majority vote would be weaker:
it lets unchecked SAT claims outvote the one checkable fact in the references.
"""

from __future__ import annotations

import re

from mplm_bench.runtime.protocol import stop_bodies
from mplm_bench.runtime.synthesis import parse_synthesis
from mplm_bench.tasks.sat.dpll import satisfies
from mplm_bench.tasks.sat.formula import Formula, parse_formula, render_clause, variables
from mplm_bench.tasks.sat.scoring import parse_answer
from mplm_bench.tasks.sat.traces import INDENT, serial_trace

_UNITS = re.compile(r"^( *)Unit assignments: (.*?)\s*$")
_BRANCH = re.compile(r"^( *)Branch x(\d+)=([01])\s*$")
_SAT_LEAF = re.compile(r"^( *)Result: SAT\.\s*$")
_PAIR = re.compile(r"x(\d+)=(True|False)")
FALLBACK = "No reference settles it, so I solve the formula myself."


def final_body(text: str) -> str | None:
    bodies = stop_bodies(text)  # model output: linear, however many tags are left open
    return bodies[-1] if bodies else None


def trace_assignment(text: str) -> dict[int, bool] | None:
    """The assignment on the path to the first `Result: SAT.` leaf of a serial trace, else None.

    Depth is the indentation (two spaces a level, docs/protocols.md §3): a node's `Unit assignments`
    line and its `Branch xV=b` choice are kept per depth, and a line at depth d closes everything
    deeper (the search has backtracked to d).
    """
    units: dict[int, dict[int, bool]] = {}
    branch: dict[int, tuple[int, bool]] = {}

    def close_below(d: int) -> None:
        for table in (units, branch):
            for k in [k for k in table if k > d]:
                del table[k]

    for line in text.splitlines():
        if m := _UNITS.match(line):
            d = len(m.group(1)) // len(INDENT)
            close_below(d)
            branch.pop(d, None)
            units[d] = {int(v): b == "True" for v, b in _PAIR.findall(m.group(2))}
        elif m := _BRANCH.match(line):
            d = len(m.group(1)) // len(INDENT)
            close_below(d)
            branch[d] = (int(m.group(2)), m.group(3) == "1")
        elif m := _SAT_LEAF.match(line):
            d = len(m.group(1)) // len(INDENT)
            out: dict[int, bool] = {}
            for k in range(d + 1):
                out.update(units.get(k, {}))
                if k < d and k in branch:
                    v, b = branch[k]
                    out[v] = b
            return out
    return None


def full(clauses: Formula, assignment: dict[int, bool]) -> dict[int, bool]:
    """Every variable of the formula assigned; ones the path left free (they no longer occurred)
    take False, which cannot unsatisfy a clause the path already satisfied."""
    return {v: assignment.get(v, False) for v in sorted(set(variables(clauses)) | set(assignment))}


def render_assignment(assignment: dict[int, bool]) -> str:
    return ", ".join(f"x{v}={b}" for v, b in sorted(assignment.items()))


def falsified(clauses: Formula, assignment: dict[int, bool]) -> list[int] | None:
    return next((c for c in clauses if not satisfies([c], assignment)), None)


def synthesis_policy(prompt: str) -> str:
    view = parse_synthesis(prompt)
    clauses = parse_formula(view.original)
    lines = []
    n_unsat = 0
    for i, ref in enumerate(view.references, 1):
        bad: list[int] | None = None
        ans = parse_answer(final_body(ref))
        explicit = ans.assignment if ans.assignment is not None and ans.consistent else None
        found = explicit if explicit is not None else trace_assignment(ref)
        claim = f"claims {ans.verdict}" if ans.verdict else "gives no verdict"
        if found is not None:
            model = full(clauses, found)
            bad = falsified(clauses, model)
            if bad is None:
                how = "" if ans.verdict == "SAT" else ", but its trace reaches a satisfying assignment"
                lines.append(f"Reference {i}: {claim}{how}; the assignment satisfies all "
                             f"{len(clauses)} clauses.")
                return "\n".join(lines) + f"\n<stop>SAT. Assignment: {render_assignment(model)}</stop>"
        if ans.verdict == "SAT":
            why = (f"its assignment falsifies {render_clause(bad)}" if found is not None and bad
                   else "it shows no satisfying assignment")
            lines.append(f"Reference {i}: claims SAT, but {why}.")
        else:
            n_unsat += ans.verdict == "UNSAT"
            lines.append(f"Reference {i}: {claim}.")
    if n_unsat:
        lines.append(f"No reference shows a satisfying assignment, and {n_unsat} conclude UNSAT.")
        return "\n".join(lines) + "\n<stop>UNSAT.</stop>"
    return "\n".join([*lines, FALLBACK]) + "\n" + serial_trace(clauses)
