"""Scripted reference policies: each reads only its thread's prompt text and writes the step.

What a thread can know from its prompt (the runtime builds it, docs/protocols.md §1):
- its id: `Your id is: W.⏎` opens a spawned thread's prompt; the root (`0`) has no such line;
- its parent: W without its last `.k` (children of W are W.0 / W.1, docs/protocols.md §3);
- its formula: the first clauses after the id line (the root's prompt is the bare formula);
- what it received: the lines of every `<recv…>⏎…⏎</recv>` block after its own first response.

A spawned prompt is `Your id is: W.⏎⏎F⏎` here (the body between the spawn tags, docs/protocols.md §1),
but `Your id is: W.⏎F` in the released trace programs; both read the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mplm_bench.runtime.protocol import MASTER_ID, read_worker_id, received_blocks
from mplm_bench.runtime.synthesis import is_synthesis
from mplm_bench.tasks.base import Policy
from mplm_bench.tasks.sat.formula import Formula, parse_formula
from mplm_bench.tasks.sat.synthesis import synthesis_policy
from mplm_bench.tasks.sat.traces import TRY_UNITS, WAIT, conclusion, first_step, serial_trace

_VERDICT = re.compile(r"^\W*(UNSAT|SAT)\b", re.I)


@dataclass(frozen=True, slots=True)
class ThreadView:
    thread_id: str
    parent: str | None
    formula_text: str  # the thread's formula as given (parse with `formula`)
    started: bool  # the prompt already holds this thread's first response
    received: tuple[bool, ...]  # every verdict received so far (True = SAT), in prompt order

    @property
    def formula(self) -> Formula:
        return parse_formula(self.formula_text)


def parent_of(thread_id: str) -> str | None:
    """`0.1.0` -> `0.1`, `0.1` -> `0`, the root -> None (an id without a dot -> the master)."""
    if thread_id == MASTER_ID:
        return None
    return thread_id.rsplit(".", 1)[0] if "." in thread_id else MASTER_ID


def read_prompt(prompt: str) -> ThreadView:
    wid, start = read_worker_id(prompt)
    thread_id, rest = (wid, prompt[start:]) if wid is not None else (MASTER_ID, prompt)
    cut = min((i for i in (rest.find(TRY_UNITS), rest.find("<")) if i >= 0), default=len(rest))
    formula, history = rest[:cut], rest[cut:]
    received = []
    for block in received_blocks(history):
        for line in block.splitlines():
            if v := _VERDICT.match(line):
                received.append(v.group(1).upper() == "SAT")
    return ThreadView(thread_id, parent_of(thread_id), formula, bool(history.strip()),
                      tuple(received))


def tree_policy(any_order: bool) -> Policy:
    """One DPLL node per thread. Fork-join (`any_order=False`) joins on both children and then
    concludes; MPLM (`any_order=True`) concludes SAT on the first `{SAT.}`, and after an
    `{UNSAT.}` alone writes `<recv>` again and decides on the second reply (docs/protocols.md §3)."""

    def policy(prompt: str) -> str:
        view = read_prompt(prompt)
        if not view.started:
            return first_step(view.formula, view.thread_id, view.parent, any_order)
        if any(view.received):
            return conclusion(True, view.parent)
        if any_order and len(view.received) < 2:
            return WAIT
        return conclusion(False, view.parent)

    return policy


def serial_policy(prompt: str) -> str:
    """The whole serial-CoT response for the formula in the (root) prompt; or, given a PaCoRe
    synthesis prompt (whose original problem is the formula), the synthesizer's answer."""
    if is_synthesis(prompt):
        return synthesis_policy(prompt)
    return serial_trace(read_prompt(prompt).formula)


POLICIES: dict[str, Policy] = {
    "serial": serial_policy,
    "fj": tree_policy(any_order=False),
    "mplm": tree_policy(any_order=True),
}
