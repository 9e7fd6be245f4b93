"""Sample columns of the adaptive strategies, from the sample's call records.

Under ThreadWeaver's names and definitions (facebookresearch/threadweaver,
threadweaver_rl/deepscaler/rewards/math_rewardv2.py `get_parallel_stats`; docs/metrics.md):
`token_latency` L (its `num_tokens_in_the_longest_thread`: sequential tokens plus, per block, its
longest thread; the runtime's critical path), `total_tokens` T (`total_num_tokens`),
`acceleration_ratio` = 1 − L/T, `blocks` (`parallel_count`; Parallel-R1's `num_parallel`),
`threads_per_block` and `activated` (`with_parallel`; its mean is the activation ratio).

Ours, under names of their own: `avg_parallelism` = T/L (work over span; this column was
`acceleration` before, renamed because ThreadWeaver's acceleration ratio is 1 − L/T) and
`thread_token_share` = tokens generated inside threads / T (was `parallel_ratio`; ThreadWeaver's
parallel ratio also counts a block's outlines and wrappers, text the trunk writes here in the
same step as what precedes the block, so it cannot be told apart by call). Header and join bytes
are inserted by the controller, not generated: prompt tokens here, in neither L nor T.
"""

from __future__ import annotations

from typing import Any

from mplm_bench.runtime.accounting import CallRecord
from mplm_bench.runtime.protocol import MASTER_ID


def adaptive_columns(calls: list[CallRecord], critical_path: float, branch_close: str,
                     trunk_stops: tuple[str, ...], no_outlines_ends: bool = False) -> dict[str, Any]:
    """`no_outlines_ends` (Multiverse's engine): a step at the outlines' close tag without outlines
    ends its thread with no directive, and one that decodes on from it is a refused fork (depth or
    budget), not a format failure; otherwise (ThreadWeaver) the trunk decodes on from it."""
    ok = [c for c in calls if c.status == "ok"]
    total = sum(c.completion_tokens for c in calls)
    inside = sum(c.completion_tokens for c in calls if c.thread_id != MASTER_ID)
    # every fork, a nested one (Multiverse) included
    widths = [_width(c.directives) for c in ok if c.directives.startswith("spawn")]
    # a branch's last step (it sends to its parent and stops); a nested fork's step is not one
    branches = [c for c in ok if c.thread_id != MASTER_ID and c.directives.endswith("stop")]
    unclosed = sum(1 for c in branches if c.stop_reason != branch_close)
    cut = sum(1 for c in branches if c.finish_reason == "length")
    trunk = [c for c in ok if c.thread_id == MASTER_ID]
    # a step that stopped at the outlines' close tag and forked nothing: no outlines in it
    at_close = [c for c in (ok if no_outlines_ends else trunk)
                if c.stop_reason in trunk_stops and not c.directives.startswith("spawn")]
    no_outlines = sum(1 for c in at_close if (c.directives == "" if no_outlines_ends else "recv" in c.directives))
    trunk_cut = sum(1 for c in trunk if c.finish_reason == "length")
    return {
        "token_latency": float(critical_path),
        "total_tokens": total,
        "acceleration_ratio": round(1 - critical_path / total, 4) if total else 0.0,
        "avg_parallelism": round(total / critical_path, 4) if critical_path > 0 else 0.0,
        "thread_token_share": round(inside / total, 4) if total else 0.0,
        "blocks": len(widths),
        "threads_per_block": round(sum(widths) / len(widths), 3) if widths else 0.0,
        "activated": bool(widths),
        "format_failures": unclosed + no_outlines + trunk_cut,
        "unclosed_branches": unclosed,
        "cut_branches": cut,
        "no_outlines": no_outlines,
    }


def _width(directives: str) -> int:
    """Threads spawned by a step, from its summary (`spawn[1.1..1.4(4)] recv[…]`, `spawn[1.1]`)."""
    head = directives.split(" ", 1)[0]
    if "(" in head:
        return int(head.rsplit("(", 1)[1].split(")")[0])
    return 1
