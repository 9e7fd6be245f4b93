"""The step texts of the published SAT traces, byte for byte.

Source: docs/protocols.md §3, resolved against the trace programs released with the MPLM paper's
checkpoints (arXiv 2607.01077): the fork-join and MPLM generators (one thread = one DPLL node)
and the serial-CoT generator (one response). The released checkpoints were trained on these
strings, so they are an interface: every literal below is reproduced, not designed.
"""

from __future__ import annotations

from collections.abc import Sequence

from mplm_bench.runtime.protocol import render_recv
from mplm_bench.tasks.sat.dpll import assign, branch_variable, propagate
from mplm_bench.tasks.sat.formula import SERIAL_EMPTY, render_formula

# --- fork-join and MPLM threads (docs/protocols.md §3; arXiv 2607.01077 trace programs) ----------
TRY_UNITS = "Try unit propagation."  # first line of every thread's first step
NO_UNITS = "No unit clauses."  # ... when propagation forced nothing
CONCLUSION = "Conclusion for this subproblem: "  # + `SAT.` / `UNSAT.` (non-root aggregation)
WAIT = render_recv()  # MPLM: a first `{UNSAT.}` arrived alone; wait for the sibling
SAT, UNSAT = "SAT.", "UNSAT."  # the only verdicts and message payloads (`{SAT.}` on the wire)


def verdict(sat: bool) -> str:
    return SAT if sat else UNSAT


def unit_line(var: int, value: bool) -> str:
    """`- Unit: x4 = False` (docs/protocols.md §3)."""
    return f"- Unit: x{var} = {value}"


def report(sat: bool, parent: str | None) -> str:
    """How a thread ends: `<send [P]>{SAT.}</send> <stop>` (a space before `<stop>`), or the
    root's final answer `<stop>SAT.</stop>` (docs/protocols.md §3)."""
    if parent is None:
        return f"<stop>{verdict(sat)}</stop>"
    return f"<send [{parent}]>{{{verdict(sat)}}}</send> <stop>"


def recv_children(thread_id: str, any_order: bool) -> str:
    """FJ joins on both children, `<recv [W.0, W.1]>` (ids joined by `, `); MPLM takes any."""
    return WAIT if any_order else render_recv([f"{thread_id}.0", f"{thread_id}.1"], sep=", ")


def first_step(clauses: Sequence[Sequence[int]], thread_id: str, parent: str | None,
               any_order: bool) -> str:
    """A thread's first response: propagate, then report a leaf or spawn both branches.

    Branch text (docs/protocols.md §3): `Branch on xV.⏎<spawn [W.0]>⏎{F|V=False}⏎</spawn>⏎<spawn [W.1]>⏎
    {F|V=True}⏎</spawn>⏎` + the receive; child `W.0` takes V=False, `W.1` V=True. A formula with no
    clauses left renders empty (the spawn body is then `⏎⏎`).
    """
    prop = propagate(clauses)
    units = "\n".join(unit_line(v, b) for v, b in prop.units) or NO_UNITS
    head = f"{TRY_UNITS}\n{units}"
    if prop.result is not None:
        return f"{head}\nResult: {verdict(prop.result)}\n{report(prop.result, parent)}"
    var = branch_variable(prop.clauses)
    assert var is not None  # undecided formulas have a literal
    lo = render_formula(assign(prop.clauses, var, False))
    hi = render_formula(assign(prop.clauses, var, True))
    return "\n".join([
        head,
        f"Branch on x{var}.",
        f"<spawn [{thread_id}.0]>", lo, "</spawn>",
        f"<spawn [{thread_id}.1]>", hi, "</spawn>",
        recv_children(thread_id, any_order),
    ])


def conclusion(sat: bool, parent: str | None) -> str:
    """The aggregation step: `Conclusion for this subproblem: SAT.⏎<send [P]>{SAT.}</send> <stop>`;
    the root writes only `<stop>SAT.</stop>` (as in the trace programs)."""
    if parent is None:
        return report(sat, None)
    return f"{CONCLUSION}{verdict(sat)}\n{report(sat, parent)}"


# --- serial CoT (docs/protocols.md §3 "Serial"; arXiv 2607.01077 serial trace program) ------------
INDENT = "  "  # two spaces per depth level


def serial_trace(clauses: Sequence[Sequence[int]]) -> str:
    """The single serial response: depth-first DPLL, V=False (`=0`) before V=True (`=1`).

    Per node at depth d (every line indented by 2·d spaces): when propagation forced something,
    `Unit assignments: x2=False, x3=True`, `CNF:`, the simplified formula; then `Result: SAT.` /
    `Result: UNSAT.` for a decided node, or `Branch on xV.` followed, for each value, by
    `Branch xV=0`, `CNF:`, the formula with that value (children at depth d+1), and after two
    failures `Both branches failed for xV. UNSAT.`. Lines are joined by `⏎`; the response ends
    `⏎<stop>SAT.</stop>` or `⏎<stop>UNSAT.</stop>`. A formula with no clauses prints as `TRUE`.
    """
    lines: list[str] = []

    def cnf(pad: str, f: Sequence[Sequence[int]]) -> None:
        lines.append(f"{pad}CNF:")
        lines.append(pad + render_formula(f, empty=SERIAL_EMPTY))

    def node(f: Sequence[Sequence[int]], depth: int) -> bool:
        pad = INDENT * depth
        prop = propagate(f)
        if prop.units:
            lines.append(pad + "Unit assignments: " + ", ".join(f"x{v}={b}" for v, b in prop.units))
            cnf(pad, prop.clauses)
        if prop.result is not None:
            lines.append(f"{pad}Result: {verdict(prop.result)}")
            return prop.result
        var = branch_variable(prop.clauses)
        assert var is not None
        lines.append(f"{pad}Branch on x{var}.")
        for value in (False, True):
            sub = assign(prop.clauses, var, value)
            lines.append(f"{pad}Branch x{var}={int(value)}")
            cnf(pad, sub)
            if node(sub, depth + 1):
                return True
        lines.append(f"{pad}Both branches failed for x{var}. UNSAT.")
        return False

    sat = node(clauses, 0)
    return "\n".join(lines) + "\n" + report(sat, None)
