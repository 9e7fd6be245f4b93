"""A sample's branches, read back from its call rows alone (docs/metrics.md, Diversity and influence).

A *branch* is a thread that ended with an answer: its last call's `directives` say `stop` (what the
runtime itself parsed, tag grammar or dialect), and the answer is what the runtime took as the stop
body — the text inside `<stop>…</stop>`, or, for a plain-text dialect (a `\\boxed{}` trajectory, a
long-QA master), the response itself. A bare `<stop>` (an MPLM or fork-join worker that only sent
a message) is no answer: such a thread solved a sub-problem, not the task; so is an answer the
task cannot parse, once graded (`keep_answered`).

The *final* thread is the one whose answer is the sample's: the one root (no parent) that stopped;
a sample with several roots (self-consistency's vote) has none. Its *inputs* are the branches it
read (`consumed_from` of its calls); a vote's inputs are all branches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mplm_bench.runtime.protocol import stop_bodies

_STOP = re.compile(r"<\s*stop\s*>", re.I)
_SLOT = re.compile(r"^r(\d+)\.t(\d+)$")  # a trajectory of round r (strategies/trajectories.py)


def answer_text(response: str | None, directives: str | None) -> str | None:
    """The answer a stopping call gave, as the runtime read it; None when the call did not stop
    or stopped without a body."""
    if not response or "stop" not in (directives or "").split():
        return None
    if bodies := stop_bodies(response):  # linear in unclosed tags (runtime/protocol.py)
        return bodies[0].strip()
    if _STOP.search(response):
        return None  # a bare <stop>: the thread ended without an answer
    return response  # a dialect's stop: the response is the answer


@dataclass(slots=True)
class Branch:
    thread_id: str
    round: int
    answer: str | None  # raw answer text (see answer_text)
    response: str  # the answering call's whole response (for text similarity)
    consumed: tuple[str, ...] = ()  # threads whose messages or references it read, in order
    parsed: str | None = None  # the task's normalised answer (filled by an AnswerKey)
    correct: bool = False


@dataclass(slots=True)
class SampleBranches:
    instance_id: str
    repeat: int
    branches: dict[str, Branch] = field(default_factory=dict)  # thread id -> branch (answered)
    final: str | None = None  # the thread that gave the sample's answer (None: a vote)
    calls: list[dict[str, Any]] = field(default_factory=list)  # the sample's call rows, in order

    def keep_answered(self) -> None:
        """Drop graded branches whose answer the task could not parse: a sub-result (an APR sub
        search's trace, a long-QA worker's "not in my chunk"), not an answer to the task. The
        final thread stays: its grade is the sample's."""
        self.branches = {t: b for t, b in self.branches.items() if b.parsed is not None or t == self.final}

    def inputs(self) -> list[Branch]:
        """The branches the final answer was made from: what the final thread read, or, for a
        vote, every branch."""
        if self.final is None:
            return list(self.branches.values())
        read = self.branches[self.final].consumed if self.final in self.branches else ()
        return [self.branches[t] for t in read if t in self.branches and t != self.final]

    def prior(self, thread_id: str) -> Branch | None:
        """The same agent's previous answer: trajectory `r{k}.t{i}` follows `r{k-1}.t{i}`, as a
        debate agent follows its own previous turn; None when there is none."""
        m = _SLOT.match(thread_id)
        if m is None or int(m.group(1)) < 2:
            return None
        return self.branches.get(f"r{int(m.group(1)) - 1}.t{m.group(2)}")


def _ids(text: Any) -> list[str]:
    return [t for t in str(text or "").split(",") if t]


def sample_branches(calls: list[dict[str, Any]]) -> SampleBranches:
    """One sample's branches from its call rows (dicts with the calls columns; `response` needed)."""
    calls = sorted(calls, key=lambda c: int(c["call"]))
    first: dict[str, Any] = calls[0] if calls else {"instance_id": "", "repeat": 0}
    out = SampleBranches(str(first["instance_id"]), int(first["repeat"]), calls=calls)
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        by_thread.setdefault(str(c["thread_id"]), []).append(c)
    roots = []
    for tid, cs in by_thread.items():
        last = cs[-1]
        consumed = tuple(dict.fromkeys(x for c in cs for x in _ids(c.get("consumed_from"))))
        text = answer_text(last.get("response"), last.get("directives"))
        if text is not None:
            out.branches[tid] = Branch(tid, int(last["round"]), text, str(last.get("response") or ""),
                                       consumed)
        parent = last.get("parent_id")
        if parent is None or parent != parent or parent == "":  # None or NaN: a root
            roots.append(tid)
    answered_roots = [t for t in roots if t in out.branches]
    if len(roots) == 1 and answered_roots:
        out.final = answered_roots[0]
    return out
