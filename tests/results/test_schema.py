"""The Parquet layout is derived from the row types (results/rows.py, runtime/accounting.py):
pinned here column by column, so a change to a record is a visible change to the tables."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mplm_bench.results.schema import CALL_SCHEMA, SAMPLE_COLUMNS, columns_of, sample_schema

SAMPLES = [
    ("run_id", "string"),
    ("config_hash", "string"),
    ("task", "string"),
    ("strategy", "string"),
    ("protocol", "string"),
    ("scheduler", "string"),
    ("backend", "string"),
    ("model", "string"),
    ("instance_id", "string"),
    ("size", "int64"),
    ("repeat", "int64"),
    ("status", "string"),
    ("status_detail", "string"),
    ("correct", "bool"),
    ("score", "double"),
    ("answer", "string"),
    ("parsed_answer", "string"),
    ("gen_tokens", "int64"),
    ("discarded_tokens", "int64"),
    ("prompt_tokens", "int64"),
    ("cached_prompt_tokens", "int64"),
    ("critical_path_tokens", "double"),
    ("peak_context_tokens", "int64"),
    ("n_threads", "int64"),
    ("n_calls", "int64"),
    ("n_messages", "int64"),
    ("n_dropped_messages", "int64"),
    ("n_preempted", "int64"),
    ("n_truncated_calls", "int64"),
    ("n_protocol_errors", "int64"),
    ("max_depth", "int64"),
    ("rounds", "int64"),
    ("virtual_time", "double"),
    ("sim_latency_s", "double"),
    ("wall_s", "double"),
    ("extra_json", "string"),
]
CALLS = [
    ("run_id", "string"),
    ("instance_id", "string"),
    ("repeat", "int64"),
    ("call", "int64"),
    ("thread_id", "string"),
    ("parent_id", "string"),
    ("step", "int64"),
    ("round", "int64"),
    ("prompt_tokens", "int64"),
    ("cached_prompt_tokens", "int64"),
    ("completion_tokens", "int64"),
    ("finish_reason", "string"),
    ("stop_reason", "string"),
    ("status", "string"),
    ("start_wall", "double"),
    ("end_wall", "double"),
    ("start_v", "double"),
    ("end_v", "double"),
    ("cp_start", "double"),
    ("cp_end", "double"),
    ("ttft_s", "double"),
    ("directives", "string"),
    ("consumed_from", "string"),
    ("response", "string"),
    ("prompt", "string"),
    ("error", "string"),
    ("retries", "int64"),
    ("discarded_tokens", "int64"),
]


def test_the_samples_columns_are_the_sample_row_fields():
    assert [(n, str(t)) for n, t in SAMPLE_COLUMNS] == SAMPLES


def test_the_calls_columns_are_the_call_key_and_record_fields():
    assert [(f.name, str(f.type)) for f in CALL_SCHEMA] == CALLS


def test_task_columns_follow_the_fixed_ones():
    schema = sample_schema({"label": True, "n_vars": 8, "status": "x"})
    assert schema.names[: len(SAMPLES)] == [n for n, _ in SAMPLES]
    assert schema.names[len(SAMPLES):] == ["label", "n_vars"]  # a fixed name is never duplicated


def test_a_field_without_a_column_type_is_refused():
    @dataclass
    class Bad:
        x: list

    with pytest.raises(TypeError, match="Bad.x: no column type"):
        columns_of(Bad)
