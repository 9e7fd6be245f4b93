"""Loading instances from JSONL / JSON / Parquet files and (faked) hub datasets."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.sudoku import SudokuTask
from mplm_bench.tasks.sudoku.data import load_source
from mplm_bench.tasks.sudoku.generator import generate

SOL4 = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
PUZ4 = [[1, 2, 0, 4], [0, 4, 1, 0], [2, 0, 4, 3], [4, 3, 0, 0]]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def good_records() -> list[dict]:
    p9 = generate(9, 0)
    return [
        {"id": "a", "puzzle": PUZ4, "solution": SOL4},
        {"puzzle": p9.puzzle, "solution": p9.solution},
    ]


def test_jsonl_good(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "set.jsonl", good_records())
    insts = SudokuTask().load(str(f), None)
    assert [i.id for i in insts] == ["a", "sudoku-9-set-00001"]
    assert insts[0].size == 4 and insts[1].size == 9
    assert insts[0].data == {"puzzle": PUZ4, "solution": SOL4}
    assert insts[0].meta == {"n_givens": 10, "n_cells": 16}
    assert len(SudokuTask().load(str(f), 1)) == 1


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text("\n" + json.dumps({"puzzle": PUZ4, "solution": SOL4}) + "\n\n")
    assert len(load_source(str(f))) == 1


def test_parquet_good(tmp_path: Path) -> None:
    f = tmp_path / "set.parquet"
    pd.DataFrame(good_records()).to_parquet(f)
    insts = SudokuTask().load(str(f), None)
    assert insts[0].data["puzzle"] == PUZ4
    assert insts[0].id == "a"
    assert insts[1].id == "sudoku-9-set-00001"  # a missing id (null) falls back to the index


def test_json_array_and_string_grids(tmp_path: Path) -> None:
    q = "".join("." if v == 0 else str(v) for row in PUZ4 for v in row)
    a = "".join(str(v) for row in SOL4 for v in row)
    f = tmp_path / "set.json"
    f.write_text(json.dumps([{"question": q, "answer": a}, {"original": PUZ4, "solution": SOL4}]))
    recs = load_source(str(f))
    assert recs[0].puzzle == PUZ4 and recs[0].solution == SOL4
    assert recs[1].puzzle == PUZ4


BAD = [
    ("not json", r":2: bad JSON"),
    (json.dumps({"puzzle": PUZ4}), r":2: missing field"),
    (json.dumps([1, 2]), r":2: expected an object"),
    (json.dumps({"puzzle": PUZ4[:3], "solution": SOL4}), r"`puzzle` has 3 rows"),
    (json.dumps({"puzzle": [r[:3] for r in PUZ4], "solution": SOL4}), r"row 0 has 3 cells"),
    (json.dumps({"puzzle": [[0] * 6] * 6, "solution": [[1] * 6] * 6}), r"N must be a square"),
    (json.dumps({"puzzle": [[5, 0, 0, 0]] + PUZ4[1:], "solution": SOL4}), r"\[0\]\[0\] = 5"),
    (json.dumps({"puzzle": [[True, 0, 0, 0]] + PUZ4[1:], "solution": SOL4}), r"is not in 0..4"),
    (
        json.dumps({"puzzle": [[2, 0, 0, 0]] + PUZ4[1:], "solution": SOL4}),
        r"contradicts .* \(0,0\)",
    ),
    (json.dumps({"puzzle": PUZ4, "solution": [SOL4[1]] + SOL4[1:]}), r"not a permutation"),
    (json.dumps({"puzzle": PUZ4, "solution": SOL4[:2] + SOL4[:2]}), r"not a permutation"),
    (json.dumps({"puzzle": "1.3", "solution": SOL4}), r"not N² digits"),
]


@pytest.mark.parametrize("line,message", BAD)
def test_jsonl_malformed(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"puzzle": PUZ4, "solution": SOL4}) + "\n" + line + "\n")
    with pytest.raises(TaskError, match=message) as err:
        load_source(str(f))
    assert f"{f}:2" in str(err.value)  # names the file and the line


def test_duplicate_ids(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "d.jsonl", [{"id": 1, "puzzle": PUZ4, "solution": SOL4}] * 2)
    with pytest.raises(TaskError, match="duplicate id '1'"):
        load_source(str(f))


def test_parquet_malformed(tmp_path: Path) -> None:
    f = tmp_path / "bad.parquet"
    pd.DataFrame(
        [{"puzzle": PUZ4, "solution": SOL4}, {"puzzle": PUZ4, "solution": PUZ4}]
    ).to_parquet(f)
    with pytest.raises(TaskError, match=r"bad\.parquet record 1: `solution`\[0\]\[2\] = 0"):
        load_source(str(f))
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(TaskError, match="cannot read Parquet"):
        load_source(str(junk))


def test_bad_json_array(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"puzzle": 1}')
    with pytest.raises(TaskError, match="expected a JSON array"):
        load_source(str(f))


def test_missing_file_and_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="no such file"):
        load_source(str(tmp_path / "nope.jsonl"))
    f = tmp_path / "x.csv"
    f.write_text("a,b\n")
    with pytest.raises(TaskError, match="unsupported file type"):
        load_source(str(f))


def test_hub_without_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(TaskError, match="needs the `datasets` package"):
        load_source("sapientinc/sudoku-extreme")


def fake_datasets(monkeypatch: pytest.MonkeyPatch, rows: list[dict] | Exception) -> list:
    calls: list = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        if isinstance(rows, Exception):
            raise rows
        return rows

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


def test_hub_sudoku_extreme_format(monkeypatch: pytest.MonkeyPatch) -> None:
    p9 = generate(9, 0)
    q = "".join("." if v == 0 else str(v) for row in p9.puzzle for v in row)
    a = "".join(str(v) for row in p9.solution for v in row)
    calls = fake_datasets(
        monkeypatch, [{"source": "x", "question": q, "answer": a, "rating": 3}] * 3
    )
    insts = SudokuTask().load("sapientinc/sudoku-extreme", 2)
    assert calls == [("sapientinc/sudoku-extreme", None, "test")]
    assert len(insts) == 2
    assert insts[0].data["puzzle"] == p9.puzzle
    assert insts[1].id == "sudoku-9-sapientinc_sudoku-extreme-00001"
    SudokuTask().load("owner/name/cfg:train", 1)
    assert calls[-1] == ("owner/name", "cfg", "train")


def test_hub_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_datasets(monkeypatch, ConnectionError("Couldn't reach the Hub\nmore detail"))
    with pytest.raises(TaskError) as err:
        load_source("sapientinc/sudoku-extreme")
    assert "cannot reach the Hugging Face hub for 'sapientinc/sudoku-extreme' (Couldn't reach the Hub)" in str(err.value)
    assert "\n" not in str(err.value)


def test_hub_bad_record(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_datasets(monkeypatch, [{"question": "12", "answer": "34"}])
    with pytest.raises(TaskError, match=r"owner/name record 0"):
        load_source("owner/name")
