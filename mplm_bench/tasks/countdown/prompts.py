"""Reading APR prompts back: the root and sub-search prefixes and the join blocks in a history."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mplm_bench.tasks.countdown.formats import END_JOIN, JOIN

_SUB_CALLS = re.compile(r"^Sub Call Budget: (\d+) ")
_TOKEN_BUDGET = re.compile(r"^Token Budget: (\d+) ")
_HEAD = re.compile(r"^(?:Moving to Node #([0-9,]+)\n)?Current State: (\d+):(\[[^\]]*\]), Operations: (\[[^\]]*\])")
_RESULT = re.compile(r"^<(No Solution|Goal Reached) in Sub Search (\d+) at level \d+ at Node #[0-9,]+>$")


@dataclass(frozen=True, slots=True)
class Head:
    """The state a search starts from, and the conditioning prefix in front of it."""

    budget: int | None  # Sub Call Budget (root) or Token Budget (sub search)
    body: str  # the prompt without the conditioning prefix
    node_id: str  # "0" for the root
    target: int
    nums: list[int]
    operations: list[str]
    key: str  # the state's two lines: what seeds the reference search


def read_head(prompt: str) -> Head:
    """Parse a root (`Sub Call Budget: N ` optional) or sub-search (`Token Budget: B ` optional)
    prompt; ValueError when it is neither."""
    budget = None
    m = _SUB_CALLS.match(prompt) or _TOKEN_BUDGET.match(prompt)
    if m:
        budget, prompt = int(m.group(1)), prompt[m.end():]
    h = _HEAD.match(prompt)
    if h is None:
        raise ValueError("not a Countdown search prompt")
    nums, ops = ast.literal_eval(h.group(3)), ast.literal_eval(h.group(4))
    return Head(budget, prompt, h.group(1) or "0", int(h.group(2)), list(nums), list(ops), h.group(0))


def read_join(text: str, start: int) -> tuple[list[str | None], int] | None:
    """The per-sub-search results of the join block at `start` (None: no solution), and where the
    block ends; None when no complete block starts there."""
    if not text.startswith(JOIN, start):
        return None
    end = text.find(END_JOIN, start)
    if end < 0:
        return None
    results: list[str | None] = []
    current: list[str] | None = None
    for line in text[start + len(JOIN):end].split("\n"):
        m = _RESULT.match(line)
        if m:
            if current is not None:
                results.append("\n".join(current))
            current = [] if m.group(1) == "Goal Reached" else None
            if current is None:
                results.append(None)
        elif current is not None and line:
            current.append(line)
    if current is not None:
        results.append("\n".join(current))
    return results, end + len(END_JOIN)
