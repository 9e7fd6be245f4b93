"""A run directory: manifest.json, samples/ and calls/ folders of Parquet files (docs/results.md).

Finished samples are committed in small batches (results/commit.py): one file in calls/, then one
of the same name in samples/ (the samples file is the commit mark: a sample counts as done only
when its samples file and the calls file of that name are both intact). Each file is written
under a unique hidden temporary name, fsynced and renamed into place, so a crash never leaves a
half-written file under its real name. When a run ends and when one resumes, the batches are
compacted into one large file per table (results/compact.py); the compacted samples file lists
the batches it absorbed, so a reader never counts a sample twice even if a crash left them.

Every page carries a CRC (Parquet page checksums) and every read verifies it: a file garbled
some other way (a disk filling up, an interrupted copy, flipped bits) is never read as data, and
the next run moves it to `corrupt/` so its samples run again. Only the holder of the run
folder's lock (results/lock.py) writes, quarantines or compacts.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from mplm_bench.config import ConfigError

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_MAGIC = b"PAR1"
COMPACT_PREFIX = "compact-"
ABSORBED = b"mplm_bench.absorbed"  # compacted samples file: JSON list of the batch names in it
# zstd and page CRCs: the CRC is what tells a garbled page from data (issue: 537 of 4,872 one-bit
# flips read back wrong without it)
WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_page_checksum": True}
Key = tuple[str, int]  # (instance_id, repeat)


class DiskFull(ConfigError):
    """No space left: one `error:` line (exit 2); what was committed stays, a rerun resumes."""


def safe_name(key: str) -> str:
    """A file name for an instance/sample key; keys with other characters get a hash suffix.

    The name never starts with `.` or `_`: Parquet readers skip such files as hidden, so a
    sample written under one would be on disk yet missing from every table. Keys with capitals
    get the suffix too: `Q1` and `q1` are one file on macOS' and Windows' file systems."""
    clean = _SAFE.sub("_", key)[:120].lstrip("._") or "id"
    if clean != key or clean != clean.lower():
        clean += "-" + hashlib.sha1(key.encode()).hexdigest()[:8]
    return clean


def part_name(instance_id: str, repeat: int) -> str:
    """The one-sample part name of the layout before batches (such parts are still read)."""
    return f"{safe_name(instance_id)}__r{repeat}.parquet"


def unique_tag() -> str:
    """Unique across processes and restarts: temp and batch names never collide (issue 22.2)."""
    return f"{os.getpid():x}-{secrets.token_hex(4)}"


def intact(path: Path, thorough: bool = False, keys: set[Key] | None = None) -> bool:
    """Is `path` a whole Parquet file: magic at both ends and a footer that fits (12 bytes read),
    and with `thorough` also every page's CRC right (the whole file read, a row group at a time)?
    `keys`, with `thorough`: gains the (instance_id, repeat) of every row read."""
    try:
        size = path.stat().st_size
        if size < 12:
            return False
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(-8, os.SEEK_END)
            tail = f.read(8)
    except OSError:
        return False
    footer = int.from_bytes(tail[:4], "little")
    if not (head == _MAGIC and tail[4:] == _MAGIC and 0 < footer <= size - 12):
        return False
    if not of_layout(path):
        return False
    if thorough:
        try:
            f = pq.ParquetFile(path, page_checksum_verification=True)
            for i in range(f.num_row_groups):
                rg = f.read_row_group(i)
                if keys is not None and "instance_id" in rg.column_names:
                    keys.update(zip(rg.column("instance_id").to_pylist(),
                                    rg.column("repeat").to_pylist(), strict=True))
        except (OSError, pa.ArrowException, ValueError):
            return False
    return True


def _whole(path: Path) -> bool:
    try:
        pq.read_schema(path)
        return True
    except (OSError, pa.ArrowException, ValueError):
        return False


def of_layout(path: Path) -> bool:
    """Does the footer say it is a part of this layout (`instance_id` text, `repeat` an integer)?
    A Parquet file of another layout dropped into samples/ would otherwise be read as samples
    with every column blank (issue 39.6); it is not data, like a damaged part."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException, ValueError):
        return False
    names = set(schema.names)
    return ("instance_id" in names and "repeat" in names
            and (pa.types.is_string(schema.field("instance_id").type)
                 or pa.types.is_large_string(schema.field("instance_id").type))
            and pa.types.is_integer(schema.field("repeat").type))


def absorbed_by(path: Path) -> list[str]:
    """The batch names a compacted samples file holds (empty for a batch)."""
    if not path.name.startswith(COMPACT_PREFIX):
        return []
    try:
        meta = pq.read_schema(path).metadata or {}
        return list(json.loads(meta.get(ABSORBED, b"[]")))
    except (OSError, pa.ArrowException, ValueError):
        return []


@dataclass
class Scan:
    """What a run directory holds: committed samples and everything that is not data."""

    done: set[Key] = field(default_factory=set)  # with `thorough`: samples whose calls are intact
    samples: list[Path] = field(default_factory=list)  # intact samples files (readers' data)
    calls: list[Path] = field(default_factory=list)  # intact calls files of intact samples
    committed: list[str] = field(default_factory=list)  # names of committed pairs (batches, compacted)
    absorbed: list[Path] = field(default_factory=list)  # batches a compacted file already holds
    bad: dict[Path, str] = field(default_factory=dict)  # path -> why it is not data
    # a listed file was gone when checked: a writer compacted or quarantined meanwhile, so this
    # listing mixes two states of the folder (readers scan again: results/read.py)
    vanished: bool = False


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.samples_dir = run_dir / "samples"
        self.calls_dir = run_dir / "calls"
        self.corrupt_dir = run_dir / "corrupt"
        self._seq = 0
        self._tag = unique_tag()

    def open(self) -> Scan:
        """Make the folders, quarantine what is not data; the scan (its `done`, its batches)."""
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        scan = self.scan(thorough=True)
        self.quarantine(scan)
        return scan

    def create(self) -> list[Path]:
        """Make the folders and quarantine what a crash or damage left behind (see `scan`);
        returns the quarantined paths (a warning names them). Only under the lock."""
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        return self.quarantine(self.scan(thorough=True))

    def scan(self, thorough: bool = False) -> Scan:
        """Sort the files: a sample is done when its samples file and the calls file of that
        name are both intact. Not data: damaged files, a samples file without intact calls (its
        samples run again), calls without a committed samples file (a crash between the two
        writes), temp files, batches a compacted file already holds.

        samples/ is listed before calls/: a batch committed in between then has calls but no
        listed samples file and is simply not seen yet, never judged an orphan (issue 22.2)."""
        s = Scan()
        if not self.samples_dir.is_dir():
            return s
        sample_names = sorted(p.name for p in self.samples_dir.iterdir())
        call_names = sorted(p.name for p in self.calls_dir.iterdir()) if self.calls_dir.is_dir() else []
        absorbed: set[str] = set()
        ok: dict[Path, bool] = {}
        keys: dict[Path, set[Key]] = {}

        def check(path: Path) -> bool:
            if path not in ok:
                keys[path] = set()
                ok[path] = intact(path, thorough, keys[path] if path.parent == self.samples_dir else None)
                if not ok[path] and not path.exists():
                    s.vanished = True
            return ok[path]

        for name in sample_names:  # compacted files first: they say which batches they hold
            if name.startswith(COMPACT_PREFIX) and name.endswith(".parquet"):
                path = self.samples_dir / name
                if check(path) and check(self.calls_dir / name):
                    absorbed.update(absorbed_by(path))
        for table_dir, names in ((self.samples_dir, sample_names), (self.calls_dir, call_names)):
            for name in names:
                path = table_dir / name
                if name.endswith(".tmp"):
                    s.bad[path] = "unfinished write"
                elif not name.endswith(".parquet") or name.startswith("."):
                    continue
                elif name in absorbed:
                    s.absorbed.append(path)
                elif not check(path):
                    s.bad[path] = f"damaged {table_dir.name} part" + (
                        "" if not path.exists() or of_layout(path) or not _whole(path)
                        else " (a Parquet file of another layout)")
        listed_calls = set(call_names)
        for name in sample_names:
            path = self.samples_dir / name
            if path in s.bad or path in s.absorbed or not name.endswith(".parquet") or name.startswith("."):
                continue
            s.samples.append(path)  # readers take it even when its calls are damaged
            calls = self.calls_dir / name
            if name in listed_calls and calls not in s.bad:
                s.calls.append(calls)
                s.done.update(keys.get(path, ()))
                s.committed.append(name)
            else:
                s.bad[path] = "its calls part is damaged or missing"
        for path, why in list(s.bad.items()):  # a damaged samples part's calls go aside with it
            calls = self.calls_dir / path.name
            if path.parent == self.samples_dir and why.startswith("damaged") and calls.name in listed_calls \
                    and calls not in s.bad and path.name not in absorbed:
                s.bad[calls] = "its samples part is damaged"
        committed = {p.name for p in s.samples}
        for name in call_names:
            path = self.calls_dir / name
            if (name.endswith(".parquet") and not name.startswith(".") and name not in committed
                    and name not in absorbed and path not in s.bad
                    and (self.samples_dir / name) not in s.bad):
                s.bad[path] = "calls of an uncommitted sample"
        return s

    def clean(self) -> bool:
        """Nothing left to finish (a quick look, footers only): no temp file, no absorbed batch,
        nothing damaged, at most one committed pair (a finished run is compacted)."""
        scan = self.scan()
        return not scan.bad and not scan.absorbed and len(scan.committed) <= 1

    def done_keys(self) -> set[Key]:
        return self.scan(thorough=True).done

    def done_parts(self) -> set[Key]:  # the name before batches; kept for callers outside
        return self.done_keys()

    def quarantine(self, scan: Scan) -> list[Path]:
        """Move every file that is not data into corrupt/samples or corrupt/calls, and delete
        temp files (an unfinished write holds nothing committed; a compaction's can be as large
        as the run) and batches a compacted file already holds (a crash came between the two).
        Under the lock."""
        moved = []
        for path, why in sorted(scan.bad.items()):
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                log.info("%s: %s: removed", path, why)
                continue
            target_dir = self.corrupt_dir / path.parent.name
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / path.name.lstrip(".")  # a temp file's hidden name made visible
            k = 0
            while target.exists():
                k += 1
                target = target_dir / f"{path.name.lstrip('.')}.{k}"
            try:
                os.replace(path, target)
            except FileNotFoundError:
                continue  # gone meanwhile
            moved.append(target)
            log.warning("%s: %s: moved to %s (the sample runs again)", path, why, target)
        for path in scan.absorbed:
            path.unlink(missing_ok=True)
        return moved

    def write_batch(self, samples: list[dict[str, Any]], calls: list[dict[str, Any]],
                    sample_schema: pa.Schema, call_schema: pa.Schema) -> str:
        """Commit finished samples: their calls file, then their samples file (the mark)."""
        self._seq += 1
        name = f"batch-{self._tag}-{self._seq:06d}.parquet"
        write_atomic(self.calls_dir / name, table_of(calls, call_schema))
        write_atomic(self.samples_dir / name, table_of(samples, sample_schema))
        return name

    def write_sample(self, name: str, sample: dict[str, Any], calls: list[dict[str, Any]],
                     sample_schema: pa.Schema, call_schema: pa.Schema) -> None:
        """One sample under its own name (tests build runs with it)."""
        write_atomic(self.calls_dir / name, table_of(calls, call_schema))
        write_atomic(self.samples_dir / name, table_of([sample], sample_schema))

    # -- manifest ------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        with disk_errors(self.dir):
            tmp = self.dir / f".manifest.json.{unique_tag()}.tmp"
            try:
                tmp.write_text(text)
                os.replace(tmp, self.manifest_path)
            finally:
                tmp.unlink(missing_ok=True)


def table_of(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except UnicodeEncodeError:
        # model text can hold lone surrogates (a server's JSON may escape "\ud800"), which
        # UTF-8 cannot store: they become U+FFFD rather than losing the sample
        return pa.Table.from_pylist([{k: _utf8(v) for k, v in r.items()} for r in rows], schema=schema)


def _utf8(value: Any) -> Any:
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if isinstance(value, str) else value


_table = table_of  # the name tests and older callers use


class disk_errors:  # noqa: N801 - used as a context manager
    """A full disk (ENOSPC, EDQUOT) becomes one DiskFull line naming the folder and free space."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(disk_full_message(self.where)) from None
        return False


def disk_full_message(where: Path) -> str:
    try:
        free = f"{shutil.disk_usage(where).free / 2**20:,.1f} MiB free"
    except OSError:
        free = "free space unknown"
    return (f"no space left on the device of {where} ({free}); the samples committed so far are "
            "on disk: free some space and run the same command again to resume")


def write_atomic(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.{unique_tag()}.tmp")
    with disk_errors(path.parent):
        try:
            pq.write_table(table, tmp, **WRITE_OPTIONS)
            fsync_file(tmp)  # the rename must not land before the bytes do
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dirs(dirs: Iterable[Path]) -> None:
    """Make renames and unlinks durable (a no-op where folders cannot be opened)."""
    for d in dirs:
        try:
            fd = os.open(d, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
