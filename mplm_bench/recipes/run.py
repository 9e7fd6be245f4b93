"""`mplm-bench recipe run NAME`: say what will be fetched and run, run it, then print the paper's
figures beside the measured ones (each with its 95% interval and whether it is within tolerance).

On `-b scripted` the run is the recipe's offline form: its task's generated problems (or `--data`,
a local file of the split's shape), no model; the figures then check the plumbing, not the paper.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.recipes.schema import Figure, Recipe, load_recipe


def configs(r: Recipe, backend: str, model: str | None, data: str | None, n: int | None,
            out: Path) -> tuple[RunConfig, RunConfig | None]:
    """The recipe's run and its serial baseline (None without one) as run configs."""
    offline = backend == "scripted"
    if not offline and model is None and r.model is None:
        raise ConfigError(f"recipe {r.name}: its model is not released ({r.model_note or 'see the recipe'}); "
                          "give --model")
    task_options = dict(r.run.task_options) if (data or not offline) else dict(r.offline.task_options)
    sampling = {k: v for k, v in r.run.sampling.model_dump().items() if v is not None}
    common: dict[str, Any] = {
        "task": r.run.task, "backend": backend, "task_options": task_options, "backend_options": sampling,
        "data": data if (data or offline) else r.dataset.id, "out": out,
        "repeats": (r.offline.repeats or r.run.repeats) if offline else r.run.repeats,
        "n": n or (r.offline.n if offline else r.run.n or 100_000),
    }
    main = RunConfig(strategy=r.run.strategy, strategy_options=r.run.strategy_options,
                     model=None if offline else (model or r.model), **common)
    if r.baseline is None:
        return main, None
    base = RunConfig(strategy=r.baseline.strategy, strategy_options=r.baseline.strategy_options,
                     model=None if offline else (r.baseline.model or model or r.model), **common)
    return main, base


def command(cfg: RunConfig) -> str:
    """The `mplm-bench run` line that makes the same run."""
    parts = ["mplm-bench", "run", "-t", cfg.task, "-s", cfg.strategy, "-b", cfg.backend]
    for flag, opts in (("-T", cfg.task_options), ("-S", cfg.strategy_options), ("-M", cfg.backend_options)):
        parts += [x for k, v in opts.items() for x in (flag, f"{k}={v}")]
    parts += ["-n", str(cfg.n)] + (["--repeats", str(cfg.repeats)] if cfg.repeats > 1 else [])
    parts += (["--data", cfg.data] if cfg.data else []) + (["--model", cfg.model] if cfg.model else [])
    return shlex.join(parts + ["--out", str(cfg.out)])


def plan_lines(r: Recipe, main: RunConfig, base: RunConfig | None) -> list[str]:
    s = r.source
    lines = [f"recipe {r.name}: {r.title}", f"  source: {s.paper}; {s.where}; {s.url}"
             + (f"; computed in {s.code}" if s.code else "")]
    models = {c.model for c in (main, base) if c is not None and c.model}
    fetch = [f"model {m} (hub)" for m in sorted(models)]
    if main.data and main.data == r.dataset.id:
        fetch.append(f"dataset {r.dataset.id}" + (f" split {r.dataset.split}" if r.dataset.split else ""))
    lines.append("  fetch: " + (", ".join(fetch) if fetch else "nothing (scripted backend, "
                                + ("local data)" if main.data else "generated problems)")))
    if r.dataset.note:
        lines.append(f"  data: {r.dataset.note}")
    if r.prompt:
        lines.append(f"  prompt: {r.prompt}")
    lines.append(f"  run: {command(main)}")
    if base is not None:
        lines.append(f"  baseline: {command(base)}")
    return lines


def measure(fig: Figure, df: pd.DataFrame, base: pd.DataFrame | None) -> tuple[float, float, float]:
    """(value, lo, hi) of a reported figure's metric on the measured samples."""
    from mplm_bench.analysis import sampling, system_metrics
    from mplm_bench.analysis.stats import bootstrap_mean, wilson

    m = fig.metric
    if m == "accuracy":
        k = int(df["correct"].sum())
        return (k / len(df), *wilson(k, len(df)))
    if (kind := sampling.parse_metric(m)) is not None:
        return sampling.estimate(df, *kind)
    if m in system_metrics.RATES:
        v = system_metrics.rate(df, m)
        return (v, math.nan, math.nan)
    if m == "speedup":
        if base is None:
            raise ConfigError(f"figure {m}: the recipe has no baseline")
        from mplm_bench.analysis.compare import compare_frames

        row = compare_frames(base, df, ["speedup"]).iloc[0]
        return (float(row["speedup"]), float(row["speedup_lo"]), float(row["speedup_hi"]))
    col = m.removesuffix(".mean")
    if col not in df.columns:
        return (math.nan, math.nan, math.nan)
    values = pd.to_numeric(df[col], errors="coerce").dropna().to_numpy()
    return (float(values.mean()), *bootstrap_mean(values)) if len(values) else (math.nan,) * 3


def figures(r: Recipe, df: pd.DataFrame, base: pd.DataFrame | None) -> pd.DataFrame:
    rows = []
    for fig in r.reported:
        value, lo, hi = measure(fig, df, base)
        rows.append({"metric": fig.metric, "paper": fig.value, "measured": value, "lo": lo, "hi": hi,
                     "tolerance": fig.tol if fig.tol is not None else f"{fig.rel_tol:.0%}",
                     "within": bool(not math.isnan(value) and fig.within(value)), "note": fig.note})
    return pd.DataFrame(rows)


def view(result: pd.DataFrame) -> pd.DataFrame:
    from mplm_bench.analysis.tables import num

    def show(metric: str, v: float) -> str:
        share = metric == "accuracy" or "@" in metric or metric.endswith(("_ratio", "_rate"))
        return "–" if math.isnan(v) else (f"{v:.1%}" if share else num(v, 2 if abs(v) < 10 else None))

    rows = []
    for r in result.to_dict("records"):
        ci = "" if math.isnan(r["lo"]) else f" [{show(r['metric'], r['lo'])}, {show(r['metric'], r['hi'])}]"
        tol = r["tolerance"] if isinstance(r["tolerance"], str) else show(r["metric"], r["tolerance"])
        rows.append({"metric": r["metric"], "paper": show(r["metric"], r["paper"]),
                     "measured [95% CI]": show(r["metric"], r["measured"]) + ci, "tolerance": f"± {tol}",
                     "result": "within" if r["within"] else "OUTSIDE", "note": r["note"]})
    return pd.DataFrame(rows)


def run_recipe(name: str, backend: str, model: str | None, data: str | None, n: int | None, out: Path,
               dry_run: bool, fmt: str, fail_outside: bool) -> int:
    from rich.console import Console

    from mplm_bench import api
    from mplm_bench.analysis import tables

    recipe = load_recipe(name)
    main, base = configs(recipe, backend, model, data, n, out)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for line in plan_lines(recipe, main, base):
        console.print(line, markup=False)
    if dry_run:
        return 0
    measured = api.run(main).samples()
    baseline = api.run(base).samples() if base is not None else None
    result = figures(recipe, measured, baseline)
    if fmt == "rich":
        tables.print_rich(view(result), title=f"{recipe.name}: the paper's figures beside this run's "
                          f"({len(measured)} samples, {backend})")
    else:
        import sys

        sys.stdout.write(tables.render(result, fmt, view=view(result)))
    return 1 if fail_outside and not result["within"].all() else 0
