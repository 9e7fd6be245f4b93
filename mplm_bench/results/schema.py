"""Column types of the samples and calls tables, fixed so every part of a run unifies, and
derived from the row types themselves (results/rows.py `SampleRow`, `CallKey`;
runtime/accounting.py `CallRecord`), so a column is declared in one place."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pyarrow as pa

from mplm_bench.results.rows import CallKey, SampleRow
from mplm_bench.runtime.accounting import CallRecord

_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def columns_of(record: type) -> list[tuple[str, pa.DataType]]:
    """(name, Arrow type) of a record dataclass's fields, in order: `int`, `float`, `str`, `bool`,
    each optionally `| None` (every column is nullable)."""
    out = []
    for f in fields(record):
        hint = str(f.type).removesuffix(" | None")
        if hint not in _ARROW:
            raise TypeError(f"{record.__name__}.{f.name}: no column type for {f.type!r}")
        out.append((f.name, _ARROW[hint]))
    return out


SAMPLE_COLUMNS: list[tuple[str, pa.DataType]] = columns_of(SampleRow)
CALL_COLUMNS: list[tuple[str, pa.DataType]] = columns_of(CallKey) + columns_of(CallRecord)

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
