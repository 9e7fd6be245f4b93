"""Records for `--data`, shared by every task's loader: local JSONL / JSON / Parquet, `datasets`.

Each record comes with where it was read (`path:line`, `path record i`), so that a task's own
validation can name the place of a bad record; a file or dataset that cannot be read at all is one
`TaskError` line. What a record must hold is each task's business (`tasks/*/data.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.limits import MAX_RECORD_DEPTH, check_depth

Row = tuple[str, Any]  # (where it was read, the record)
ROW_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def is_row_file(path: Path) -> bool:
    return path.suffix.lower() in ROW_SUFFIXES


def file_rows(path: Path) -> Iterator[Row]:
    """The records of a `.jsonl`, `.json` (an array of records) or `.parquet` file, each nested at
    most `MAX_RECORD_DEPTH` deep (a line of 100k `[` is one line, not a RecursionError)."""
    for where, record in _file_rows(path):
        check_depth(record, where)
        yield where, record


def _too_deep(where: str) -> TaskError:
    return TaskError(f"{where}: JSON nested too deeply (at most {MAX_RECORD_DEPTH} levels)")


def _file_rows(path: Path) -> Iterator[Row]:
    kind = ROW_SUFFIXES.get(path.suffix.lower())
    if kind == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield f"{path}:{lineno}", json.loads(line)
                    except json.JSONDecodeError as e:
                        raise TaskError(f"{path}:{lineno}: bad JSON ({e.msg})") from None
                    except RecursionError:
                        raise _too_deep(f"{path}:{lineno}") from None
    elif kind == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TaskError(f"{path}: bad JSON at line {e.lineno} ({e.msg})") from None
        except RecursionError:
            raise _too_deep(str(path)) from None
        if not isinstance(data, list):
            raise TaskError(f"{path}: expected a JSON array of records")
        yield from ((f"{path} record {i}", r) for i, r in enumerate(data))
    elif kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise TaskError(f"{path}: cannot read Parquet ({e})") from None
        yield from ((f"{path} record {i}", r) for i, r in enumerate(table.to_pylist()))
    else:
        raise TaskError(f"{path}: unsupported file type {path.suffix!r} (use {', '.join(ROW_SUFFIXES)})")


OFFLINE_HINT = "use a local copy (--data FILE) or generated instances (no --data)"


def dataset_rows(task: str, spec: str, name: str, config: str | None, split: str,
                 offline_hint: str = OFFLINE_HINT) -> Iterator[Row]:
    """The records of a `datasets` dataset: a hub id, or a local folder (`name`)."""
    try:
        import datasets  # optional and slow to import: only for folders and hub ids
    except ImportError:
        raise TaskError(f"{task}: loading {spec!r} needs the `datasets` package (pip install datasets)") from None
    # huggingface_hub logs a warning per retry of an unreachable hub; the error below says it once
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except ConnectionError as e:  # datasets raises it when the hub cannot be reached (or offline mode)
        raise TaskError(f"{task}: cannot reach the Hugging Face hub for {spec!r} ({first_line(e)}); "
                        f"with no network access, {offline_hint}") from None
    except Exception as e:  # no such dataset or split, a script-based dataset (datasets >= 4), ...
        raise TaskError(f"{task}: cannot load {spec!r}: {type(e).__name__}: {first_line(e)}"[:400]) from None
    finally:
        hub_log.setLevel(level)
    yield from ((f"{spec} record {i}", r) for i, r in enumerate(ds))


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
