"""`mplm-bench check RUN_OR_ROOT... --spec THRESHOLDS.yaml`: assertions on runs' metrics.

A spec is a YAML list of rules. Each rule selects samples with `where` (column: value, a list
meaning any of them; no `where`: all samples) and bounds metrics; it is checked separately for
every group the report would show (task, size, strategy and any setting that varies), so
`where: {strategy: mplm}` asserts on each MPLM row, not on a pool of sizes.

```yaml
- name: mplm 9x9                      # optional label for the violations table
  where: {task: sudoku, strategy: mplm, size: 9}
  n: {min: 20}                        # samples in the group
  accuracy: {min: 1.0}                # share of correct samples
  status: {only: [ok]}                # no other status may occur
  critical_path_tokens: {max: 1500}   # a sample column: its mean per sample
  gen_tokens.median: {max: 20000}     # COLUMN.AGG, AGG one of mean median min max sum
  peak_context_tokens.max: {min: 100, max: 3000}
- where: {strategy: threadweaver}     # with --repeats: pass@k, mean@k (avg@k), maj@k (cons@k)
  pass@8: {min: 0.9}                  # over the group's instances (analysis/sampling.py)
  maj@8: {min: 0.8}
  activation_ratio: {min: 0.9}        # and the group rates of analysis/system_metrics.py
```

Bounds are inclusive. A rule whose `where` selects no sample is itself a violation, so a check
never passes vacuously. Exit code 0: all pass; 1: a violation; 2: a bad spec (one line).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mplm_bench.analysis import sampling, system_metrics
from mplm_bench.analysis.load import load_samples, select
from mplm_bench.analysis.report import group_keys
from mplm_bench.analysis.tables import key_text
from mplm_bench.config import ConfigError, read_yaml
from mplm_bench.runtime.accounting import Status

AGGREGATES = ("mean", "median", "min", "max", "sum")
COST_COLUMNS = ("gen_tokens", "critical_path_tokens", "peak_context_tokens")


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}: nothing could pass")
        return self


class StatusBound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    only: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> StatusBound:
        # a typo (`okk`) would otherwise fail every group as a violation, not as a bad spec
        known = [s.value for s in Status]
        if unknown := [s for s in self.only if s not in known]:
            raise ValueError(f"unknown status {unknown[0]!r} (one of {', '.join(known)})")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = None
    where: dict[str, Any] = Field(default_factory=dict)

    def bounds(self) -> dict[str, Bound | StatusBound]:
        out: dict[str, Bound | StatusBound] = {}
        for key, raw in (self.model_extra or {}).items():
            try:
                out[key] = (StatusBound if key == "status" else Bound).model_validate(raw)
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                msg = err['msg'].removeprefix('Value error, ')
                raise ValueError(f"{key}{'.' + loc if loc else ''}: {msg}") from None
        if not out:
            raise ValueError("no metric to check (e.g. accuracy: {min: 1.0})")
        return out


def load_spec(path: Path) -> list[tuple[Rule, dict[str, Bound | StatusBound]]]:
    raw = read_yaml(path)
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: expected a non-empty list of rules")
    rules = []
    for i, item in enumerate(raw):
        try:
            rule = Rule.model_validate(item)
            rules.append((rule, rule.bounds()))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise ConfigError(f"{path}: rule {i}{' ' + loc if loc else ''}: {err['msg']}") from None
        except ValueError as e:
            raise ConfigError(f"{path}: rule {i}: {e}") from None
    return rules


def validate_metric(df: pd.DataFrame, metric: str) -> None:
    if metric in ("accuracy", "n", "status") or sampling.parse_metric(metric) or metric in system_metrics.RATES:
        return
    col, _, agg = metric.partition(".")
    if col not in df.columns or (agg or "mean") not in AGGREGATES:
        raise ConfigError(f"unknown metric {metric!r} (accuracy, n, status, pass@K, mean@K, maj@K, "
                          f"or a sample column with an optional .{'|.'.join(AGGREGATES)})")
    if not (pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col])):
        raise ConfigError(f"metric {metric!r}: column {col!r} is not numeric")


def check_where_types(df: pd.DataFrame, where: dict[str, Any]) -> None:
    """`size: "9"` against a numeric column matches nothing: a bad spec, not a violation."""
    for key, value in where.items():
        if key not in df.columns:
            continue  # select() names the unknown column
        numeric = pd.api.types.is_numeric_dtype(df[key]) and not pd.api.types.is_bool_dtype(df[key])
        for v in value if isinstance(value, list) else [value]:
            if numeric and isinstance(v, str):
                raise ConfigError(f"where {key}: {v!r} is text, but the column holds numbers "
                                  f"(write {key}: {v})")


def metric_value(g: pd.DataFrame, metric: str) -> float:
    if metric == "accuracy":
        return float(g["correct"].mean())
    if metric == "n":
        return float(len(g))
    if (kind := sampling.parse_metric(metric)) is not None:
        return sampling.estimate(g, *kind)[0]  # nan (a failure) when an instance has < K repeats
    if metric in system_metrics.RATES:
        return system_metrics.rate(g, metric)
    col, _, agg = metric.partition(".")
    return float(getattr(g[col].astype(float), agg or "mean")())


def evaluate(df: pd.DataFrame, rules: list[tuple[Rule, dict[str, Bound | StatusBound]]]) -> pd.DataFrame:
    """One row per (rule, group, metric): value, bound, passed."""
    keys = group_keys(df)
    rows = []
    for i, (rule, bounds) in enumerate(rules):
        name = rule.name or f"#{i}"
        for metric in bounds:
            try:
                validate_metric(df, metric)
            except ConfigError as e:
                raise ConfigError(f"rule {name}: {e}") from None
        try:
            check_where_types(df, rule.where)
            sub = select(df, rule.where)
        except ConfigError as e:
            raise ConfigError(f"rule {name}: {e}") from None
        if sub.empty:
            rows.append({"rule": name, "group": "–", "metric": "where", "value": 0, "min": 1,
                         "max": None, "only": None, "passed": False, "value_text": "no samples",
                         "bound_text": f"matches {rule.where}"})
            continue
        for values, g in sub.groupby(keys, dropna=False, sort=True):
            group = " ".join(key_text(v) for v in values if key_text(v) != "–")
            for metric, bound in bounds.items():
                rows.append({"rule": name, "group": group, "metric": metric} | _judge(g, metric, bound))
    return pd.DataFrame(rows)


def _judge(g: pd.DataFrame, metric: str, bound: Bound | StatusBound) -> dict[str, Any]:
    """Raw value and bounds (for csv/json) plus their text (for the tables)."""

    if isinstance(bound, StatusBound):
        counts = {str(k): int(v) for k, v in g["status"].value_counts().items()}
        return {"value": counts, "min": None, "max": None, "only": bound.only,
                "passed": all(s in bound.only for s in counts),
                "value_text": " ".join(f"{k}:{v}" for k, v in counts.items()),
                "bound_text": "only " + ", ".join(bound.only)}
    value = metric_value(g, metric)
    ok = not math.isnan(value) and (bound.min is None or value >= bound.min) \
        and (bound.max is None or value <= bound.max)
    share = metric in ("accuracy", *system_metrics.RATES) or sampling.parse_metric(metric) is not None
    show = (lambda v: "–" if math.isnan(v) else f"{v:.1%}") if share else _exact  # noqa: E731
    text = " and ".join(t for t in (f"≥ {show(bound.min)}" if bound.min is not None else "",
                                     f"≤ {show(bound.max)}" if bound.max is not None else "") if t)
    return {"value": value, "min": bound.min, "max": bound.max, "only": None, "passed": bool(ok),
            "value_text": show(value), "bound_text": text}


def suggest(df: pd.DataFrame, margin: float) -> str:
    """A spec from measured values: accuracy and statuses as measured, costs ≤ measured × (1 + margin)."""
    keys = group_keys(df)
    rules = []
    for values, g in df.groupby(keys, dropna=False, sort=True):
        rule: dict[str, Any] = {"where": {k: _plain(v) for k, v in zip(keys, values, strict=True)},
                                "n": {"min": len(g)},
                                "accuracy": {"min": math.floor(g["correct"].mean() * 100) / 100},
                                "status": {"only": sorted(g["status"].unique().tolist())}}
        for col in COST_COLUMNS:
            rule[col] = {"max": math.ceil(float(g[col].mean()) * (1 + margin))}
        rules.append(rule)
    head = (f"# thresholds suggested from measured values: costs are mean per sample × {1 + margin:g}\n"
            "# (check with: mplm-bench check RUN_OR_ROOT --spec THIS_FILE)\n")
    lines = []
    for rule in rules:  # one `key: {flow}` line per entry, as a person would write it
        for j, (key, value) in enumerate(rule.items()):
            flow = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000,
                                  allow_unicode=True).strip()
            lines.append(("- " if j == 0 else "  ") + f"{key}: {flow}")
    return head + "\n".join(lines) + "\n"


def _exact(v: float) -> str:
    """Enough digits that a value and its bound never print alike when one fails the other."""
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.7g}"


def _plain(v: Any) -> Any:
    """numpy scalars to Python; a missing value to None (`where` then matches missing)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and (math.isnan(v) or v.is_integer()):
        return None if math.isnan(v) else int(v)  # 4.0 in a column with gaps was 4
    return v


def check(paths: list[str], spec: Path | None, fmt: str, show_all: bool, margin: float | None) -> int:
    from mplm_bench.analysis import tables

    df = load_samples(paths)
    if margin is not None:
        print(suggest(df, margin), end="")
        return 0
    if spec is None:
        raise ConfigError("--spec THRESHOLDS.yaml is required (or --suggest MARGIN to write one)")
    result = evaluate(df, load_spec(spec))
    failed = result[~result["passed"]]
    shown = result if show_all else failed
    view = pd.DataFrame({"rule": shown["rule"], "group": shown["group"], "metric": shown["metric"],
                         "value": shown["value_text"], "bound": shown["bound_text"],
                         "result": shown["passed"].map({True: "pass", False: "FAIL"})})
    summary = (f"{len(failed)} of {len(result)} checks failed" if len(failed)
               else f"all {len(result)} checks passed") + f" ({len(df)} samples, spec {spec})"
    if fmt == "rich":
        from rich.console import Console

        if not view.empty:
            tables.print_rich(view, title="violations" if not show_all else "checks")
        Console(stderr=True, highlight=False, soft_wrap=True).print(("[red]" if len(failed) else "[green]") + summary)
    else:
        import sys

        raw = shown.drop(columns=["value_text", "bound_text"])
        sys.stdout.write(tables.render(raw, fmt, view=view))
    return 1 if len(failed) else 0
