"""`plot --kind diversity`: accuracy against conformity (or branch agreement, or another column
of the diversity table), one line per strategy and its options, one panel per task.

Each point is one run of `report --kind diversity`; runs that share a strategy, options and x
(other seeds) are pooled by their sample counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mplm_bench.analysis.stats import wilson
from mplm_bench.config import ConfigError

DASHES = ("-", "--", ":", "-.")
X_ALIASES = {"conformity": "conformity", "agreement": "agreement", "noise": "error_rate",
             "similarity": "similarity", "entropy": "entropy"}
X_LABELS = {"conformity": "-M conformity (chance a reader copies what it read)",
            "agreement": "agreement (modal share of the final answer's inputs)",
            "error_rate": "-M error_rate", "similarity": "pairwise 3-gram Jaccard of the inputs",
            "entropy": "answer entropy of the inputs (bits)"}


def plot_diversity(paths: list[str], outs: list[Path], *, x: str | None = None,
                   where: dict[str, Any] | None = None, width: float = 3.4,
                   title: str | None = None) -> list[Path]:
    from mplm_bench.analysis.diversity_report import summarize
    from mplm_bench.analysis.style import save

    return save(diversity_figure(summarize(paths, where), x or "conformity", width, title), outs)


def diversity_figure(summary: pd.DataFrame, x: str, width: float, title: str | None) -> Any:
    from matplotlib.ticker import PercentFormatter

    from mplm_bench.analysis.style import new_figure, strategy_style

    col = X_ALIASES.get(x, x)
    if col not in summary.columns or not pd.api.types.is_numeric_dtype(summary[col]):
        raise ConfigError(f"--x {x!r}: one of {', '.join(X_ALIASES)} or a numeric diversity column")
    tasks = list(dict.fromkeys(summary["task"]))
    fig, axes = new_figure(width * len(tasks), 2.5, ncols=len(tasks), sharey=True)
    for ax, task in zip(axes[0], tasks, strict=True):
        data = summary[summary["task"] == task].copy()
        data["k"] = (data["accuracy"] * data["n"]).round().astype(int)
        data["line"] = data["strategy"].astype(str) + data["options"].map(lambda o: f" ({o})" if o else "")
        variant: dict[str, int] = {}  # a strategy's option sets get their own dash patterns
        for line, g in data.groupby("line", sort=True):
            pts = g.groupby(col, sort=True)[["k", "n"]].sum().reset_index()
            if pts.empty:
                continue
            acc = pts["k"] / pts["n"]
            lo, hi = zip(*(wilson(int(k), int(n)) for k, n in zip(pts["k"], pts["n"], strict=True)), strict=True)
            strategy = str(g["strategy"].iloc[0])
            label, colour, marker = strategy_style(strategy)
            j = variant[strategy] = variant.get(strategy, -1) + 1
            ax.errorbar(pts[col], acc, yerr=[acc - pd.Series(lo), pd.Series(hi) - acc], color=colour,
                        marker=marker, ls=DASHES[j % len(DASHES)], mfc=colour if j == 0 else "white",
                        capsize=2, elinewidth=0.6, label=label + str(line)[len(strategy):])
        ax.set_ylim(-0.03, 1.08)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax.set_xlabel(X_LABELS.get(col, col))
        ax.set_title(title or str(task))
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[0, 0].set_ylabel("accuracy (95% Wilson CI)")
    # below the axes (bbox "tight" keeps it): lines of several strategies cross the whole panel
    axes[0, 0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=6)
    return fig
