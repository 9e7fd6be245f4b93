"""Rendering tables: rich for the terminal, markdown for READMEs, csv and json for scripts.

Machine formats (csv, json) carry the unrounded numbers; human formats (rich, markdown) a
formatted view. Dict cells (status counts) become `ok:20 deadlock:1` in csv, objects in json.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

FORMATS = ("rich", "csv", "markdown", "json")
_LEFT = {"task", "strategy", "status", "statuses", "backend", "model", "scheduler", "metric",
         "rule", "where", "group", "check", "value", "bound", "result", "verdict", "cell", "note"}


def num(x: Any, digits: int | None = None) -> str:
    """1234.5 -> '1,234' ; 2.25 -> '2.2' (or `digits`); nan -> '–'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if digits is not None:
        return f"{x:,.{digits}f}"
    if float(x).is_integer() or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) >= 10 else f"{x:,.2f}"


def key_text(v: Any) -> str:
    """A grouping value as a reader wants it: missing -> '–', 4.0 -> '4'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def pct(p: float, lo: float | None = None, hi: float | None = None) -> str:
    if p is None or math.isnan(p):
        return "–"
    text = f"{p:.0%}"
    if lo is not None and hi is not None and not math.isnan(lo):
        text += f" [{lo * 100:.0f}, {hi * 100:.0f}]"
    return text


def statuses_text(d: Any) -> str:
    return " ".join(f"{k}:{v}" for k, v in d.items()) if isinstance(d, dict) else str(d)


def report_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The report's human columns, formatted."""
    keys = summary.attrs.get("keys", ["task", "size", "strategy"])
    rows = []
    for r in summary.to_dict("records"):
        row = {k: key_text(r[k]) for k in keys}
        row |= {
            "n": str(r["n"]),
            "accuracy [95% CI]": pct(r["accuracy"], r["accuracy_lo"], r["accuracy_hi"]),
        }
        row |= sampling_view(r, summary)
        row |= {
            "gen tok mean": num(r["gen_tokens_mean"]),
            "gen tok median": num(r["gen_tokens_median"]),
            "critical path": num(r["critical_path_tokens_mean"]),
            "peak context": num(r["peak_context_tokens_mean"]),
            "calls": num(r["n_calls_mean"]),
            "messages": num(r["n_messages_mean"]),
            "preempted": num(r["n_preempted_mean"]),
            "rounds": num(r["rounds_mean"]),
            "statuses": statuses_text(r["statuses"]),
            "wall s": num(r["wall_s_mean"], 2),
        }
        row |= {head: (pct(r[col]) if col.endswith(("_ratio", "_rate")) and col != "acceleration_ratio_mean"
                       else num(r[col], 3 if col == "acceleration_ratio_mean" else None))
                for col, head in SYSTEM_HEADS.items() if col in summary}
        if summary.get("sim_latency_s_mean", pd.Series(dtype=float)).notna().any():
            row["sim s"] = num(r["sim_latency_s_mean"], 2)  # simulated seconds per sample
        if summary.get("latency_after_input_mean", pd.Series(dtype=float)).notna().any():
            # a streamed input (docs/streaming.md), on the run's clock
            row["after input"] = num(r["latency_after_input_mean"], 2)
            row["first token"] = num(r["first_token_after_input_start_mean"], 2)
            row["CP after input"] = num(r["cp_tokens_after_input_mean"])
        rows.append(row)
    return pd.DataFrame(rows)


SYSTEM_HEADS = {  # analysis/system_metrics.py: the report's column -> its header
    "token_latency_mean": "token latency", "acceleration_ratio_mean": "accel. ratio",
    "avg_parallelism_mean": "T / L", "activation_ratio": "activation",
    "token_count_mean": "APR tokens", "longest_seq_token_count_mean": "APR longest seq",
    "avg_seq_token_count_mean": "APR avg seq", "effective_ttc_tokens_mean": "effective TTC",
    "emergent_correctness_rate": "emergent correct",
}


def sampling_view(r: dict[str, Any], summary: pd.DataFrame) -> dict[str, str]:
    """pass@1, pass@n, mean@n, maj@n of a report row with repeats (analysis/sampling.py); the
    headers name n when every row has the same repeats, else say `n` beside a `repeats` column."""
    if "repeats" not in summary:
        return {}
    ns = set(summary["repeats"].dropna().astype(int))
    n = int(r["repeats"]) if not math.isnan(r["repeats"]) else 0
    name = (lambda kind: f"{kind}@{n}") if len(ns) == 1 else (lambda kind: f"{kind}@n")  # noqa: E731
    out = {} if len(ns) == 1 else {"repeats": str(n)}
    for head, kind, k in (("pass@1", "pass", 1), (name("pass"), "pass", n), (name("mean"), "mean", n),
                          (name("maj"), "maj", n)):
        if head in out or (head == "pass@1" and k == n and len(ns) == 1 and kind == "pass" and n == 1):
            continue
        key = f"{kind}@{k}"
        value, lo, hi = r.get(key, math.nan), r.get(f"{key}_lo"), r.get(f"{key}_hi")
        out[head] = pct(value) if lo == hi == value else pct(value, lo, hi)  # 100% [100, 100]: 100%
    return out


def markdown(view: pd.DataFrame) -> str:
    cols = [str(c) for c in view.columns]
    right = [c not in _LEFT for c in cols]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    for row in view.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def render(raw: pd.DataFrame, fmt: str, view: pd.DataFrame | None = None) -> str:
    if fmt == "csv":
        flat = raw.copy()
        for col in flat.columns:
            if flat[col].map(lambda v: isinstance(v, dict | list)).any():
                flat[col] = flat[col].map(lambda v: " ".join(map(str, v)) if isinstance(v, list)
                                          else statuses_text(v) if isinstance(v, dict) else v)
        return flat.to_csv(index=False)
    if fmt == "json":
        return json.dumps([_plain(r) for r in raw.to_dict("records")], indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown(view if view is not None else raw)
    raise ValueError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")


def _plain(value: Any) -> Any:
    """numpy scalars to Python, NaN to null, recursively (json.dumps writes NaN otherwise)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def print_rich(view: pd.DataFrame, title: str = "", caption: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None, title_justify="left", caption=caption or None,
                  caption_justify="left")
    for col in view.columns:
        table.add_column(str(col), justify="left" if str(col) in _LEFT else "right")
    for row in view.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console = Console()
    if not console.is_terminal:  # a pipe or CI log: don't squeeze into 80 columns
        console = Console(width=200)
    console.print(table)
