"""`mplm-bench report`: one row per task/size/strategy (and any setting that varies).

Accuracy is the share of `correct` samples with a Wilson score 95% interval. Every other number
is a per-sample mean, except `gen_tokens_median`. With `--repeats` (an instance sampled more than
once), the repeated-sampling metrics follow accuracy: pass@k for k = 1, 2, 4, … and the repeats n,
mean@n and maj@n, each with its interval (analysis/sampling.py). Runs of ThreadWeaver-style,
APR or PaCoRe strategies add their systems' own metrics (analysis/system_metrics.py).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from mplm_bench.analysis import sampling, system_metrics
from mplm_bench.analysis.load import Run, find_runs, load_samples, select
from mplm_bench.analysis.stats import wilson

log = logging.getLogger(__name__)

BASE_KEYS = ["task", "size", "strategy"]
# run-level columns that split groups when they vary among the loaded runs
RUN_LEVEL = ["backend", "model", "scheduler", "input_rate"]
MEAN_COLUMNS = {
    "gen_tokens_mean": "gen_tokens",
    "critical_path_tokens_mean": "critical_path_tokens",
    "peak_context_tokens_mean": "peak_context_tokens",
    "n_calls_mean": "n_calls",
    "n_messages_mean": "n_messages",
    "n_preempted_mean": "n_preempted",
    "rounds_mean": "rounds",
    "wall_s_mean": "wall_s",
    "sim_latency_s_mean": "sim_latency_s",  # only with -M latency_profile (else nan)
    # only with a streamed input (--input-rate, docs/streaming.md; else nan)
    "latency_after_input_mean": "latency_after_input",
    "first_token_after_input_start_mean": "first_token_after_input_start",
    "cp_tokens_after_input_mean": "cp_tokens_after_input",
}


def group_keys(df: pd.DataFrame, by: list[str] | None = None) -> list[str]:
    """task, size, strategy; then every setting that varies and that those keys don't fix
    (the instance `seed` pools: other seeds are other instances); then `by`."""
    keys = list(BASE_KEYS)
    candidates = RUN_LEVEL + [c for c in df.attrs.get("settings", []) if c != "seed"]
    for col in candidates:
        if col in keys or col not in df.columns or df[col].nunique(dropna=False) <= 1:
            continue
        if (df.groupby(keys, dropna=False)[col].nunique(dropna=False) <= 1).all():
            continue  # determined by the keys so far (e.g. sat's `vars` by `size`)
        keys.append(col)
    for col in by or []:
        if col not in df.columns:
            from mplm_bench.config import ConfigError

            raise ConfigError(f"--by: unknown column {col!r}")
        if col not in keys:
            keys.append(col)
    return keys


def status_counts(statuses: pd.Series) -> dict[str, int]:
    counts = statuses.value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def summarize_group(g: pd.DataFrame) -> dict[str, Any]:
    n = len(g)
    k = int(g["correct"].sum())
    lo, hi = wilson(k, n)
    row: dict[str, Any] = {"n": n, "accuracy": k / n, "accuracy_lo": lo, "accuracy_hi": hi,
                           "gen_tokens_median": float(g["gen_tokens"].median())}
    for name, col in MEAN_COLUMNS.items():
        row[name] = float(pd.to_numeric(g[col], errors="coerce").mean()) if col in g else float("nan")
    row["statuses"] = status_counts(g["status"])
    return row


def repeated(df: pd.DataFrame) -> bool:
    """Was some instance sampled more than once (`--repeats`)?"""
    return bool(len(df)) and bool(df.groupby(["run_dir", "instance_id"] if "run_dir" in df else
                                             ["instance_id"]).size().max() > 1)


def summarize(df: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """The report table as a DataFrame (numbers unrounded; `statuses` a dict per row)."""
    keys = group_keys(df, by)
    with_k = repeated(df)
    systems = system_metrics.report_columns(df)  # each system's own metrics, where runs have them
    rows = []
    for values, g in df.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, values, strict=True)) | summarize_group(g)
        row |= system_metrics.group_values(g, systems)
        rows.append(row | (sampling.group_columns(g) if with_k else {}))
    out = pd.DataFrame(rows)
    k_cols = list(dict.fromkeys(c for r in rows for c in r if c == "repeats" or sampling.parse_metric(c.split("_")[0])))
    cols = keys + ["n", "accuracy", "accuracy_lo", "accuracy_hi"] + k_cols + ["gen_tokens_mean",
                   "gen_tokens_median"] + [c for c in MEAN_COLUMNS if c != "gen_tokens_mean"] + systems + ["statuses"]
    out = out[cols]
    out.attrs["keys"] = keys
    return out


def incomplete_runs(runs: list[Run], df: pd.DataFrame) -> list[str]:
    """One `note:` line per run that is not a complete run of what it asked for: still
    `running` (or killed), `interrupted`, or with fewer intact samples than instances × repeats,
    so that a table of partial runs is not read as the whole benchmark."""
    on_disk = df.groupby("run_dir").size().to_dict() if "run_dir" in df else {}
    out = []
    for run in runs:
        m = run.manifest
        status = str(m.get("status") or "unknown")
        repeats = (m.get("config") or {}).get("repeats") or 1
        n_instances = m.get("n_instances")
        wanted = n_instances * repeats if isinstance(n_instances, int) else None
        have = int(on_disk.get(str(run.dir), 0))
        if status == "complete" and (wanted is None or have >= wanted):
            continue
        why = {"running": "running (or killed before it could say so)"}.get(status, status)
        count = f"{have} of {wanted}" if wanted is not None else str(have)
        out.append(f"note: {run.dir}: {why}, {count} samples on disk; the same `run` command resumes it")
    return out


def report(paths: list[str], fmt: str, by: list[str] | None, where: dict[str, Any]) -> str | None:
    """The body of `mplm-bench report`: text for csv/markdown/json, None when printed (rich)."""
    from mplm_bench.analysis import tables

    runs = find_runs(paths)
    everything = load_samples(runs)
    for line in incomplete_runs(runs, everything):
        log.warning("%s", line)
    df = select(everything, where)
    if df.empty:
        from mplm_bench.config import ConfigError

        raise ConfigError("no samples match --where")
    summary = summarize(df, by)
    if fmt == "rich":
        tables.print_rich(tables.report_view(summary), title=f"{len(df)} samples from "
                          f"{df['run_dir'].nunique()} run(s)",
                          caption="accuracy: Wilson 95% interval; other numbers: means per sample"
                          + ("; pass@k, mean@k: bootstrap over instances, maj@k: Wilson over instances"
                             if "repeats" in summary else ""))
        return None
    return tables.render(summary, fmt, view=tables.report_view(summary))
