"""Reading a run's Parquet files: one scan over all of them, only the columns asked for.

Files are read as one pyarrow dataset with the schema of all files together (a task column some
instances lack, a column a newer harness added before a resume) and page CRCs verified. A file
that fails (garbled, truncated under a footer that looked whole) is left out with a warning and
the others read again, so a damaged part never turns into data or stops a report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

_FORMAT = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True))


class PartVanished(FileNotFoundError):
    """A part was gone when read: a writer compacted or quarantined meanwhile, so the listing it
    came from is stale (not damage: read the folder again)."""


READ_ATTEMPTS = 50  # a compaction's deletes take milliseconds; a reader never waits seconds


def read_committed(run_dir: Path, table: str = "samples", columns: list[str] | None = None,
                   filters: Any = None) -> pa.Table:
    """The committed rows of one run's `samples` or `calls`, as of one state of the folder: a
    listing a writer changed meanwhile (a file gone between listing and reading) is read again,
    so a run compacting never loses rows or warns of an unreadable part to its readers."""
    from mplm_bench.results.store import RunStore

    store = RunStore(Path(run_dir))
    for attempt in range(READ_ATTEMPTS):
        scan = store.scan()
        paths = scan.samples if table == "samples" else scan.calls
        if not scan.vanished:
            try:
                table_ = once(read_table(paths, _with_keys(columns, table), filters), table, columns)
            except PartVanished:
                pass
            else:
                for path, why in scan.bad.items():  # left out by the scan: say so, as a read would
                    if path.parent.name == table and why.startswith("damaged"):
                        log.warning("%s: %s skipped", path, why)
                return table_
        time.sleep(min(0.001 * 2 ** attempt, 0.05))
    return read_table(paths, columns, filters, stale_ok=True)  # still moving: read what is there


def _keys(table: str) -> list[str]:
    return ["instance_id", "repeat", "call"] if table == "calls" else ["instance_id", "repeat"]


def _with_keys(columns: list[str] | None, table: str) -> list[str] | None:
    return None if columns is None else list(dict.fromkeys([*columns, *_keys(table)]))


def once(t: pa.Table, table: str, columns: list[str] | None) -> pa.Table:
    """Each sample (each call) once: a copy of a part under another name (a user's `cp`, a sync
    tool's "file (1).parquet") would otherwise count its rows twice (issue 39.6)."""
    keys = _keys(table)
    if t.num_rows and all(k in t.column_names for k in keys):
        dup = t.select(keys).to_pandas().duplicated().to_numpy()
        if dup.any():
            log.warning("%s rows of %s are copies of rows in another part (a copied file?): counted once",
                        int(dup.sum()), table)
            t = t.filter(pa.array(~dup))
    if columns is not None:
        t = t.select([c for c in columns if c in t.column_names])
    return t


def read_table(paths: list[Path], columns: list[str] | None = None, filters: Any = None,
               stale_ok: bool = False) -> pa.Table:
    """The rows of `paths` as one Arrow table; `columns` a file lacks are left out (or null).
    A part gone meanwhile raises PartVanished (`stale_ok`: it is left out with a warning)."""
    if not paths:
        return pa.table({})
    schemas, good = [], []
    for p in paths:
        try:
            schemas.append(pq.read_schema(p))  # the footer: a damaged one fails here
            good.append(p)
        except (OSError, pa.ArrowException) as e:
            _skip(p, e, stale_ok)
    try:
        return _scan(good, _unify(schemas), columns, filters)
    except (OSError, pa.ArrowException):
        pass
    parts, kept = [], []
    for p, schema in zip(good, schemas, strict=True):  # one by one: find the bad ones
        try:
            parts.append(_scan([p], schema, columns, filters))
            kept.append(schema)
        except (OSError, pa.ArrowException) as e:
            _skip(p, e, stale_ok)
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")


def read_files(paths: list[Path], columns: list[str] | None = None, filters: Any = None) -> Any:
    """`read_table` as a pandas DataFrame."""
    return read_table(paths, columns, filters).to_pandas()


def _scan(paths: list[Path], schema: pa.Schema | None, columns: list[str] | None, filters: Any) -> pa.Table:
    data = ds.dataset([str(p) for p in paths], schema=schema, format=_FORMAT)
    names = set(data.schema.names)
    cols = None if columns is None else [c for c in columns if c in names]
    expr = None
    if filters:
        expr = pq.filters_to_expression([f for f in filters if f[0] in names]) \
            if all(f[0] in names for f in filters) else ds.scalar(False)
    return data.to_table(columns=cols, filter=expr)


def _skip(path: Path, error: BaseException, stale_ok: bool = True) -> None:
    if not stale_ok and not path.exists():
        raise PartVanished(str(path)) from None
    log.warning("%s: unreadable Parquet part skipped (%s)", path, str(error).splitlines()[0][:200])


def _unify(schemas: list[pa.Schema]) -> pa.Schema | None:
    """All files' columns together. Left alone, pyarrow reads every file with the first one's
    schema and silently drops a column only later files have. None: let pyarrow decide."""
    try:
        return pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    except pa.ArrowException:
        return None


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns (missing ones null), cast to its types."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def iter_committed(run_dir: Path, table: str = "calls", columns: list[str] | None = None,
                   batch_rows: int = 8192) -> Iterator[pa.RecordBatch]:
    """The committed rows of one run in file order, a batch at a time, for a reader that wants
    only the first rows it finds (the viewer's page: calls up to a size budget) and must not
    read the whole run. Page CRCs are verified; a part that fails partway is left with a warning
    (its rows read before the failure stay yielded). Unlike `read_committed` a copied part is
    not dropped here: a caller keeps each key once."""
    from mplm_bench.results.store import RunStore

    scan = RunStore(Path(run_dir)).scan()
    for path, why in scan.bad.items():  # left out by the scan: say so, as read_committed does
        if path.parent.name == table and why.startswith("damaged"):
            log.warning("%s: %s skipped", path, why)
    for path in scan.samples if table == "samples" else scan.calls:
        try:
            f = pq.ParquetFile(path, page_checksum_verification=True)
            names = set(f.schema_arrow.names)
            cols = None if columns is None else [c for c in columns if c in names]
            yield from f.iter_batches(batch_size=batch_rows, columns=cols)
        except (OSError, pa.ArrowException, ValueError) as e:
            _skip(path, e)
