"""Issue 39.4: input that would take the machine down or could not be stopped is refused up front:
one `error:` line naming what to change, exit 2, nothing written (`tasks/limits.py` bounds the
numbers a record may hold, `tasks/files.py` the nesting of a JSON record, `plan.py` duplicate ids
for every task, `strategies/trajectories.py` the width of an ensemble)."""

from __future__ import annotations

import json

import pytest
from input_helpers import assert_one_error_line, cli


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


SAT = ["run", "-t", "sat", "-s", "cot", "-b", "scripted", "-q", "-n", "2"]
COUNTDOWN = ["run", "-t", "countdown", "-s", "sos", "-b", "scripted", "-q", "-n", "2"]


@pytest.mark.parametrize("record,needle", [
    ({"clauses": [[1, -(10**9)]], "label": "SAT"}, "variable 1000000000 is above"),
    ({"clauses": [[10**30]]}, "variable 1000000000000000000000000000000 is above"),
    ({"clauses": [[1, 2]], "n_vars": 10**9}, "n_vars 1000000000 is above"),
])
def test_a_sat_variable_too_large_for_memory_is_one_line(record, needle, tmp_path, monkeypatch, capsys):
    data = write(tmp_path, "f.jsonl", jsonl(record))
    code, err = cli(monkeypatch, capsys, *SAT, "--data", str(data), "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, needle)
    assert not (tmp_path / "out").exists()


def test_a_dimacs_header_too_large_for_memory_is_one_line(tmp_path, monkeypatch, capsys):
    data = write(tmp_path, "f.cnf", f"p cnf {10**9} 1\n1 {10**9} 0\n")
    code, err = cli(monkeypatch, capsys, *SAT, "--data", str(data), "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, "variables")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("record,needle", [
    ({"nums": [3, 5], "target": 10**30}, "`target` must be in"),
    ({"nums": list(range(1, 200)), "target": 24}, "at most 6 numbers"),
    ({"nums": [3, 10**40], "target": 24}, "`nums` must be"),
    ({"nums": [3, 5], "target": -8}, "`target` must be in"),
])
def test_a_countdown_search_that_would_never_end_is_one_line(record, needle, tmp_path, monkeypatch, capsys):
    data = write(tmp_path, "f.jsonl", jsonl(record))
    code, err = cli(monkeypatch, capsys, *COUNTDOWN, "--data", str(data), "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, needle)
    assert not (tmp_path / "out").exists()


def test_countdown_refuses_duplicate_ids(tmp_path, monkeypatch, capsys):
    data = write(tmp_path, "f.jsonl", jsonl({"id": "a", "nums": [3, 5], "target": 15},
                                            {"id": "a", "nums": [2, 4], "target": 8}))
    code, err = cli(monkeypatch, capsys, *COUNTDOWN, "--data", str(data), "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, "duplicate id 'a'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task", [["sudoku", "cot"], ["sat", "cot"], ["countdown", "sos"], ["longqa", "cot"],
                                  ["math", "cot"]])
def test_a_deeply_nested_record_is_one_line_in_every_task(task, tmp_path, monkeypatch, capsys):
    for name, text in [("deep.jsonl", "[" * 100_000 + "\n"), ("deep.json", "[" + "[" * 100_000)]:
        data = write(tmp_path, name, text)
        code, err = cli(monkeypatch, capsys, "run", "-t", task[0], "-s", task[1], "-b", "scripted", "-q",
                        "--data", str(data), "--out", str(tmp_path / "out"))
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert "nested" in err or "policy" in err, err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", ["k=1000000000", "k=5000"])
def test_an_ensemble_wider_than_the_thread_cap_is_one_line(option, tmp_path, monkeypatch, capsys):
    code, err = cli(monkeypatch, capsys, "run", "-t", "sudoku", "-s", "sc", "-b", "scripted", "-q",
                    "-S", option, "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, "max_threads")
    assert not (tmp_path / "out").exists()
