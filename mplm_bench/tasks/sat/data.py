"""Instances from local files: JSONL, a JSON array, Parquet, DIMACS (one `.cnf` file or a folder of them).

Record fields (JSONL objects, Parquet columns): `clauses` — a list of clauses, each a list of
non-zero signed ints (DIMACS signs); `label` — "SAT"/"UNSAT" (any case, a trailing `.` allowed),
a bool or 0/1 (True/1 = satisfiable); optional `id` (default: `<file stem>-<record index>`) and
`n_vars`/`num_vars` (default: the largest variable). DIMACS files take their label from a
comment line `c label SAT` / `c label UNSAT` and their id from the file name. A record without
a label gets python-sat's verdict; a given label is checked against it, and a record whose label
disagrees is refused (one line): scored against a wrong label, every correct answer would count
as wrong. Errors name the file and the line (Parquet: the row).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.files import file_rows, is_row_file
from mplm_bench.tasks.limits import MAX_SAT_VARS
from mplm_bench.tasks.sat.formula import Formula, num_vars
from mplm_bench.tasks.sat.generator import is_satisfiable

DIMACS_SUFFIXES = (".cnf", ".dimacs")
_LABEL_COMMENT = re.compile(r"^c\s+label\b\s*[:=]?\s*(\S+)", re.I)
_HEADER = re.compile(r"^p\s+cnf\s+(\d+)\s+(\d+)$", re.I)


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    clauses: Formula
    label: str  # "SAT" | "UNSAT"
    n_vars: int
    label_source: str  # "given" (in the file) or "python-sat" (computed)


def parse_label(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return "SAT" if value else "UNSAT"
    if isinstance(value, str) and value.strip().rstrip(".").upper() in ("SAT", "UNSAT"):
        return value.strip().rstrip(".").upper()
    raise TaskError(f"{where}: label must be SAT/UNSAT, a bool or 0/1, got {value!r}")


def _clauses(value: Any, where: str) -> Formula:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise TaskError(f"{where}: `clauses` must be a list of lists of non-zero integers")
    out: Formula = []
    for k, c in enumerate(value):
        c = c.tolist() if hasattr(c, "tolist") else c
        if not isinstance(c, list | tuple) or any(
                isinstance(x, bool) or not isinstance(x, int) or x == 0 for x in c):
            raise TaskError(f"{where}: clause {k} is not a list of non-zero integers: {c!r:.60}")
        out.append([int(x) for x in c])
    return out


def make_record(clauses: Formula, label: Any, rid: str, n: Any, where: str) -> Record:
    lab = parse_label(label, where)
    top = num_vars(clauses)
    if top > MAX_SAT_VARS:  # python-sat allocates up to the largest variable (10^9: 24 GB)
        raise TaskError(f"{where}: variable {top} is above {MAX_SAT_VARS:,}, the largest this harness "
                        "solves; renumber the variables from 1")
    if n is None:
        n = top
    if isinstance(n, bool) or not isinstance(n, int) or n < top:
        raise TaskError(f"{where}: n_vars {n!r:.40} is smaller than the largest variable {top}")
    if n > MAX_SAT_VARS:
        raise TaskError(f"{where}: n_vars {n} is above {MAX_SAT_VARS:,}, the largest this harness solves")
    solved = "SAT" if is_satisfiable(clauses) else "UNSAT"
    if lab is None:
        return Record(rid, clauses, solved, n, "python-sat")
    if lab != solved:
        raise TaskError(f"{where}: labelled {lab}, but python-sat finds the formula "
                        f"{'satisfiable' if solved == 'SAT' else 'unsatisfiable'}; fix or drop the label")
    return Record(rid, clauses, lab, n, "given")


def from_mapping(obj: Any, where: str, default_id: str) -> Record:
    if not isinstance(obj, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "clauses" not in obj:
        raise TaskError(f"{where}: no `clauses` field")
    rid = obj.get("id")
    rid = default_id if rid is None else str(rid)
    n = obj.get("n_vars", obj.get("num_vars"))
    return make_record(_clauses(obj["clauses"], where), obj.get("label"), rid, n, where)


def read_rows(path: Path) -> Iterator[Record]:
    """JSONL, a JSON array or Parquet: one record per object (row)."""
    for k, (where, obj) in enumerate(file_rows(path)):
        yield from_mapping(obj, where, f"{path.stem}-{k}")


def read_dimacs(path: Path) -> Record:
    label: str | None = None
    header: tuple[int, int] | None = None
    clauses: Formula = []
    cur: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line, where = raw.strip(), f"{path}:{lineno}"
            if not line:
                continue
            if line[0] in "cC":
                if m := _LABEL_COMMENT.match(line):
                    label = parse_label(m.group(1), where)
                continue
            if line[0] in "pP":
                if header is not None or not (m := _HEADER.match(line)):
                    raise TaskError(f"{where}: bad or repeated problem line {line!r:.60}")
                header = (int(m.group(1)), int(m.group(2)))
                if header[0] > MAX_SAT_VARS:
                    raise TaskError(f"{where}: {header[0]} variables declared, above {MAX_SAT_VARS:,}, "
                                    "the most this harness solves")
                continue
            if line[0] == "%":  # the SATLIB end marker
                break
            if header is None:
                raise TaskError(f"{where}: clause before the `p cnf VARS CLAUSES` line")
            for tok in line.split():
                try:
                    lit = int(tok)
                except ValueError:
                    raise TaskError(f"{where}: bad literal {tok!r:.20}") from None
                if abs(lit) > header[0]:
                    raise TaskError(f"{where}: variable {abs(lit)} exceeds the declared {header[0]}")
                if lit == 0:
                    clauses.append(cur)
                    cur = []
                else:
                    cur.append(lit)
    if cur:  # a last clause without its terminating 0
        clauses.append(cur)
    if header is None:
        raise TaskError(f"{path}: no `p cnf VARS CLAUSES` line")
    if len(clauses) != header[1]:
        raise TaskError(f"{path}: the problem line declares {header[1]} clauses, found {len(clauses)}")
    return make_record(clauses, label, path.stem, header[0], str(path))


def read_source(source: str, n: int | None) -> list[Record]:
    path = Path(source).expanduser()
    if not path.exists():
        raise TaskError(f"{source}: no such file or folder (the sat task reads local JSONL, "
                        "Parquet or DIMACS .cnf files)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in DIMACS_SUFFIXES)
        if not files:
            raise TaskError(f"{path}: no .cnf files in this folder")
        records: Iterator[Record] = (read_dimacs(p) for p in files)
    elif is_row_file(path):
        records = read_rows(path)
    elif path.suffix.lower() in DIMACS_SUFFIXES:
        records = iter([read_dimacs(path)])
    else:
        raise TaskError(f"{path}: unknown file type (use .jsonl, .json, .parquet, .cnf or a folder of .cnf)")
    out = list(itertools.islice(records, n))  # stop reading (and solving) after n records
    seen: set[str] = set()
    for r in out:
        if r.id in seen:
            raise TaskError(f"{path}: duplicate id {r.id!r}")
        seen.add(r.id)
    if not out:
        raise TaskError(f"{path}: no instances")
    return out
