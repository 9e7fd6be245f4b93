"""Search-tree nodes from a finished trace, as sample columns (`SATTask.trace_columns`).

A node is one DPLL call. In fork-join/MPLM a node is a thread: *expanded* once its first step
completed, *preempted* if that first step was aborted (threads preempted before they started are
not counted). In the serial trace a node is the root plus one per `Branch xV=0|1` line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from mplm_bench.runtime.protocol import MASTER_ID

_SERIAL_CHOICE = re.compile(r"^[ \t]*Branch x\d+=[01][ \t]*$", re.M)
_TRAJECTORY = re.compile(r"^r\d+\.t\d+$")  # strategies/trajectories.py
_LEAF = re.compile(r"^[ \t]*Result: (?:UN)?SAT\.", re.M)  # every serial trace decides a leaf


def serial_search_nodes(response: str) -> int:
    """Nodes a serial-CoT response visited (0 for an empty response)."""
    return 1 + len(_SERIAL_CHOICE.findall(response)) if response.strip() else 0


def _get(call: Any, key: str) -> Any:
    return call[key] if isinstance(call, dict) else getattr(call, key)


def thread_search_nodes(calls: Iterable[Any]) -> dict[str, int]:
    """`{"expanded": …, "preempted": …}` from a sample's call records (objects or row dicts with
    `thread_id`, `step` and `status`): threads whose first step completed, and threads whose first
    step was cut short."""
    expanded: set[str] = set()
    preempted: set[str] = set()
    for c in calls:
        if _get(c, "step") == 0:
            (expanded if _get(c, "status") == "ok" else preempted).add(_get(c, "thread_id"))
    return {"expanded": len(expanded), "preempted": len(preempted - expanded)}


def search_columns(calls: Sequence[Any]) -> dict[str, int]:
    """Sample columns: `search_nodes` (DPLL nodes expanded) and `preempted_nodes` (threads cut
    during their first step). A sample whose only thread is the master is read as a serial trace
    (a fork-join/MPLM root decided by propagation alone counts 1 either way); a sample of
    independent trajectories (PaCoRe, self-consistency: ids `r1.t0`, …) as the sum of the serial
    traces among them (a synthesizer that only checked references searched nothing)."""
    if calls and all(_TRAJECTORY.match(_get(c, "thread_id")) for c in calls):
        traces = (_get(c, "response") for c in calls if _get(c, "status") == "ok")
        return {"search_nodes": sum(serial_search_nodes(t) for t in traces if _LEAF.search(t)),
                "preempted_nodes": 0}
    if any(_get(c, "thread_id") != MASTER_ID for c in calls):
        n = thread_search_nodes(calls)
        return {"search_nodes": n["expanded"], "preempted_nodes": n["preempted"]}
    first = next((c for c in calls if _get(c, "status") == "ok"), None)
    return {"search_nodes": serial_search_nodes(_get(first, "response")) if first else 0,
            "preempted_nodes": 0}
