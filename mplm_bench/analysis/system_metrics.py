"""Each system's own metrics in the report and in `check`, and old runs read under today's names.

Sample columns (written by the strategies; docs/metrics.md gives each formula and source):
ThreadWeaver's `token_latency`, `acceleration_ratio`, `activated` (strategies/adaptive/columns.py),
APR's `token_count`, `longest_seq_token_count`, `avg_seq_token_count` (strategies/apr_columns.py),
PaCoRe's `effective_ttc_tokens`, `emergent_trials`, `emergent_correct` (strategies/pacore.py).
A report row shows the mean of each per sample, and two rates over the group:
- `activation_ratio`: the share of samples that opened a parallel block (ThreadWeaver's
  `with_parallel@1`, threadweaver_rl/verl/trainer/reward_stats.py; Parallel-R1's "Parallel Ratio
  (%)" is the same share: its reward code marks a response parallel when it holds `<Parallel>`);
- `emergent_correctness_rate`: emergent_correct / emergent_trials summed over the group (PaCoRe).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

# columns renamed since runs were written (old name -> new name); a run that has the new name
# already wrote both meanings' columns under today's names and is left alone
RENAMED = {"acceleration": "avg_parallelism", "parallel_ratio": "thread_token_share"}

MEANS = {  # report column -> sample column
    "token_latency_mean": "token_latency",
    "acceleration_ratio_mean": "acceleration_ratio",
    "avg_parallelism_mean": "avg_parallelism",
    "token_count_mean": "token_count",
    "longest_seq_token_count_mean": "longest_seq_token_count",
    "avg_seq_token_count_mean": "avg_seq_token_count",
    "effective_ttc_tokens_mean": "effective_ttc_tokens",
}


def _activation(g: pd.DataFrame) -> float:
    v = g["activated"].dropna()
    return float(v.astype(bool).mean()) if len(v) else math.nan


def _emergent(g: pd.DataFrame) -> float:
    trials = pd.to_numeric(g["emergent_trials"], errors="coerce").sum()
    return float(pd.to_numeric(g["emergent_correct"], errors="coerce").sum() / trials) if trials else math.nan


RATES: dict[str, tuple[tuple[str, ...], Callable[[pd.DataFrame], float]]] = {
    "activation_ratio": (("activated",), _activation),
    "emergent_correctness_rate": (("emergent_trials", "emergent_correct"), _emergent),
}


def upgrade(df: pd.DataFrame) -> pd.DataFrame:
    """One run's samples under today's names: renamed columns, and ThreadWeaver's acceleration
    ratio derived where a run from before it has token latency and total tokens."""
    if "avg_parallelism" not in df.columns:
        df = df.rename(columns={old: new for old, new in RENAMED.items() if old in df.columns})
    if "acceleration_ratio" not in df.columns and {"token_latency", "total_tokens"} <= set(df.columns):
        total = pd.to_numeric(df["total_tokens"], errors="coerce")
        latency = pd.to_numeric(df["token_latency"], errors="coerce")
        df["acceleration_ratio"] = (1 - latency / total).where(total > 0, 0.0).round(4)
    return df


def report_columns(df: pd.DataFrame) -> list[str]:
    """The system columns a report of `df` has: those whose sample columns some run wrote."""
    have = set(df.columns)
    out = [name for name, col in MEANS.items() if col in have and df[col].notna().any()]
    return out + [name for name, (cols, _) in RATES.items() if set(cols) <= have and df[cols[0]].notna().any()]


def group_values(g: pd.DataFrame, names: list[str]) -> dict[str, float]:
    out = {}
    for name in names:
        if name in MEANS:
            out[name] = float(pd.to_numeric(g[MEANS[name]], errors="coerce").mean())
        else:
            out[name] = RATES[name][1](g)
    return out


def rate(g: pd.DataFrame, name: str) -> float:
    """A group rate by name, for `check` (nan when the group has none of its columns)."""
    cols, fn = RATES[name]
    return fn(g) if set(cols) <= set(g.columns) else math.nan
