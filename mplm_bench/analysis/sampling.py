"""Repeated-sampling metrics from `--repeats`: pass@k, mean@k (= avg@k), maj@k (= cons@k).

A sample is keyed by (instance, repeat); for instance i with n_i samples, c_i of them correct (a
group that pools several runs counts each run's instance apart):

- `pass@k`: the unbiased estimator of Chen et al. 2021 (arXiv 2107.03374, eq. 1),
  1 − C(n_i − c_i, k) / C(n_i, k), averaged over instances; for every k ≤ n_i. (Drawing k of
  the n_i samples without replacement, the chance that one is correct; with k = n_i it is "any
  correct", the papers' Pass@16.)
- `mean@k` (`avg@k`): the share of correct samples among the instance's repeats 0..k−1,
  averaged over instances: Parallel-R1's Mean@16, ThreadWeaver's pass@1 over its samples.
- `maj@k` (`cons@k`): a vote over the task's normalised answers (`parsed_answer`, the same key
  `sc` votes on) of repeats 0..k−1; the instance counts when the winning answer is correct.
  Ties go to the smallest answer string, as in `sc`; a sample without an answer does not vote.

mean@k and maj@k read the first k repeats (what a run with `--repeats k` would have held).
Intervals (95%): pass@k and mean@k, a percentile bootstrap over instances (the instance is the
unit that was sampled; fixed seed, so tables repeat); maj@k, 0/1 per instance, Wilson over
instances.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from mplm_bench.analysis.stats import bootstrap_mean, wilson

KINDS = ("pass", "mean", "maj")
ALIASES = {"avg": "mean", "cons": "maj"}
_NAME = re.compile(r"^(pass|mean|avg|maj|cons)@(\d+)$")


def parse_metric(name: str) -> tuple[str, int] | None:
    """`pass@8` -> ("pass", 8); `avg@4` -> ("mean", 4); `cons@2` -> ("maj", 2); else None."""
    m = _NAME.match(name)
    if m is None or int(m.group(2)) < 1:
        return None
    return ALIASES.get(m.group(1), m.group(1)), int(m.group(2))


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 − C(n−c, k)/C(n, k), as the product Chen et al. compute (no huge binomials)."""
    if k > n or k < 1:
        return math.nan
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority(answers: list[Any]) -> str | None:
    """The most frequent answer (ties: the smallest string); None when nobody answered."""
    counts = Counter(str(a) for a in answers if a is not None and not (isinstance(a, float) and math.isnan(a)))
    if not counts:
        return None
    best = max(counts.values())
    return min(a for a, n in counts.items() if n == best)


def unit(g: pd.DataFrame) -> list[str]:
    """What one instance is: its id, within its run when the group pools several runs (two runs'
    repeats of an instance are two instances' worth, not one instance with twice the repeats)."""
    return ["run_dir", "instance_id"] if "run_dir" in g and g["run_dir"].nunique() > 1 else ["instance_id"]


def instances(g: pd.DataFrame) -> list[tuple[Any, pd.DataFrame]]:
    """(key, samples in repeat order) of each instance."""
    return [(key, s.sort_values("repeat")) for key, s in g.groupby(unit(g), sort=True)]


def repeats(g: pd.DataFrame) -> int:
    """The k every instance of the group reaches: the fewest samples any instance has."""
    return int(g.groupby(unit(g)).size().min()) if len(g) else 0


def per_instance(g: pd.DataFrame, kind: str, k: int) -> pd.Series:
    """The metric's value for each instance of `g` (index: instance_id, or (run_dir, instance_id)
    when `g` pools runs); nan where k > its samples."""
    out: dict[Any, float] = {}
    for key, s in instances(g):
        key = key[0] if isinstance(key, tuple) and len(key) == 1 else key
        correct = s["correct"].astype(bool).to_numpy()
        n = len(correct)
        if k > n:
            out[key] = math.nan
        elif kind == "pass":
            out[key] = pass_at_k(n, int(correct.sum()), k)
        elif kind == "mean":
            out[key] = float(correct[:k].mean())
        else:
            first = s.iloc[:k]
            winner = majority(first["parsed_answer"].tolist())
            right = winner is not None and bool(first.loc[first["parsed_answer"].astype(str) == winner,
                                                          "correct"].any())
            out[key] = float(right)
    return pd.Series(list(out.values()), index=pd.Index(list(out.keys()), tupleize_cols=False), dtype=float)


def estimate(g: pd.DataFrame, kind: str, k: int, seed: int = 0) -> tuple[float, float, float]:
    """(value, lo, hi) of one metric over the instances of `g`; nans when some instance has < k."""
    values = per_instance(g, kind, k)
    if values.empty or values.isna().any():
        return (math.nan, math.nan, math.nan)
    v = values.to_numpy()
    if kind == "maj":
        lo, hi = wilson(int(v.sum()), len(v))
    else:
        lo, hi = bootstrap_mean(v, seed=seed)
    return (float(v.mean()), lo, hi)


def report_ks(n: int) -> list[int]:
    """The k a report shows for n repeats: 1, the powers of two below n, and n."""
    ks = [1 << j for j in range(n.bit_length()) if 1 << j < n]
    return ks + [n] if n >= 1 else []


def group_columns(g: pd.DataFrame, ks: list[int] | None = None) -> dict[str, float]:
    """A report row's columns: pass@k for `ks` (default report_ks), mean@n and maj@n (n = the
    group's repeats), each with `_lo` and `_hi`."""
    n = repeats(g)
    out: dict[str, float] = {"repeats": float(n)}
    wanted = [("pass", k) for k in (ks or report_ks(n))] + [("mean", n), ("maj", n)]
    for kind, k in wanted:
        value, lo, hi = estimate(g, kind, k)
        out |= {f"{kind}@{k}": value, f"{kind}@{k}_lo": lo, f"{kind}@{k}_hi": hi}
    return out


def sampling_table(df: pd.DataFrame, keys: list[str], ks: list[int] | None = None) -> pd.DataFrame:
    """Long form, one row per (group, metric, k): every k ≤ the group's repeats unless `ks`.
    `keys`: the grouping columns (the report's: `report.group_keys(df)`)."""
    rows = []
    for values, g in df.groupby(keys, dropna=False, sort=True):
        n = repeats(g)
        for kind in KINDS:
            for k in ks or range(1, n + 1):
                value, lo, hi = estimate(g, kind, k)
                rows.append(dict(zip(keys, values, strict=True)) | {
                    "metric": f"{kind}@{k}", "k": k, "repeats": n, "instances": len(instances(g)),
                    "value": value, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)
