"""Turn a finished sample into one samples row and its calls rows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mplm_bench.config import RunConfig
    from mplm_bench.plan import Plan
    from mplm_bench.strategies.base import SampleResult
    from mplm_bench.tasks.base import Instance


def sample_row(cfg: RunConfig, plan: Plan, instance: Instance, repeat: int, result: SampleResult) -> dict[str, Any]:
    m = result.world.metrics
    score = result.score
    extra = dict(m.extra)
    row: dict[str, Any] = {
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
        "answer": m.answer,
        "parsed_answer": score.parsed,
        "gen_tokens": m.gen_tokens,
        "discarded_tokens": m.discarded_tokens,
        "prompt_tokens": m.prompt_tokens,
        "cached_prompt_tokens": m.cached_prompt_tokens,
        "critical_path_tokens": float(m.critical_path_tokens),
        "peak_context_tokens": m.peak_context_tokens,
        "n_threads": m.n_threads,
        "n_calls": m.n_calls,
        "n_messages": m.n_messages,
        "n_dropped_messages": m.n_dropped_messages,
        "n_preempted": m.n_preempted,
        "n_truncated_calls": m.n_truncated_calls,
        "n_protocol_errors": m.n_protocol_errors,
        "max_depth": m.max_depth,
        "rounds": m.rounds,
        "virtual_time": float(m.virtual_time),
        # with a latency profile, virtual time is the simulated seconds (runtime/latency.py)
        "sim_latency_s": m.extra.get("sim_latency_s", float(m.virtual_time) if plan.latency.batch else None),
        "wall_s": float(m.wall_s),
        "extra_json": json.dumps(extra, sort_keys=True, default=str) if extra else None,
    }
    trace = plan.task.trace_columns(result.world.calls)
    for k, v in {**instance.meta, **score.extra, **trace}.items():
        row.setdefault(k, v)
    return row


def call_rows(cfg: RunConfig, instance: Instance, repeat: int, result: SampleResult) -> list[dict[str, Any]]:
    base = {"run_id": cfg.run_id(), "instance_id": instance.id, "repeat": repeat}
    return [base | c.to_row() for c in result.world.calls]
