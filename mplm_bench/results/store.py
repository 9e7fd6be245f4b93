"""A run directory: manifest.json, samples/ and calls/ folders of append-only Parquet parts.

Each finished sample is written at once, as one part in calls/ and then one in samples/ (the
samples part is the commit mark: a sample counts as done only when it exists). Parts are written
to a hidden temporary name and renamed into place, so readers never see a half-written part and
`pandas.read_parquet(run_dir / "samples")` reads only complete ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_name(key: str) -> str:
    """A file name for an instance/sample key; keys with other characters get a hash suffix."""
    clean = _SAFE.sub("_", key)[:120].lstrip(".") or "_"
    if clean != key:
        clean += "-" + hashlib.sha1(key.encode()).hexdigest()[:8]
    return clean


def part_name(instance_id: str, repeat: int) -> str:
    return f"{safe_name(instance_id)}__r{repeat}.parquet"


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.samples_dir = run_dir / "samples"
        self.calls_dir = run_dir / "calls"

    def create(self) -> None:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.calls_dir.mkdir(parents=True, exist_ok=True)

    def done_parts(self) -> set[str]:
        if not self.samples_dir.is_dir():
            return set()
        return {p.name for p in self.samples_dir.glob("*.parquet")}

    def write_sample(self, name: str, sample: dict[str, Any], calls: list[dict[str, Any]],
                     sample_schema: pa.Schema, call_schema: pa.Schema) -> None:
        _write_atomic(self.calls_dir / name, pa.Table.from_pylist(calls, schema=call_schema))
        _write_atomic(self.samples_dir / name, pa.Table.from_pylist([sample], schema=sample_schema))

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


def _write_atomic(path: Path, table: pa.Table) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb+") as f:  # the rename must not land before the bytes do
        os.fsync(f.fileno())
    os.replace(tmp, path)
