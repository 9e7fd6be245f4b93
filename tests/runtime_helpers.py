"""Scripted policies from a table, keyed by thread and step, for the runtime's semantics tests
(test_runtime, test_latency)."""

from __future__ import annotations

import re


def thread_of(prompt: str) -> str:
    m = re.match(r"Your id is: ([^.\n]+(?:\.[^.\n]+)*)\.\n", prompt)
    return m.group(1) if m else "0"


def scripted(script: dict[tuple[str, int], str]):
    """Policy from a table: (thread id, number of completed recvs in its prompt) -> response."""

    def policy(prompt: str) -> str:
        return script[(thread_of(prompt), prompt.count("</recv>"))]

    return policy
