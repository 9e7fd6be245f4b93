"""Loading SAT instances from JSONL, Parquet and DIMACS files, and the errors bad files give."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.sat import SATTask

TASK = SATTask()
UNSAT_2 = [[1, 2], [1, -2], [-1, 2], [-1, -2]]


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_labels_ids_and_limits(tmp_path):
    f = write_jsonl(tmp_path / "set.jsonl", [
        {"id": "a", "clauses": [[1, -2, 3]], "label": "SAT"},
        "",
        {"clauses": UNSAT_2, "label": False},
        {"clauses": UNSAT_2, "label": "unsat."},
        {"clauses": [[1], [2]], "label": 1, "num_vars": 5},
        {"clauses": UNSAT_2},  # no label: python-sat decides
    ])
    got = TASK.load(str(f), None)
    assert [i.id for i in got] == ["a", "set-1", "set-2", "set-3", "set-4"]
    assert [i.data["label"] for i in got] == ["SAT", "UNSAT", "UNSAT", "SAT", "UNSAT"]
    assert got[3].size == 5 and got[0].meta == {"n_vars": 3, "n_clauses": 1, "label": "SAT"}
    assert got[4].data["origin"] == "file (python-sat label)"
    assert got[0].data["origin"] == "file (given label)"
    assert [i.id for i in TASK.load(str(f), 2)] == ["a", "set-1"]


def test_generated_instances_survive_a_jsonl_round_trip(tmp_path):
    gen = SATTask(SATTask.Options(vars=7)).generate(6, 2)
    f = write_jsonl(tmp_path / "g.jsonl", [{"id": i.id, "clauses": i.data["clauses"],
                                           "label": i.data["label"]} for i in gen])
    back = TASK.load(str(f), None)
    assert [(i.id, i.data["clauses"], i.data["label"], i.size) for i in back] == \
        [(i.id, i.data["clauses"], i.data["label"], 7) for i in gen]


def test_parquet(tmp_path):
    f = tmp_path / "set.parquet"
    pq.write_table(pa.table({"clauses": [[[1, -2, 3]], UNSAT_2], "label": ["SAT", "UNSAT"]}), f)
    got = TASK.load(str(f), None)
    assert [(i.id, i.data["clauses"], i.data["label"]) for i in got] == [
        ("set-0", [[1, -2, 3]], "SAT"), ("set-1", UNSAT_2, "UNSAT")]
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"formula": ["x"]}), bad)
    with pytest.raises(TaskError, match=r"bad\.parquet record 0: no `clauses` field"):
        TASK.load(str(bad), None)
    worse = tmp_path / "worse.parquet"
    pq.write_table(pa.table({"clauses": [[[1]], [[0, 2]]]}), worse)
    with pytest.raises(TaskError, match=r"worse\.parquet record 1: clause 0"):
        TASK.load(str(worse), None)


DIMACS_SAT = """c labelled by hand (not a label line)
c label: SAT
p cnf 3 2
1 -2 0
2
3 0
"""
SATLIB = "c no label here\np cnf 2 4\n 1 2 0\n 1 -2 0\n-1 2 0\n-1 -2 0\n%\n0\n"


def test_dimacs_file_and_folder(tmp_path):
    (tmp_path / "b.cnf").write_text(DIMACS_SAT)
    (tmp_path / "a.cnf").write_text(SATLIB)
    (tmp_path / "notes.txt").write_text("ignored")
    one = TASK.load(str(tmp_path / "b.cnf"), None)
    assert [(i.id, i.data["clauses"], i.data["label"], i.size) for i in one] == \
        [("b", [[1, -2], [2, 3]], "SAT", 3)]
    both = TASK.load(str(tmp_path), None)
    assert [(i.id, i.data["label"]) for i in both] == [("a", "UNSAT"), ("b", "SAT")]
    assert "python-sat" in both[0].data["origin"]  # no `c label` comment: computed


@pytest.mark.parametrize("name,text,where", [
    ("j.jsonl", '{"clauses": [[1]], "label": "SAT"}\n{"clauses": [[1]\n', r"j\.jsonl:2: bad JSON"),
    ("j.jsonl", '{"clauses": [[1, 0]]}\n', r"j\.jsonl:1: clause 0 is not a list of non-zero"),
    ("j.jsonl", '{"clauses": [[1, "2"]]}\n', r"j\.jsonl:1: clause 0"),
    ("j.jsonl", '{"clauses": [[true]]}\n', r"j\.jsonl:1: clause 0"),
    ("j.jsonl", '{"clauses": 5}\n', r"j\.jsonl:1: `clauses` must be"),
    ("j.jsonl", '\n{"clause": [[1]]}\n', r"j\.jsonl:2: no `clauses` field"),
    ("j.jsonl", '[1, 2]\n', r"j\.jsonl:1: expected a JSON object"),
    ("j.jsonl", '{"clauses": [[1]], "label": "maybe"}\n', r"j\.jsonl:1: label must be"),
    ("j.jsonl", '{"clauses": [[4]], "n_vars": 2}\n', r"j\.jsonl:1: n_vars 2 is smaller"),
    ("j.jsonl", '{"id": 1, "clauses": [[1]]}\n{"id": "1", "clauses": [[2]]}\n', "duplicate id '1'"),
    ("j.jsonl", "\n\n", "no instances"),
    ("d.cnf", "p cnf 3 1\n1 x 0\n", r"d\.cnf:2: bad literal 'x'"),
    ("d.cnf", "c hi\n1 2 0\n", r"d\.cnf:2: clause before the `p cnf"),
    ("d.cnf", "p cnf 2 1\n1 3 0\n", r"d\.cnf:2: variable 3 exceeds the declared 2"),
    ("d.cnf", "p cnf 2 2\n1 2 0\n", r"d\.cnf: the problem line declares 2 clauses, found 1"),
    ("d.cnf", "p cnf two 1\n", r"d\.cnf:1: bad or repeated problem line"),
    ("d.cnf", "c label PERHAPS\np cnf 1 1\n1 0\n", r"d\.cnf:1: label must be"),
    ("d.cnf", "c only comments\n", r"d\.cnf: no `p cnf"),
    ("p.parquet", "not parquet", r"p\.parquet: cannot read Parquet"),
    ("x.csv", "clauses\n", "unknown file type"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, text, where):
    (tmp_path / name).write_text(text)
    with pytest.raises(TaskError, match=where):
        TASK.load(str(tmp_path / name), None)


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(TaskError, match="no such file or folder"):
        TASK.load(str(tmp_path / "nope.jsonl"), None)
    with pytest.raises(TaskError, match="no .cnf files"):
        TASK.load(str(tmp_path), None)
