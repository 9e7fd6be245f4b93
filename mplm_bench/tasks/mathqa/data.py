"""`--data` for `math`: local JSONL/JSON/Parquet, a `datasets` folder, or a hub id (owner/name[:split]).

A record needs a problem and an answer. Column names come from `-T problem_key=` / `-T answer_key=`;
unset, the first present of `problem`, `question` (and `answer`, `final_answer`; a record with only
a `solution`, as MATH's, gets the solution's last `\\boxed{}`). GSM8K answers end `#### 42`.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import Instance, TaskError
from mplm_bench.tasks.boxed.answers import last_boxed
from mplm_bench.tasks.boxed.task import instance
from mplm_bench.tasks.files import dataset_rows, file_rows, is_row_file

PROBLEM_KEYS = ("problem", "question", "Problem", "Question")
ANSWER_KEYS = ("answer", "final_answer", "Answer")


def load_math(source: str, n: int | None, problem_key: str | None, answer_key: str | None,
              config: str | None, split: str) -> list[Instance]:
    path = Path(source).expanduser()
    if path.is_dir():
        rows: Iterable[tuple[str, Any]] = dataset_rows("math", source, str(path), config, split)
    elif path.exists():
        rows = file_rows(path)
    elif source.count("/") == 1 and not source.startswith((".", "/", "~")) and not is_row_file(path):
        name, _, sp = source.partition(":")
        rows = dataset_rows("math", source, name, config, sp or split)
    else:
        raise TaskError(f"math: no such file or folder {source!r} (nor a hub dataset id owner/name, "
                        "e.g. HuggingFaceH4/MATH-500)")
    out, seen = [], set()
    for k, (where, rec) in enumerate(islice(rows, n)):
        inst = _record(rec, where, k, problem_key, answer_key)
        if inst.id in seen:
            raise TaskError(f"{where}: duplicate id {inst.id!r}")
        seen.add(inst.id)
        out.append(inst)
    if not out:
        raise TaskError(f"math: {source} holds no records")
    return out


def _pick(rec: dict[str, Any], chosen: str | None, keys: tuple[str, ...]) -> str | None:
    if chosen is not None:
        return chosen if chosen in rec else None
    return next((k for k in keys if k in rec), None)


def _record(rec: Any, where: str, k: int, problem_key: str | None, answer_key: str | None) -> Instance:
    if not isinstance(rec, dict):
        raise TaskError(f"{where}: expected an object with a problem and an answer")
    pk = _pick(rec, problem_key, PROBLEM_KEYS)
    if pk is None or not isinstance(rec[pk], str) or not rec[pk].strip():
        raise TaskError(f"{where}: no problem column {problem_key or '/'.join(PROBLEM_KEYS[:2])!r} "
                        f"(columns: {', '.join(map(str, rec))}; set -T problem_key=)")
    ak = _pick(rec, answer_key, ANSWER_KEYS)
    answer = rec.get(ak) if ak is not None else None
    if answer is None and answer_key is None and isinstance(rec.get("solution"), str):
        answer = last_boxed(rec["solution"])
    if isinstance(answer, str) and "####" in answer:  # GSM8K: reasoning, then `#### 42`
        answer = answer.rsplit("####", 1)[1].strip()
    if answer is None or not str(answer).strip():
        raise TaskError(f"{where}: no answer column {answer_key or '/'.join(ANSWER_KEYS[:2])!r} "
                        f"(columns: {', '.join(map(str, rec))}; set -T answer_key=)")
    rid = str(rec.get("unique_id") or rec.get("id") or f"math-{k:05d}")
    size = _level(rec.get("level"))
    meta = {"subject": str(rec.get("subject") or rec.get("type") or ""), "level": size}
    return instance(rid, size, rec[pk], str(answer).strip(), **meta)


def _level(value: Any) -> int:
    """MATH's difficulty (`3` or `Level 3`) as the size axis; 0 when there is none."""
    words = str(value if value is not None else "").split()
    return int(words[-1]) if words and words[-1].isdigit() else 0
