"""Column types of the samples and calls tables, fixed so every part of a run unifies."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

SAMPLE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("run_id", pa.string()),
    ("config_hash", pa.string()),
    ("task", pa.string()),
    ("strategy", pa.string()),
    ("protocol", pa.string()),
    ("scheduler", pa.string()),
    ("backend", pa.string()),
    ("model", pa.string()),
    ("instance_id", pa.string()),
    ("size", pa.int64()),
    ("repeat", pa.int64()),
    ("status", pa.string()),
    ("status_detail", pa.string()),
    ("correct", pa.bool_()),
    ("score", pa.float64()),
    ("answer", pa.string()),
    ("parsed_answer", pa.string()),
    ("gen_tokens", pa.int64()),
    ("discarded_tokens", pa.int64()),
    ("prompt_tokens", pa.int64()),
    ("cached_prompt_tokens", pa.int64()),
    ("critical_path_tokens", pa.float64()),
    ("peak_context_tokens", pa.int64()),
    ("n_threads", pa.int64()),
    ("n_calls", pa.int64()),
    ("n_messages", pa.int64()),
    ("n_dropped_messages", pa.int64()),
    ("n_preempted", pa.int64()),
    ("n_truncated_calls", pa.int64()),
    ("n_protocol_errors", pa.int64()),
    ("max_depth", pa.int64()),
    ("rounds", pa.int64()),
    ("virtual_time", pa.float64()),
    ("sim_latency_s", pa.float64()),
    ("wall_s", pa.float64()),
    ("extra_json", pa.string()),
]

CALL_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("run_id", pa.string()),
    ("instance_id", pa.string()),
    ("repeat", pa.int64()),
    ("call", pa.int64()),
    ("thread_id", pa.string()),
    ("parent_id", pa.string()),
    ("step", pa.int64()),
    ("round", pa.int64()),
    ("prompt_tokens", pa.int64()),
    ("cached_prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("finish_reason", pa.string()),
    ("stop_reason", pa.string()),
    ("status", pa.string()),
    ("start_wall", pa.float64()),
    ("end_wall", pa.float64()),
    ("start_v", pa.float64()),
    ("end_v", pa.float64()),
    ("cp_start", pa.float64()),
    ("cp_end", pa.float64()),
    ("ttft_s", pa.float64()),
    ("directives", pa.string()),
    ("consumed_from", pa.string()),
    ("response", pa.string()),
    ("prompt", pa.string()),
    ("error", pa.string()),
    ("retries", pa.int64()),
    ("discarded_tokens", pa.int64()),
]

CALL_SCHEMA = pa.schema(CALL_COLUMNS)


def _arrow_type(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def sample_schema(task_columns: dict[str, Any]) -> pa.Schema:
    """The fixed columns plus the task's own (Instance.meta and per-sample score extras)."""
    fixed = {name for name, _ in SAMPLE_COLUMNS}
    extra = [(k, _arrow_type(v)) for k, v in sorted(task_columns.items()) if k not in fixed]
    return pa.schema(SAMPLE_COLUMNS + extra)
