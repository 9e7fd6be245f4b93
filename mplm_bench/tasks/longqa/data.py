"""Loading long-context questions: local files, a local `datasets` folder, or a hub dataset.

`--data` takes
- a `.jsonl`, `.json` (an array, as LongBench-v2's own `data.json`) or `.parquet` file;
- a folder, loaded with `datasets.load_dataset(folder)` (a saved or cloned dataset repository);
- a hub id `owner/name[:split]` such as `THUDM/LongBench-v2` (split `train`, its only one),
  through `datasets`; where the hub cannot be reached that is one clear error line.

Fields, as LongBench-v2 names them: `context`, `question`, `choice_A`..`choice_D` (or a
`choices` list of four) and `answer` (the letter; or an index 0–3). A record without choices is a
short-answer question: `answer` is its text (or `answers`, a list of accepted ones). Optional:
`_id`/`id`, `domain`, `sub_domain`, `difficulty`, `length`, kept as sample columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.files import dataset_rows, file_rows, is_row_file
from mplm_bench.tasks.longqa.records import LETTERS, Record

DEFAULT_SPLIT = "train"  # LongBench-v2 has only a train split
LONGBENCH = "THUDM/LongBench-v2"
OFFLINE_HINT = "use a local copy (--data data.json) or the offline set (no --data)"


def load_source(source: str, n: int | None) -> list[Record]:
    path = Path(source).expanduser()
    if path.is_dir():
        return _collect(dataset_rows("longqa", source, str(path), None, DEFAULT_SPLIT), n)
    if path.exists():
        return _collect(file_rows(path), n)
    if source.count("/") == 1 and not source.startswith((".", "/", "~")) and not is_row_file(path):
        name, _, split = source.partition(":")
        return _collect(dataset_rows("longqa", source, name, None, split or DEFAULT_SPLIT, OFFLINE_HINT), n)
    raise TaskError(f"longqa: no such file or folder {source!r} (nor a hub dataset id owner/name, "
                    f"e.g. {LONGBENCH})")


def _collect(rows: Iterable[tuple[str, Any]], n: int | None) -> list[Record]:
    out: list[Record] = []
    seen: dict[str, str] = {}
    for k, (where, rec) in enumerate(islice(rows, n)):
        r = parse_record(rec, where, default_id=f"longqa-{k:05d}")
        if r.id in seen:
            raise TaskError(f"{where}: duplicate id {r.id!r} (first at {seen[r.id]})")
        seen[r.id] = where
        out.append(r)
    if not out:
        raise TaskError("longqa: the data holds no records")
    return out


def _text(rec: dict[str, Any], key: str, where: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{where}: `{key}` must be a non-empty string")
    return value


def parse_record(rec: Any, where: str, default_id: str) -> Record:
    if not isinstance(rec, dict):
        raise TaskError(f"{where}: expected an object with context, question and answer")
    context, question = _text(rec, "context", where), _text(rec, "question", where)
    choices = _choices(rec, where)
    answer = rec.get("answer")
    aliases: tuple[str, ...] = ()
    if choices:
        if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < 4:
            answer = LETTERS[answer]
        if not isinstance(answer, str) or answer.strip().strip("()").upper() not in LETTERS:
            raise TaskError(f"{where}: `answer` must be a letter A-D for a multiple-choice record, got {answer!r:.40}")
        answer = answer.strip().strip("()").upper()
    else:
        accepted: Any = rec.get("answers")
        if hasattr(accepted, "tolist"):
            accepted = accepted.tolist()
        if answer is None and isinstance(accepted, list) and accepted:
            answer, aliases = accepted[0], tuple(str(a) for a in accepted[1:])
        if not isinstance(answer, str | int | float) or isinstance(answer, bool) or not str(answer).strip():
            raise TaskError(f"{where}: a record without choices needs `answer` (or `answers`) as text")
        answer = str(answer)
    rid = rec.get("_id", rec.get("id"))
    return Record(
        id=default_id if rid is None else str(rid), context=context, question=question,
        choices=choices, answer=answer, aliases=aliases,
        domain=str(rec.get("domain") or ""), sub_domain=str(rec.get("sub_domain") or ""),
        difficulty=str(rec.get("difficulty") or ""), length=str(rec.get("length") or ""),
    )


def _choices(rec: dict[str, Any], where: str) -> tuple[str, ...]:
    values: list[Any]
    if any(f"choice_{k}" in rec for k in LETTERS):
        values = [rec.get(f"choice_{k}") for k in LETTERS]
    elif rec.get("choices") is not None:
        values = rec["choices"].tolist() if hasattr(rec["choices"], "tolist") else rec["choices"]
        if not isinstance(values, list) or len(values) not in (0, 4):
            raise TaskError(f"{where}: `choices` must be a list of four options")
    else:
        return ()
    if all(v in (None, "") for v in values):
        return ()  # a short-answer record written in the LongBench-v2 shape
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise TaskError(f"{where}: choice_A..choice_D must all be non-empty strings")
    return tuple(values)
