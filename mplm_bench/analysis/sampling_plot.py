"""`plot --kind sampling`: pass@k, mean@k and maj@k against k (1, 2, 4, … up to the repeats), one
panel per metric, one line per strategy (and varying setting), each point with its 95% interval
(analysis/sampling.py). A line that rises with k is accuracy bought with samples; mean@k is flat
in expectation, so its gap to pass@k and maj@k is what sampling and voting add."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mplm_bench.analysis import sampling
from mplm_bench.analysis.report import group_keys
from mplm_bench.analysis.style import new_figure, strategy_style
from mplm_bench.analysis.tables import key_text
from mplm_bench.config import ConfigError

DEFAULT = ["pass", "mean", "maj"]


def sampling_figure(df: pd.DataFrame, kinds: list[str] | None, width: float, title: str | None) -> Any:
    kinds = [sampling.ALIASES.get(k, k) for k in (kinds or DEFAULT)]
    if bad := [k for k in kinds if k not in sampling.KINDS]:
        raise ConfigError(f"--metric {bad[0]!r}: sampling plots pass, mean or maj")
    keys = group_keys(df)
    groups = list(df.groupby(keys, dropna=False, sort=True))
    if max((sampling.repeats(g) for _, g in groups), default=0) < 2:
        raise ConfigError("sampling: no instance has two repeats here (run with --repeats K)")
    fig, axes = new_figure(width * len(kinds), 2.5, ncols=len(kinds), sharey=True)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for values, g in groups:
            setting = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
            label, colour, marker = strategy_style(str(setting["strategy"]))
            extra = ", ".join(f"{k}={key_text(v)}" for k, v in setting.items()
                              if k != "strategy" and df[k].nunique() > 1 and key_text(v) != "–")
            ks = sampling.report_ks(sampling.repeats(g))
            points = [sampling.estimate(g, kind, k) for k in ks]
            y = [p[0] for p in points]
            ax.errorbar(ks, y, yerr=[[v - p[1] for v, p in zip(y, points, strict=True)],
                                     [p[2] - v for v, p in zip(y, points, strict=True)]],
                        color=colour, marker=marker, capsize=2, elinewidth=0.6,
                        label=f"{label} ({extra})" if extra else label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({k for _, g in groups for k in sampling.report_ks(sampling.repeats(g))}))
        ax.get_xaxis().set_major_formatter("{x:g}")
        ax.set_ylim(-0.03, 1.08)
        ax.set_xlabel("k (samples per instance)")
        ax.set_title(f"{kind}@k" if not title else f"{title}: {kind}@k")
        ax.grid(True, lw=0.3, alpha=0.5)
    from matplotlib.ticker import PercentFormatter

    axes[0, 0].yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    axes[0, 0].set_ylabel("share of instances (95% CI)")
    axes[0, 0].legend(loc="lower right")
    return fig
