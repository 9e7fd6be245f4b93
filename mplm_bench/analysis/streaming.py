"""`plot --kind streaming`: latency after the input ended against the input rate, one line per
strategy (and any other setting that varies, e.g. `prefill_while_reading`), from the samples
of streamed runs (docs/streaming.md). Points are means over samples with min-max bars."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mplm_bench.analysis.report import group_keys
from mplm_bench.analysis.style import axis_label, new_figure, strategy_style
from mplm_bench.analysis.tables import key_text
from mplm_bench.config import ConfigError

X = "input_rate"
DEFAULT_Y = "latency_after_input"
LINES = ["-", "--", ":", "-."]


def streaming_figure(df: pd.DataFrame, y: str | None, width: float, title: str | None) -> Any:
    y = y or DEFAULT_Y
    for col in (X, y):
        if col not in df.columns or not df[col].notna().any():
            raise ConfigError(f"streaming: no {col!r} in these samples (runs with --input-rate write it)")
    df = df[df[X].notna()]
    tasks = list(df["task"].unique())
    if len(tasks) > 1:
        raise ConfigError(f"streaming: one task per figure (have {', '.join(tasks)}); add --where task=...")
    keys = [k for k in group_keys(df) if k not in ("task", X)]
    fig, axes = new_figure(width, 2.5)
    ax = axes[0, 0]
    variants: dict[str, int] = {}  # a strategy's further settings: dashed, then dotted lines
    for values, g in df.groupby(keys, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        setting = dict(zip(keys, values, strict=True))
        label, colour, marker = strategy_style(str(setting["strategy"]))
        extra = ", ".join(f"{k}={key_text(v)}" for k, v in setting.items()
                          if k != "strategy" and key_text(v) != "–" and df[k].nunique() > 1)
        nth = variants[label] = variants.get(label, -1) + 1
        stats = g.groupby(X)[y].agg(["mean", "min", "max"]).sort_index()
        ax.errorbar(stats.index, stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                    color=colour, marker=marker, capsize=2, elinewidth=0.6, ls=LINES[nth % len(LINES)],
                    mfc=colour if nth == 0 else "white", label=f"{label} ({extra})" if extra else label)
    ax.set_xscale("log")
    _rate_ticks(ax, sorted(df[X].unique()))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(axis_label(X))
    ax.set_ylabel("mean " + axis_label(y))
    ax.set_title(title or f"{tasks[0]}: input that arrives over time")
    ax.grid(True, which="major", lw=0.3, alpha=0.5)
    ax.legend(loc="best", handlelength=2.4, fontsize=6)
    return fig


def _rate_ticks(ax: Any, rates: list[float]) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    if len(rates) <= 10:
        ax.xaxis.set_major_locator(FixedLocator(rates))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{r:,.0f}" if float(r).is_integer() else f"{r:g}" for r in rates])
