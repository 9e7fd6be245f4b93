"""`mplm-bench plot`: one function per kind, each from Parquet samples (or calls) to files.

- `scaling`: mean critical-path tokens and peak context against problem size, log-log, one
  line per strategy (and setting), each with its exponent α fitted by least squares of
  log(mean y) on log x over the sizes; the dotted line is the fit.
- `accuracy-compute`: accuracy (Wilson 95% interval) against mean generated tokens (= effective
  test-time compute), critical path, or another column, one line per strategy, one panel per task.
- `timeline`: see `timeline.py`.
- `streaming`: latency after input end against input rate, see `streaming.py`.
- `diversity`: accuracy against conformity or branch agreement, see `diversity_plot.py`.
- `sampling`: pass@k, mean@k and maj@k against k with `--repeats`, see `sampling_plot.py`.

`accuracy-compute --x` takes each system's efficiency metric by its column or a short name:
`latency` (ThreadWeaver's token latency), `accel` (its acceleration ratio 1 − L/T), `apr-tokens`
(APR's token_count), `ttc` (PaCoRe's effective test-time compute = generated tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mplm_bench.analysis.load import load_samples, select
from mplm_bench.analysis.report import group_keys
from mplm_bench.analysis.stats import PowerFit, fit_power_law, wilson
from mplm_bench.analysis.style import axis_label, check_outputs, new_figure, save, strategy_style
from mplm_bench.analysis.tables import key_text
from mplm_bench.config import ConfigError

KINDS = ("scaling", "accuracy-compute", "timeline", "streaming", "diversity", "sampling")
X_ALIASES = {"gen": "gen_tokens", "ttc": "gen_tokens", "critical-path": "critical_path_tokens",
             "cp": "critical_path_tokens", "peak-context": "peak_context_tokens",
             "latency": "token_latency", "accel": "acceleration_ratio", "apr-tokens": "token_count"}
LINEAR_X = {"acceleration_ratio", "avg_parallelism"}  # ratios near 0..2: a log axis squeezes them
DEFAULT_SCALING = ["critical_path_tokens", "peak_context_tokens"]


def plot(paths: list[str], kind: str, outs: list[Path], *, x: str | None = None,
         metrics: list[str] | None = None, where: dict[str, Any] | None = None,
         instance: str | None = None, repeat: int = 0, max_lanes: int = 40, width: float = 3.4,
         title: str | None = None) -> list[Path]:
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r}: one of {', '.join(KINDS)}")
    check_outputs(outs)
    if kind == "diversity":  # from the calls as well: its own table, one point per run
        from mplm_bench.analysis.diversity_plot import plot_diversity

        return plot_diversity(paths, outs, x=x, where=where, width=width, title=title)
    df = select(load_samples(paths), where)
    if df.empty:
        raise ConfigError("no samples match --where")
    if kind == "timeline":
        from mplm_bench.analysis.timeline import plot_timeline

        return plot_timeline(df, outs, clock=x or "virtual", instance=instance, repeat=repeat,
                             max_lanes=max_lanes, width=width, title=title)
    if kind == "streaming":
        from mplm_bench.analysis.streaming import streaming_figure

        y = metrics[0] if metrics else None
        return save(streaming_figure(df, y, width=width, title=title), outs)
    if kind == "sampling":
        from mplm_bench.analysis.sampling_plot import sampling_figure

        return save(sampling_figure(df, metrics, width=width, title=title), outs)
    if kind == "scaling":
        fig, fits = scaling_figure(df, x=x, metrics=metrics or DEFAULT_SCALING, width=width, title=title)
        _print_fits(fits)
    else:
        fig = accuracy_compute_figure(df, x=x or "gen", width=width, title=title)
    return save(fig, outs)


def _column(df: pd.DataFrame, col: str, what: str) -> str:
    col = X_ALIASES.get(col, col)
    if col not in df.columns:
        raise ConfigError(f"{what}: unknown column {col!r}")
    if not pd.api.types.is_numeric_dtype(df[col]):
        raise ConfigError(f"{what}: column {col!r} is not numeric")
    return col


def _series(df: pd.DataFrame, drop: list[str]) -> tuple[list[str], dict[tuple, pd.DataFrame]]:
    """Groups of one line each: strategy plus any varying setting (not task, size or `drop`)."""
    keys = [k for k in group_keys(df) if k not in ("task", "size", *drop)]
    return keys, dict(iter(df.groupby(keys, dropna=False, sort=True)))


def _line_label(keys: list[str], values: tuple) -> tuple[str, str, str]:
    label, colour, marker = strategy_style(str(values[0]))
    extra = ", ".join(f"{k}={key_text(v)}" for k, v in zip(keys[1:], values[1:], strict=True)
                      if key_text(v) != "–")
    return (f"{label} ({extra})" if extra else label), colour, marker


def scaling_figure(df: pd.DataFrame, x: str | None, metrics: list[str], width: float,
                   title: str | None) -> tuple[Any, list[tuple[str, str, PowerFit | None]]]:
    tasks = df["task"].unique()
    if len(tasks) > 1:
        raise ConfigError(f"scaling: one task per figure (have {', '.join(tasks)}); add --where task=...")
    if x is None:
        x = "n_cells" if "n_cells" in df.columns and df["n_cells"].notna().all() else "size"
    x = _column(df, x, "--x")
    metrics = [_column(df, m, "--metric") for m in metrics]
    keys, series = _series(df, [x])
    fig, axes = new_figure(width, 0.3 + 2.1 * len(metrics), nrows=len(metrics), sharex=True)
    fits = []
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        for values, g in series.items():
            values = values if isinstance(values, tuple) else (values,)
            label, colour, marker = _line_label(keys, values)
            means = g.groupby(x)[metric].mean().sort_index()
            fit = fit_power_law(means.index.to_numpy(), means.to_numpy())
            fits.append((label, metric, fit))
            text = f"{label} (α = {fit.exponent:.2f})" if fit else label
            ax.plot(means.index, means.to_numpy(), marker=marker, color=colour, label=text)
            if fit:
                ax.plot(means.index, fit(means.index.to_numpy()), ls=":", lw=0.8, color=colour)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("mean " + axis_label(metric))
        ax.grid(True, which="major", lw=0.3, alpha=0.5)
        ax.legend(loc="upper left", handlelength=1.8)
    _size_ticks(axes[-1, 0], sorted(df[x].dropna().unique()))
    axes[-1, 0].set_xlabel(axis_label(x, str(tasks[0])))
    if title:
        axes[0, 0].set_title(title)
    return fig, fits


def _size_ticks(ax: Any, values: list[Any]) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    if len(values) <= 8:
        ax.xaxis.set_major_locator(FixedLocator([float(v) for v in values]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{v:,.0f}" if float(v).is_integer() else f"{v:g}" for v in values])


def _print_fits(fits: list[tuple[str, str, PowerFit | None]]) -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    for label, metric, fit in fits:
        if fit:
            console.print(f"{label}: {metric} ∝ x^{fit.exponent:.3f} (R² = {fit.r2:.3f}, "
                          f"{fit.n_points} sizes)")


def accuracy_compute_figure(df: pd.DataFrame, x: str, width: float, title: str | None) -> Any:
    x = _column(df, x, "--x")
    tasks = list(df["task"].unique())
    fig, axes = new_figure(width * len(tasks), 2.5, ncols=len(tasks), sharey=True)
    keys = group_keys(df)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = []
        for values, g in df[df["task"] == task].groupby(keys, dropna=False, sort=True):
            setting = dict(zip(keys, values, strict=True))
            lo, hi = wilson(int(g["correct"].sum()), len(g))
            rows.append(setting | {"x": g[x].mean(), "acc": g["correct"].mean(), "lo": lo, "hi": hi})
        points = pd.DataFrame(rows)
        points = points[points["x"].notna()]  # a strategy without this column (e.g. cot's acceleration ratio)
        if points.empty:
            raise ConfigError(f"--x {x}: no {task} sample has it")
        for j, (strategy, p) in enumerate(points.groupby("strategy", sort=True)):
            p = p.sort_values("x")
            label, colour, marker = strategy_style(str(strategy))
            ax.errorbar(p["x"], p["acc"], yerr=[p["acc"] - p["lo"], p["hi"] - p["acc"]], color=colour,
                        marker=marker, capsize=2, elinewidth=0.6, label=label)
            # label the points of a line with what tells them apart (e.g. the size, or k=8)
            varying = [k for k in keys if k not in ("task", "strategy") and p[k].nunique() > 1]
            for r in p.to_dict("records") if varying else []:
                note = ", ".join(key_text(r[k]) if k == "size" else f"{k}={key_text(r[k])}"
                                 for k in varying if key_text(r[k]) != "–")
                ax.annotate(note, (r["x"], r["acc"]), xytext=(2, -9 - 7 * j), textcoords="offset points",
                            fontsize=5.5, color=colour)
        if x not in LINEAR_X:
            ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.08)
        ax.yaxis.set_major_formatter(_percent())
        ax.set_xlabel("mean generated tokens (effective TTC)" if x == "gen_tokens"
                      else "mean " + axis_label(x))
        ax.set_title(title or task)
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[0, 0].set_ylabel("accuracy (95% Wilson CI)")
    axes[0, 0].legend(loc="lower right")
    return fig


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)
