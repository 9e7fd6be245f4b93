"""A run directory: manifest.json, samples/ and calls/ folders of append-only Parquet parts.

Each finished sample is written at once, as one part in calls/ and then one in samples/ (the
samples part is the commit mark: a sample counts as done only when it exists and both of its
parts are intact). Parts are written to a hidden temporary name and renamed into place, so a
crash never leaves a half-written part under its real name. A part damaged some other way (a
disk filling up, an interrupted copy, a truncated file) is detected by its Parquet footer, never
read as data, and moved to `corrupt/` when the run is next started, so the sample runs again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_MAGIC = b"PAR1"


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
    return f"{safe_name(instance_id)}__r{repeat}.parquet"


def intact(path: Path, thorough: bool = False) -> bool:
    """Is `path` a whole Parquet file: magic at both ends and a footer that fits (12 bytes read,
    ~15 us), and with `thorough` also a footer that parses (~200 us)? Resume and quarantine are
    thorough; readers take the quick check and fall back to the full one when a read fails."""
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
    if thorough:
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException):
            return False
    return True


@dataclass
class Scan:
    """What a run directory holds: committed samples and everything that is not data."""

    done: set[str] = field(default_factory=set)  # part names whose sample and calls are intact
    samples: list[Path] = field(default_factory=list)  # intact samples parts (readers' data)
    calls: list[Path] = field(default_factory=list)  # intact calls parts of intact samples
    bad: dict[Path, str] = field(default_factory=dict)  # path -> why it is not data


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.samples_dir = run_dir / "samples"
        self.calls_dir = run_dir / "calls"
        self.corrupt_dir = run_dir / "corrupt"

    def create(self) -> list[Path]:
        """Make the folders and quarantine what a crash or damage left behind (see `scan`);
        returns the quarantined paths (a warning names them)."""
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        return self.quarantine()

    def scan(self, thorough: bool = False) -> Scan:
        """Sort the parts: a sample is done when its samples part and its calls part are both
        intact. Not data: damaged parts, a samples part without intact calls (the sample runs
        again), calls without a committed sample (a crash between the two writes), temp files."""
        s = Scan()
        if not self.samples_dir.is_dir():
            return s
        calls_ok = {}
        if self.calls_dir.is_dir():
            for p in self.calls_dir.iterdir():
                if p.name.endswith(".tmp"):
                    s.bad[p] = "unfinished write"
                elif p.suffix == ".parquet":
                    calls_ok[p.name] = intact(p, thorough)
        for p in self.samples_dir.iterdir():
            if p.name.endswith(".tmp"):
                s.bad[p] = "unfinished write"
            elif p.suffix != ".parquet":
                continue
            elif not intact(p, thorough):
                s.bad[p] = "damaged samples part"
            else:
                s.samples.append(p)
                if calls_ok.get(p.name):
                    s.done.add(p.name)
        for name, ok in calls_ok.items():
            path = self.calls_dir / name
            if not ok:
                s.bad[path] = "damaged calls part"
            elif name in s.done:
                s.calls.append(path)
            elif (self.samples_dir / name) not in s.bad:
                s.bad[path] = "calls of an uncommitted sample"
        for p in s.samples:
            if p.name not in s.done:
                s.bad[p] = "its calls part is damaged or missing"
        s.samples.sort()
        s.calls.sort()
        return s

    def done_parts(self) -> set[str]:
        return self.scan(thorough=True).done

    def quarantine(self) -> list[Path]:
        """Move every part that is not data into corrupt/samples or corrupt/calls."""
        bad = self.scan(thorough=True).bad
        moved = []
        for path, why in sorted(bad.items()):
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
        return moved

    def write_sample(self, name: str, sample: dict[str, Any], calls: list[dict[str, Any]],
                     sample_schema: pa.Schema, call_schema: pa.Schema) -> None:
        _write_atomic(self.calls_dir / name, _table(calls, call_schema))
        _write_atomic(self.samples_dir / name, _table([sample], sample_schema))

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
        tmp = self.dir / ".manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        os.replace(tmp, self.manifest_path)


def read_parts(paths: list[Path], **kwargs: Any) -> Any:
    """A DataFrame of the given parts (`pandas.read_parquet` keyword arguments pass through).

    A part that passed `intact` can still fail to read (a damaged footer of the right length):
    then the parts are read one by one and the unreadable ones skipped with a warning."""
    import pandas as pd

    try:
        return pd.read_parquet([str(p) for p in paths], schema=_unified(paths), **kwargs)
    except (OSError, pa.ArrowException):
        pass
    good, schemas = [], []
    for p in paths:
        try:
            schemas.append(pq.read_schema(p))  # reads the footer: a damaged one fails here
            good.append(p)
        except (OSError, pa.ArrowException) as e:
            log.warning("%s: unreadable Parquet part skipped (%s)", p, str(e).splitlines()[0][:200])
    return pd.read_parquet([str(p) for p in good], schema=_unify(schemas), **kwargs)


def _unified(paths: list[Path]) -> pa.Schema | None:
    try:
        return _unify([pq.read_schema(p) for p in paths])
    except (OSError, pa.ArrowException):
        return None  # a damaged part: read_parts sorts them out


def _unify(schemas: list[pa.Schema]) -> pa.Schema | None:
    """All parts' columns together. Left alone, pyarrow reads every part with the first part's
    schema and silently drops a column only later parts have (a task column some instances lack,
    or a column a newer harness added before the run was resumed). None: let pyarrow decide."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except pa.ArrowException:
        return None


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except UnicodeEncodeError:
        # model text can hold lone surrogates (a server's JSON may escape "\ud800"), which
        # UTF-8 cannot store: they become U+FFFD rather than losing the sample
        return pa.Table.from_pylist([{k: _utf8(v) for k, v in r.items()} for r in rows], schema=schema)


def _utf8(value: Any) -> Any:
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if isinstance(value, str) else value


def _write_atomic(path: Path, table: pa.Table) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb+") as f:  # the rename must not land before the bytes do
        os.fsync(f.fileno())
    os.replace(tmp, path)
