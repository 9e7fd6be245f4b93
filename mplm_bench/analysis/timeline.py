"""`plot --kind timeline`: one sample's threads as lanes over time — the picture of a protocol.

Each model call is a bar on its thread's lane from its start to its end (virtual token time
with the scripted backend, wall time with an engine, or critical-path time). An arrow runs
from the end of the step that spawned a thread, or that wrote a message, to the start of the
step that consumed it (read from the calls' `consumed_from`). A preempted step is hatched and
ends in a red ×.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mplm_bench.analysis.load import load_calls
from mplm_bench.analysis.style import new_figure, save, strategy_style
from mplm_bench.config import ConfigError

CLOCKS = {"virtual": ("start_v", "end_v", "virtual time (tokens)"),
          "wall": ("start_wall", "end_wall", "wall time (s)"),
          "cp": ("cp_start", "cp_end", "critical-path time (tokens)")}
SPAWN, MESSAGE, PREEMPT = "#222222", "#D55E00", "#CC0000"


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def pick_sample(df: pd.DataFrame, instance: str | None, repeat: int) -> pd.Series:
    runs = df["run_dir"].unique()
    if len(runs) != 1:
        raise ConfigError(f"timeline: one run at a time, {len(runs)} match; narrow with "
                          "--where strategy=... --where size=..., or give one run folder")
    rows = df[df["repeat"] == repeat]
    if instance is not None:
        rows = rows[rows["instance_id"] == instance]
    if rows.empty:
        raise ConfigError(f"timeline: no sample {instance or ''} repeat {repeat} in {runs[0]}")
    return rows.sort_values("instance_id", key=lambda s: s.map(_natural)).iloc[0]


def arrows(calls: pd.DataFrame, start: str, end: str) -> list[tuple[str, float, str, float, str]]:
    """(from thread, time, to thread, time, kind) for every spawn and message consumed."""
    ends = {t: np.sort(g[end].to_numpy()) for t, g in calls.groupby("thread_id")}
    out = []
    for c in calls.itertuples(index=False):
        for pid in filter(None, str(c.consumed_from or "").split(",")):
            e = ends.get(pid)
            t0 = getattr(c, start)
            if e is None:
                continue
            i = np.searchsorted(e, t0 + 1e-9, side="right") - 1
            if i < 0:
                continue
            kind = "spawn" if pid == c.parent_id and c.step == 0 else "message"
            out.append((pid, float(e[i]), c.thread_id, float(t0), kind))
    return out


def plot_timeline(df: pd.DataFrame, outs: list[Path], clock: str, instance: str | None,
                  repeat: int, max_lanes: int, width: float, title: str | None) -> list[Path]:
    if clock not in CLOCKS:
        raise ConfigError(f"timeline --x {clock!r}: one of {', '.join(CLOCKS)}")
    sample = pick_sample(df, instance, repeat)
    calls = load_calls(sample["run_dir"], sample["instance_id"], int(sample["repeat"]))
    if calls.empty:
        raise ConfigError(f"timeline: no calls for {sample['instance_id']}")
    start, end, xlabel = CLOCKS[clock]
    calls = calls.copy()
    if clock == "wall":
        t0 = calls["start_wall"].min()
        calls[start], calls[end] = calls[start] - t0, calls[end] - t0
    first = calls.groupby("thread_id")[start].min()
    order = sorted(first.index, key=lambda t: (first[t], _natural(str(t))))
    hidden = max(0, len(order) - max_lanes)
    lane = {t: i for i, t in enumerate(order[:max_lanes])}
    shown = calls[calls["thread_id"].isin(lane)]
    _, colour, _ = strategy_style(str(sample["strategy"]))

    fig, axes = new_figure(width, max(1.6, 0.7 + 0.14 * len(lane)))
    ax = axes[0, 0]
    pre = shown["status"] == "preempted"
    for sel, kw in ((~pre, {"color": colour, "alpha": 0.85}),
                    (pre, {"color": "white", "edgecolor": PREEMPT, "hatch": "////", "lw": 0.4})):
        part = shown[sel]
        ax.barh(part["thread_id"].map(lane), part[end] - part[start], left=part[start], height=0.62, **kw)
    ax.scatter(shown.loc[pre, end], shown.loc[pre, "thread_id"].map(lane), marker="x", s=12,
               color=PREEMPT, lw=0.8, zorder=4)
    for src, t_src, dst, t_dst, kind in arrows(calls, start, end):
        if src in lane and dst in lane:
            ax.annotate("", xy=(t_dst, lane[dst]), xytext=(t_src, lane[src]),
                        arrowprops={"arrowstyle": "-|>", "lw": 0.45, "mutation_scale": 4,
                                    "color": SPAWN if kind == "spawn" else MESSAGE,
                                    "shrinkA": 0, "shrinkB": 0, "alpha": 0.8})
    ax.set_yticks(range(len(lane)))
    ax.set_yticklabels([str(t) for t in lane], fontsize=6 if len(lane) <= 24 else 4.5)
    ax.set_ylim(len(lane) - 0.4, -0.6)  # the master on top
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("thread")
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    from matplotlib.transforms import offset_copy

    below = offset_copy(ax.transAxes, fig=ax.figure, y=-26, units="points")  # under the x label
    ax.legend(handles=_legend(colour, bool(pre.any())), loc="upper center", fontsize=6, ncol=4,
              bbox_to_anchor=(0.5, 0), bbox_transform=below, handlelength=1.5, columnspacing=1)
    label = strategy_style(str(sample["strategy"]))[0]
    default = f"{sample['task']} {sample['size']} · {label} · {sample['instance_id']}"
    ax.set_title((title or default) + (f"  (+{hidden} threads not shown)" if hidden else ""),
                 fontsize=7, loc="left")
    return save(fig, outs)


def _legend(colour: str, preempted: bool) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, alpha=0.85, label="step (model call)"),
               Line2D([], [], color=SPAWN, lw=0.8, label="spawn"),
               Line2D([], [], color=MESSAGE, lw=0.8, label="message")]
    if preempted:
        handles.append(Line2D([], [], color=PREEMPT, marker="x", lw=0, label="preempted"))
    return handles
