"""`mplm-bench report --kind diversity`: per run, how alike its branches were and how they
influenced the answer (docs/metrics.md, "Diversity and influence"), from the Parquet alone.

Rates over samples are means of per-sample indicators; vulnerability, recovery and adoption are
pooled over readers (events / opportunities over all samples), so a sample with 32 readers weighs
32 times one with one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd

from mplm_bench.analysis.answer_key import AnswerKey
from mplm_bench.analysis.branches import sample_branches
from mplm_bench.analysis.diversity import sample_metrics
from mplm_bench.analysis.load import Run, find_runs, load_calls, load_samples, select
from mplm_bench.config import ConfigError

log = logging.getLogger(__name__)

CALL_COLUMNS = ["instance_id", "repeat", "call", "thread_id", "parent_id", "round", "directives",
                "consumed_from", "response"]
SAMPLE_COLUMNS = ["task", "size", "strategy", "instance_id", "repeat", "correct", "parsed_answer"]
MEANS = ["inputs", "agreement", "entropy", "similarity", "oracle", "oracle_gap", "emergent",
         "final_is_modal", "received", "depends_on"]
POOLED = {"vulnerability": ("vulnerable", "prior_right"),
          "vulnerability_majority": ("vulnerable_majority", "prior_right"),
          "recovery": ("recovered", "prior_wrong"), "adoption": ("adopted", "readers")}
NOISE_KEYS = ("error_rate", "conformity")  # -M knobs of the noisy scripted policy, shown as columns


def run_samples(run: Run, where: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per sample of the run with its diversity metrics (diversity.sample_metrics)."""
    samples = select(load_samples([run], columns=SAMPLE_COLUMNS), where)
    if samples.empty:
        return pd.DataFrame()
    key = AnswerKey.of_manifest(run.manifest)
    calls = load_calls(run.dir, columns=CALL_COLUMNS)
    groups = {k: g for k, g in calls.groupby(["instance_id", "repeat"], sort=False)}
    rows, missing = [], 0
    for s in samples.to_dict("records"):
        g = groups.get((s["instance_id"], s["repeat"]))
        if g is None:
            continue
        sample = sample_branches(g.to_dict("records"))
        try:
            for b in sample.branches.values():
                b.parsed, b.correct = key(sample.instance_id, b.answer)
        except KeyError:
            missing += 1
            continue
        sample.keep_answered()
        rows.append(sample_metrics(sample, bool(s["correct"]), s.get("parsed_answer")) | {"size": s["size"]})
    if missing:
        log.warning("warning: %s: %d samples skipped (their instances could not be rebuilt)", run.dir, missing)
    return pd.DataFrame(rows)


def run_labels(run: Run) -> dict[str, Any]:
    config = run.manifest.get("config") or {}
    backend = config.get("backend_options") or {}
    options = config.get("strategy_options") or {}  # as given (-S), not every default
    return {"task": config.get("task"), "strategy": config.get("strategy"),
            "options": " ".join(f"{k}={_text(v)}" for k, v in sorted(options.items())),
            **{k: float(backend.get(k, 0.0)) for k in NOISE_KEYS},
            "run_dir": str(run.dir)}


def _text(v: Any) -> str:
    return json.dumps(v) if isinstance(v, dict | list) else str(v)


def aggregate(per_sample: pd.DataFrame) -> dict[str, Any]:
    """One run's row from its per-sample rows."""
    out: dict[str, Any] = {"n": len(per_sample), "accuracy": float(per_sample["correct"].mean())}
    for col in MEANS:
        out[col] = float(pd.to_numeric(per_sample[col], errors="coerce").mean())
    for name, (num, den) in POOLED.items():
        d = int(per_sample[den].sum())
        out[name] = int(per_sample[num].sum()) / d if d else float("nan")
        out[f"{name}_n"] = d
    return out


def summarize(paths: list[str], where: dict[str, Any] | None = None) -> pd.DataFrame:
    """The diversity table: one row per run with samples (numbers unrounded)."""
    rows = []
    for run in find_runs(paths):
        try:
            per_sample = run_samples(run, where)
        except ConfigError as e:
            log.warning("warning: skipping %s: %s", run.dir, e)
            continue
        if not per_sample.empty:
            sizes = per_sample["size"].dropna().unique()
            rows.append(run_labels(run) | {"size": sizes[0] if len(sizes) == 1 else None}
                        | aggregate(per_sample))
    if not rows:
        raise ConfigError("no samples to measure under " + ", ".join(map(str, paths)))
    cols = ["task", "size", "strategy", "options", *NOISE_KEYS]
    df = pd.DataFrame(rows)
    df = df[cols + [c for c in df.columns if c not in cols]]
    return df.sort_values(cols, na_position="first", kind="stable").reset_index(drop=True)


def view(summary: pd.DataFrame) -> pd.DataFrame:
    """The human columns, formatted."""
    from mplm_bench.analysis.tables import key_text, num, pct

    rows = []
    for r in summary.to_dict("records"):
        rows.append({
            "task": key_text(r["task"]), "size": key_text(r["size"]), "strategy": key_text(r["strategy"]),
            "options": r["options"] or "–", "noise": num(r["error_rate"], 2),
            "conform": num(r["conformity"], 2), "n": str(r["n"]), "acc": pct(r["accuracy"]),
            "k": num(r["inputs"]), "agree": pct(r["agreement"]), "H bits": num(r["entropy"], 2),
            "sim": num(r["similarity"], 2), "oracle": pct(r["oracle"]), "gap": pct(r["oracle_gap"]),
            "emergent": pct(r["emergent"]),
            "vuln": _rate(r["vulnerability"], r["vulnerability_n"]),
            "recov": _rate(r["recovery"], r["recovery_n"]),
            "adopt": _rate(r["adoption"], r["adoption_n"]),
            "recv": num(r["received"]), "deps": num(r["depends_on"]),
        })
    return pd.DataFrame(rows)


def _rate(p: float, n: int) -> str:
    from mplm_bench.analysis.tables import pct

    return f"{pct(p)} ({n})" if n else "–"


def report(paths: list[str], fmt: str, where: dict[str, Any] | None = None) -> str | None:
    """The body of `report --kind diversity`: text for csv/markdown/json, None when printed."""
    from mplm_bench.analysis import tables

    summary = summarize(paths, where)
    if fmt == "rich":
        tables.print_rich(view(summary), title=f"diversity and influence, {len(summary)} run(s)",
                          caption="noise/conform: -M error_rate/conformity; k: inputs of the final answer; "
                                  "agree: their modal share; H: answer entropy; sim: pairwise 3-gram Jaccard; "
                                  "oracle: an input right; gap: an input right, the answer wrong; emergent: "
                                  "the answer right, every input wrong; vuln/recov/adopt: pooled over readers "
                                  "(count); recv/deps: messages the answer read / threads in its causal past. "
                                  "docs/metrics.md")
        return None
    return tables.render(summary, fmt, view=view(summary))
