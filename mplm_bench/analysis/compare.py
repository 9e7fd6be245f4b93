"""`mplm-bench compare A B`: paired per-instance differences B − A with bootstrap 95% intervals.

Samples are paired on (instance_id, repeat); only pairs present in both runs count. For each
metric: the means, the difference of means and the relative change mean(B)/mean(A) − 1, each
with a percentile bootstrap interval (pairs resampled with replacement, fixed seed).

B is *worse beyond the tolerance* when the whole interval lies past it: for accuracy (`correct`,
`score`; higher is better) when the upper end of B − A is below −tol_accuracy (absolute); for
costs (lower is better) when the lower end of the relative change is above +tol_cost.

Two kinds of metric are not sample columns:
- `pass@K`, `mean@K` (`avg@K`), `maj@K` (`cons@K`) with `--repeats` (analysis/sampling.py): one
  value per instance in each run, paired on `instance_id`; higher is better, like accuracy.
- `speedup`: ThreadWeaver's token-latency speedup of B over a serial A on the same instances,
  mean token latency of A / mean token latency of B (its README's "Avg Speedup", e.g. 19.4k /
  16.9k = 1.14x on AIME24), token latency being each sample's critical path (for a serial run,
  its generated tokens). Its interval is the paired bootstrap's, of mean(A) / mean(B). Added by
  default when B is an adaptive run (it has `token_latency`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from mplm_bench.analysis import sampling
from mplm_bench.analysis.load import find_runs, load_samples
from mplm_bench.analysis.stats import paired_bootstrap
from mplm_bench.config import ConfigError

DEFAULT_METRICS = ["correct", "gen_tokens", "critical_path_tokens", "peak_context_tokens"]
HIGHER_IS_BETTER = {"correct", "score"}
PAIR = ["instance_id", "repeat"]
LATENCY = "critical_path_tokens"  # token latency: the longest chain of generated tokens


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER or sampling.parse_metric(metric) is not None


def default_metrics(b: pd.DataFrame) -> list[str]:
    return DEFAULT_METRICS + (["speedup"] if "token_latency" in b.columns else [])


def load_run(path: Path, name: str) -> pd.DataFrame:
    runs = find_runs([path])
    if len(runs) != 1:
        raise ConfigError(f"{name}: {path} holds {len(runs)} runs; give one run folder")
    return load_samples(runs)


def pair(a: pd.DataFrame, b: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    metrics = list(dict.fromkeys(LATENCY if m == "speedup" else m for m in metrics
                                 if sampling.parse_metric(m) is None))
    for m in metrics:
        for name, df in (("A", a), ("B", b)):
            if m not in df.columns:
                raise ConfigError(f"--metric {m!r}: no such column in {name}")
            if not (pd.api.types.is_numeric_dtype(df[m]) or pd.api.types.is_bool_dtype(df[m])):
                raise ConfigError(f"--metric {m!r}: not numeric")
    merged = a[PAIR + metrics].merge(b[PAIR + metrics], on=PAIR, suffixes=("_a", "_b"))
    if merged.empty:
        raise ConfigError("A and B share no (instance_id, repeat): compare runs on the same instances")
    return merged


def pair_instances(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """A repeated-sampling metric per instance in each run, on the instances both have."""
    kind = sampling.parse_metric(metric)
    assert kind is not None
    va, vb = sampling.per_instance(a, *kind).dropna(), sampling.per_instance(b, *kind).dropna()
    common = va.index.intersection(vb.index)
    if common.empty:
        raise ConfigError(f"--metric {metric}: no instance has {kind[1]} repeats in both A and B")
    return va[common], vb[common]


def speedup_row(d: Any) -> dict[str, Any]:
    """mean(A) / mean(B) of token latency, from the paired bootstrap of mean(B) / mean(A) − 1."""
    inv = (lambda r: 1 / (1 + r) if not math.isnan(r) and r > -1 else math.nan)  # noqa: E731
    return {"speedup": inv(d.rel), "speedup_lo": inv(d.rel_hi), "speedup_hi": inv(d.rel_lo)}


def is_worse(metric: str, row: dict[str, Any], tol_accuracy: float, tol_cost: float) -> bool:
    if metric == "speedup":
        return False  # a report, not a cost: the latency row beside it carries the verdict
    if higher_is_better(metric):
        return row["diff_hi"] < -tol_accuracy
    if math.isnan(row["rel_lo"]):  # mean(A) = 0: any sure increase is worse
        return row["diff_lo"] > 0
    return row["rel_lo"] > tol_cost


def verdict(metric: str, row: dict[str, Any], worse: bool) -> str:
    if worse:
        return "WORSE"
    if metric == "speedup":
        return "faster" if row["speedup_lo"] > 1 else ("slower" if row["speedup_hi"] < 1 else "~")
    up, down = row["diff_lo"] > 0, row["diff_hi"] < 0
    if higher_is_better(metric):
        return "better" if up else ("lower" if down else "~")
    return "better" if down else ("higher" if up else "~")


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, metrics: list[str], resamples: int = 10_000,
                   seed: int = 0, tol_accuracy: float = 0.0, tol_cost: float = 0.05) -> pd.DataFrame:
    merged = pair(a, b, metrics)
    rows = []
    for m in metrics:
        if sampling.parse_metric(m) is not None:
            xa, xb = pair_instances(a, b, m)
        else:
            col = LATENCY if m == "speedup" else m
            xa, xb = merged[f"{col}_a"], merged[f"{col}_b"]
        d = paired_bootstrap(xa.astype(float).to_numpy(), xb.astype(float).to_numpy(), resamples, seed)
        row = {"metric": m, "n_pairs": d.n, "mean_a": d.mean_a, "mean_b": d.mean_b, "diff": d.diff,
               "diff_lo": d.diff_lo, "diff_hi": d.diff_hi, "rel": d.rel, "rel_lo": d.rel_lo,
               "rel_hi": d.rel_hi} | (speedup_row(d) if m == "speedup" else {})
        row["worse"] = worse = is_worse(m, row, tol_accuracy, tol_cost)
        row["verdict"] = verdict(m, row, worse)
        rows.append(row)
    return pd.DataFrame(rows)


def _view(result: pd.DataFrame) -> pd.DataFrame:
    from mplm_bench.analysis.tables import num

    def one(v: float, scale: float) -> str:
        if scale != 1:
            return f"{v * scale:+.1f}"
        return f"{v:+,.0f}" if abs(v) >= 10 else f"{v:+.2f}"

    def signed(x: float, lo: float, hi: float, scale: float = 1.0, unit: str = "") -> str:
        if math.isnan(x):
            return "–"
        if unit == "%":
            return f"{one(x, scale)}% [{one(lo, scale)}%, {one(hi, scale)}%]"
        return f"{one(x, scale)} [{one(lo, scale)}, {one(hi, scale)}]{unit}"

    rows = []
    for r in result.to_dict("records"):
        acc = higher_is_better(r["metric"])
        if r["metric"] == "speedup":  # A and B: mean token latency; the cell: A / B
            rows.append({"metric": "speedup (latency A / B)", "pairs": str(r["n_pairs"]),
                         "A": num(r["mean_a"]), "B": num(r["mean_b"]),
                         "B − A [95% CI]": f"{r['speedup']:.2f}x [{r['speedup_lo']:.2f}, {r['speedup_hi']:.2f}]",
                         "B / A − 1 [95% CI]": "–", "verdict": r["verdict"]})
            continue
        rows.append({
            "metric": r["metric"], "pairs": str(r["n_pairs"]),
            "A": f"{r['mean_a']:.1%}" if acc else num(r["mean_a"]),
            "B": f"{r['mean_b']:.1%}" if acc else num(r["mean_b"]),
            "B − A [95% CI]": signed(r["diff"], r["diff_lo"], r["diff_hi"], *((100, " pts") if acc else ())),
            "B / A − 1 [95% CI]": signed(r["rel"], r["rel_lo"], r["rel_hi"], 100, "%"),
            "verdict": r["verdict"],
        })
    return pd.DataFrame(rows)


def compare(a_path: Path, b_path: Path, metrics: list[str] | None, fmt: str, fail_if_worse: bool,
            tol_accuracy: float, tol_cost: float, resamples: int, seed: int) -> int:
    from mplm_bench.analysis import tables

    a, b = load_run(a_path, "A"), load_run(b_path, "B")
    result = compare_frames(a, b, metrics or default_metrics(b), resamples, seed, tol_accuracy, tol_cost)
    n = int(result["n_pairs"].iloc[0])
    if fmt == "rich":
        tables.print_rich(_view(result), title=f"A = {a['run_id'].iloc[0]}  B = {b['run_id'].iloc[0]}: "
                          f"{n} pairs ({len(a) - n} of A and {len(b) - n} of B unpaired)",
                          caption=f"paired bootstrap, {resamples:,} resamples, seed {seed}; WORSE: the "
                          f"interval is past the tolerance (accuracy −{tol_accuracy:g}, costs +{tol_cost:.0%})")
    else:
        import sys

        sys.stdout.write(tables.render(result, fmt, view=_view(result)))
    return 1 if fail_if_worse and bool(result["worse"].any()) else 0
