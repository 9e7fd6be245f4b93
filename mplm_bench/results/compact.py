"""Compaction: a run's committed files (its batches, an earlier compacted pair) merged into one
large file per table, crash-safely.

Order (under the run folder's lock): both compacted files are written under temp names a row
group at a time (memory stays bounded however many samples), fsynced, then renamed: calls first,
then samples, whose footer lists every batch it absorbed (the commit mark of the compaction).
Only then are the batches deleted. A crash before the samples rename leaves an orphan calls file
(quarantined) and the batches untouched; a crash after it leaves batches the compacted file
already holds: readers skip them (results/store.py `Scan.absorbed`) and the next run deletes
them. No moment exists at which a sample is lost or counted twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mplm_bench.results.read import conform
from mplm_bench.results.store import (
    ABSORBED,
    COMPACT_PREFIX,
    WRITE_OPTIONS,
    RunStore,
    disk_errors,
    fsync_dirs,
    fsync_file,
    unique_tag,
)

SAMPLE_ROWS_PER_GROUP = 50_000
CALL_ROWS_PER_GROUP = 20_000  # calls carry prompt and response texts: smaller groups
FAULT_ENV = "MPLM_BENCH_FAULT"  # tests: `compact-writing` / `compact-committed` kill the process there


def compact(store: RunStore, batches: list[str]) -> str | None:
    """Merge `batches` (committed names in samples/ and calls/: batches and compacted pairs) into
    one compacted pair; returns its name, or None when there is nothing to merge (one or none)."""
    if len(batches) < 2:
        return None
    name = f"{COMPACT_PREFIX}{unique_tag()}.parquet"
    s_tmp = store.samples_dir / f".{name}.tmp"
    c_tmp = store.calls_dir / f".{name}.tmp"
    with disk_errors(store.dir):
        try:
            _merge([store.calls_dir / b for b in batches], c_tmp, CALL_ROWS_PER_GROUP, None)
            _merge([store.samples_dir / b for b in batches], s_tmp, SAMPLE_ROWS_PER_GROUP,
                   {ABSORBED: json.dumps(batches).encode()})
            os.replace(c_tmp, store.calls_dir / name)
            fsync_dirs([store.calls_dir])
            os.replace(s_tmp, store.samples_dir / name)  # the commit mark
            fsync_dirs([store.samples_dir])
        finally:
            s_tmp.unlink(missing_ok=True)
            c_tmp.unlink(missing_ok=True)
    _fault("compact-committed")
    for b in batches:
        (store.samples_dir / b).unlink(missing_ok=True)
        (store.calls_dir / b).unlink(missing_ok=True)
    fsync_dirs([store.samples_dir, store.calls_dir])
    return name


def _merge(paths: list[Path], out: Path, rows_per_group: int, metadata: dict[bytes, bytes] | None) -> None:
    schema = pa.unify_schemas([pq.read_schema(p).remove_metadata() for p in paths],
                              promote_options="permissive")
    if metadata:
        schema = schema.with_metadata(metadata)
    pending: list[pa.Table] = []
    rows = 0
    with pq.ParquetWriter(out, schema, **WRITE_OPTIONS) as writer:
        for i, p in enumerate(paths):
            f = pq.ParquetFile(p, page_checksum_verification=True)
            for g in range(f.num_row_groups):  # a large compacted file: a row group at a time
                table = f.read_row_group(g)
                pending.append(conform(table, schema))
                rows += table.num_rows
                if rows >= rows_per_group:
                    writer.write_table(pa.concat_tables(pending), row_group_size=rows)
                    pending, rows = [], 0
            if i == len(paths) // 2:
                _fault("compact-writing")
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=max(rows, 1))
    fsync_file(out)


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os._exit(75)  # as abrupt as a SIGKILL: no finally, no flush
