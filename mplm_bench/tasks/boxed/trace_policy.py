"""Scripted reference policies for the continuation dialects, from one whole trace per problem.

A task writes the complete trace a model would write for a problem in one dialect (trunk, blocks,
threads); this turns it into a `Policy` that answers any step of that dialect's controller from
the step's text alone (`Request.policy_text`: the user text, the marker, the assistant text so
far). The backend then cuts the answer at the step's stop string, as an engine would:

- a branch (its assistant text ends with the branch header) gets that branch's body from the
  block the trunk is in, up to and including the branch's close tag;
- any other step continues the trace after the assistant text's last tag: the k-th occurrence of
  that tag in the trace, where the assistant text holds k of them (so a join whose branches differ
  from the trace's, e.g. Parallel-R1's paths, still finds its place).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from mplm_bench.runtime.prompt_kinds import split_continuation

_TAG = re.compile(r"</?[A-Za-z]+>")


@dataclass(frozen=True, slots=True)
class BranchRule:
    header: re.Pattern[str]  # matches the branch header at the end of the assistant text
    block: str  # the tag that opens the current block's branches (counted, like the anchor)
    open: str  # the branch's header in the trace ({n}: its number, when the header has one)
    close: str


BRANCHES: dict[str, BranchRule] = {
    "threadweaver": BranchRule(re.compile(r"<Thread>\n([0-9.]+):\Z"), "</Outlines>", "<Thread>\n{n}:", "</Thread>"),
    # Multiverse-Engine's path header (schedule_batch.py filter_batch: f"\n<Path>\n{e}")
    "multiverse": BranchRule(re.compile(r"\n<Path>\n([0-9]+(?:\.[0-9]+)*):\Z"), "</Goal>", "\n<Path>\n{n}:",
                             "</Path>"),
    "parallel-r1": BranchRule(re.compile(r"<Path>()\Z"), "<Parallel>", "<Path>", "</Path>"),
}


def _nth(text: str, needle: str, k: int) -> int:
    """Index just after the k-th occurrence of `needle` (k >= 1), or -1."""
    at = -1
    for _ in range(k):
        at = text.find(needle, at + 1)
        if at < 0:
            return -1
    return at + len(needle)


def continue_trace(trace: str, assistant: str, rule: BranchRule | None) -> str:
    """What comes next in `trace` after `assistant` (empty: nothing fits, the model ends)."""
    if rule is not None and (m := rule.header.search(assistant)):
        start = _nth(trace, rule.block, assistant.count(rule.block))
        head = trace.find(rule.open.format(n=m.group(1)), start) if start >= 0 else -1
        if head < 0:
            return ""
        body = head + len(rule.open.format(n=m.group(1)))
        end = trace.find(rule.close, body)
        return trace[body:] if end < 0 else trace[body:end + len(rule.close)]
    tags = list(_TAG.finditer(assistant))
    if not tags:
        return trace[len(assistant):] if trace.startswith(assistant) else ""
    last = tags[-1]
    tail = assistant[last.end():]
    at = _nth(trace, last.group(), assistant.count(last.group()))
    if at < 0 or not trace.startswith(tail, at):
        return ""
    return trace[at + len(tail):]


def trace_policy(write: Callable[[str], str], dialect: str) -> Callable[[str], str]:
    """A Policy over `write(user text) -> whole trace` for `dialect` (serial: the trace)."""
    rule = BRANCHES.get(dialect)
    cached = lru_cache(maxsize=64)(write)

    def policy(text: str) -> str:
        user, assistant = split_continuation(text)
        trace = cached(user)
        return trace if assistant is None else continue_trace(trace, assistant, rule)

    return policy
