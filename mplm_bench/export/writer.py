"""Writing an export: one Parquet file (and optionally JSONL) per split, in a staged directory that
replaces DIR only when everything is written, so a failed or interrupted export leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mplm_bench.config import ConfigError
from mplm_bench.export.options import Layout

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
COLUMNS: list[tuple[str, pa.DataType]] = [
    ("task", pa.string()),
    ("protocol", pa.string()),
    ("strategy", pa.string()),
    ("instance_id", pa.string()),
    ("call", pa.int64()),
    ("thread_id", pa.string()),
    ("role", pa.string()),
    ("step", pa.int64()),
    ("depth", pa.int64()),
    ("round", pa.int64()),
    ("size", pa.int64()),
    ("split", pa.string()),
    ("config_hash", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("correct", pa.bool_()),
    # an adaptive dialect's call row (--adaptive-rows calls): the assistant text before the
    # response (the trunk so far and the thread's header; "" on a first call), and whether the
    # response ends the turn (EOS) or stops on a tag the controller acts on
    ("assistant_prefix", pa.string()),
    ("ends_turn", pa.bool_()),
]
FLUSH_ROWS = 2048  # rows per Parquet row group


def schema(layout: Layout) -> pa.Schema:
    chat = [("messages", MESSAGES)] if layout == "messages" else [("prompt", MESSAGES), ("completion", MESSAGES)]
    return pa.schema(chat + COLUMNS)


class SplitWriter:
    """`{split}.parquet` (and `{split}.jsonl`), written in row groups as rows arrive."""

    def __init__(self, folder: Path, split: str, layout: Layout, jsonl: bool) -> None:
        self.split = split
        self.parquet_path = folder / f"{split}.parquet"
        self.jsonl_path = folder / f"{split}.jsonl" if jsonl else None
        self.schema = schema(layout)
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._parquet: pq.ParquetWriter | None = None
        self._closed = False
        self._jsonl = open(self.jsonl_path, "w", encoding="utf-8") if self.jsonl_path else None  # noqa: SIM115

    def add(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        self.rows += 1
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(row, ensure_ascii=False) + "\n")
        if len(self._buffer) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.parquet_path, self.schema)
        self._parquet.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
        self._buffer = []

    def close(self) -> int:
        """Finish the files; a split without rows leaves no files at all. Idempotent."""
        if self._closed:
            return self.rows
        self._closed = True
        self._flush()
        if self._parquet is not None:
            self._parquet.close()
        if self._jsonl is not None:
            self._jsonl.close()
            if not self.rows and self.jsonl_path is not None:
                self.jsonl_path.unlink()
        return self.rows


class StagedDir:
    """A hidden sibling of DIR to write into; `commit` swaps it in place of DIR."""

    def __init__(self, final: Path, overwrite: bool) -> None:
        self.final = final
        self.overwrite = overwrite
        self.path = final.parent / f".{final.name}.export-{os.getpid()}"

    def check(self) -> None:
        """Refuse before any work: DIR is a file, or a non-empty folder without --overwrite."""
        f = self.final
        if f.exists() and not f.is_dir():
            raise ConfigError(f"--out {f} is a file, not a folder")
        if f.is_dir() and any(f.iterdir()) and not self.overwrite:
            raise ConfigError(f"--out {f} is not empty (pass --overwrite to replace it)")

    def create(self) -> Path:
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir()
        except OSError as e:
            raise ConfigError(f"cannot write to {self.final.parent}: {e.strerror or e}") from None
        return self.path

    def commit(self) -> None:
        old = None
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
