"""Turn a finished sample into one samples row and its calls rows.

The row types are the one list of columns: `SampleRow` (the samples table: the run's settings,
the score, and `SampleMetrics`' fields under the same names) and `CallKey` + `CallRecord` (the
calls table). results/schema.py derives the Arrow schemas from them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from mplm_bench.runtime.accounting import SampleMetrics

if TYPE_CHECKING:
    from mplm_bench.config import RunConfig
    from mplm_bench.plan import Plan
    from mplm_bench.strategies.base import SampleResult
    from mplm_bench.tasks.base import Instance


@dataclass(frozen=True, slots=True)
class SampleRow:
    """The fixed columns of the samples table, in order (a task adds its own after them)."""

    run_id: str
    config_hash: str
    task: str
    strategy: str
    protocol: str
    scheduler: str
    backend: str
    model: str
    instance_id: str
    size: int
    repeat: int
    status: str
    status_detail: str
    correct: bool
    score: float
    answer: str | None
    parsed_answer: str | None
    gen_tokens: int
    discarded_tokens: int
    prompt_tokens: int
    cached_prompt_tokens: int
    critical_path_tokens: float
    peak_context_tokens: int
    n_threads: int
    n_calls: int
    n_messages: int
    n_dropped_messages: int
    n_preempted: int
    n_truncated_calls: int
    n_protocol_errors: int
    max_depth: int
    rounds: int
    virtual_time: float
    sim_latency_s: float | None
    wall_s: float
    extra_json: str | None


@dataclass(frozen=True, slots=True)
class CallKey:
    """The columns that tie a calls row to its sample; a `CallRecord`'s fields follow them."""

    run_id: str
    instance_id: str
    repeat: int


# the sample columns that are SampleMetrics fields of the same name (status and detail: below)
_FROM_METRICS = tuple(f.name for f in fields(SampleRow)
                      if f.name in {m.name for m in fields(SampleMetrics)} and f.name != "status")
_FLOATS = tuple(f.name for f in fields(SampleRow) if f.type == "float")


def sample_row(cfg: RunConfig, plan: Plan, instance: Instance, repeat: int, result: SampleResult) -> dict[str, Any]:
    m = result.world.metrics
    score = result.score
    extra = dict(m.extra)
    values: dict[str, Any] = {name: getattr(m, name) for name in _FROM_METRICS}
    values |= {
        "run_id": cfg.run_id(),
        "config_hash": cfg.config_hash(),
        "task": cfg.task,
        "strategy": cfg.strategy,
        "protocol": plan.strategy.protocol,
        "scheduler": plan.strategy.scheduler_kind(plan.task),
        "backend": cfg.backend,
        "model": plan.model_label,
        "instance_id": instance.id,
        "size": instance.size,
        "repeat": repeat,
        "status": str(m.status),
        "status_detail": m.detail,
        "correct": bool(score.correct),
        "score": float(score.score),
        "parsed_answer": score.parsed,
        # with a latency profile, virtual time is the simulated seconds (runtime/latency.py)
        "sim_latency_s": m.extra.get("sim_latency_s", float(m.virtual_time) if plan.latency.batch else None),
        "extra_json": json.dumps(extra, sort_keys=True, default=str) if extra else None,
    }
    for name in _FLOATS:  # counts summed as ints stay floats in the table
        values[name] = float(values[name])
    row = asdict(SampleRow(**values))  # a column missing or unknown fails here, not in Parquet
    trace = plan.task.trace_columns(result.world.calls)
    for k, v in {**instance.meta, **score.extra, **trace}.items():
        row.setdefault(k, v)
    return row


def call_rows(cfg: RunConfig, instance: Instance, repeat: int, result: SampleResult) -> list[dict[str, Any]]:
    base = asdict(CallKey(cfg.run_id(), instance.id, repeat))
    return [base | c.to_row() for c in result.world.calls]
