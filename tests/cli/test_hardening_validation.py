"""Validation gaps (issue 22, item 9): each bad input is one `error:` line and exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mplm_bench.cli import main

SOLVED4 = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["mplm-bench", *map(str, args)])
    with pytest.raises(SystemExit) as done:  # anything else (a traceback) fails the test
        main()
    return done.value.code, capsys.readouterr().err


def one_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def run(tmp_path: Path, task: str, strategy: str, *extra: str) -> list[str]:
    return ["run", "-t", task, "-s", strategy, "-b", "scripted", "-q", "--out", tmp_path / "out", *extra]


@pytest.mark.parametrize("backend", ["scripted", "openai", "vllm"])
def test_max_model_len_must_be_positive(backend, tmp_path, monkeypatch, capsys):
    args = run(tmp_path, "sudoku", "cot", "-T", "size=4", "-n", "1", "-b", backend, "-M", "max_model_len=0")
    if backend == "openai":
        args += ["-M", "base_url=http://127.0.0.1:9/v1"]
    line = one_error(*cli(monkeypatch, capsys, *args))
    assert line == "error: backend option max_model_len: Input should be greater than or equal to 1"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name,text,needle", [
    ("sat.cnf", "c label UNSAT\np cnf 2 1\n1 2 0\n",
     "labelled UNSAT, but python-sat finds the formula satisfiable; fix or drop the label"),
    ("contra.cnf", "c label SAT\np cnf 1 2\n1 0\n-1 0\n",
     "labelled SAT, but python-sat finds the formula unsatisfiable"),
    ("rows.jsonl", json.dumps({"clauses": [[1], [-1]], "label": "SAT"}) + "\n",
     "rows.jsonl:1: labelled SAT, but python-sat finds the formula unsatisfiable"),
])
def test_a_sat_label_that_disagrees_with_the_solver_is_refused(name, text, needle, tmp_path, monkeypatch, capsys):
    (tmp_path / name).write_text(text)
    line = one_error(*cli(monkeypatch, capsys, *run(tmp_path, "sat", "cot", "--data", tmp_path / name)))
    assert line.startswith(f"error: {tmp_path / name}") and needle in line


@pytest.mark.parametrize("strategy", ["fj", "cot", "mplm"])
@pytest.mark.parametrize("puzzle,needle", [
    # all blank: the reference policies once answered `[[1]]` and fj ended `ok`
    ([[0] * 4] * 4, "puzzle has 0 givens with 0 distinct digits, so it has more than one solution"),
    # 4 givens, 4 digits, yet rows 2-4 can be completed two ways: proved with python-sat
    ([[1, 2, 3, 4], [0] * 4, [0] * 4, [0] * 4], "puzzle has more than one solution (its `solution` is one"),
])
def test_a_sudoku_without_a_unique_solution_is_refused(strategy, puzzle, needle, tmp_path, monkeypatch, capsys):
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"puzzle": puzzle, "solution": SOLVED4}) + "\n")
    line = one_error(*cli(monkeypatch, capsys, *run(tmp_path, "sudoku", strategy, "--data", data)))
    assert line.startswith(f"error: {data}:1: ") and needle in line
    assert not (tmp_path / "out").exists()


def test_a_unique_puzzle_from_a_file_still_runs(tmp_path, monkeypatch, capsys):
    data = tmp_path / "p.jsonl"
    puzzle = [[0, 0, 3, 4], [0, 4, 0, 0], [0, 1, 4, 0], [0, 0, 2, 1]]  # one solution
    solution = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
    data.write_text(json.dumps({"puzzle": puzzle, "solution": solution}) + "\n")
    code, err = cli(monkeypatch, capsys, *run(tmp_path, "sudoku", "fj", "--data", data))
    assert code == 0, err


@pytest.fixture(scope="module")
def a_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "argv", ["mplm-bench", "run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-q",
                             "-T", "size=4", "-n", "2", "--out", str(out)])
    with pytest.raises(SystemExit) as done:
        main()
    mp.undo()
    assert done.value.code == 0
    return out


@pytest.mark.parametrize("spec,first_line", [
    ("- where: {task: sudoku}\n  status: {only: [okk]}\n",
     "rule 0: status: unknown status 'okk' (one of ok, truncated, protocol_error, deadlock, "
     "cap_exceeded, engine_error, timeout)"),
    ("- where: {task: sudoku}\n  accuracy: {min: 0.9, max: 0.5}\n",
     "rule 0: accuracy: min 0.9 is above max 0.5: nothing could pass"),
    ("- where: {task: sudoku, size: \"4\"}\n  accuracy: {min: 0.5}\n",
     "rule #0: where size: '4' is text, but the column holds numbers (write size: 4)"),
])
def test_check_specs_that_cannot_pass_are_bad_specs(spec, first_line, a_run, tmp_path, monkeypatch, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    line = one_error(*cli(monkeypatch, capsys, "check", a_run, "--spec", path))
    assert line.removeprefix("error: ").removeprefix(f"{path}: ") == first_line
