"""Loading long-context QA data: local files, a `datasets` folder with the LongBench-v2 schema,
and a hub id where the hub cannot be reached (one clear line, exit 2)."""

from __future__ import annotations

import builtins
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from analysis_data import cli

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.longqa.data import load_source
from mplm_bench.tasks.longqa.task import LongQATask


def longbench_row(i: int, **over) -> dict:
    row = {"_id": f"lb-{i}", "domain": "Single-Document QA", "sub_domain": "Financial",
           "difficulty": "hard", "length": "short", "question": f"What is item {i}?",
           "choice_A": "one", "choice_B": "two", "choice_C": "three", "choice_D": "four",
           "answer": "B", "context": f"Item {i} is two.\n\nNothing else here."}
    return row | over


def test_a_datasets_folder_with_the_longbench_schema_loads(tmp_path):
    pytest.importorskip("datasets")
    folder = tmp_path / "LongBench-v2"
    folder.mkdir()
    (folder / "data.json").write_text(json.dumps([longbench_row(i) for i in range(3)]))
    instances = LongQATask().load(str(folder), 2)
    assert [i.id for i in instances] == ["lb-0", "lb-1"]
    first = instances[0]
    assert first.meta | {"context_tokens": 0} == {
        "domain": "Single-Document QA", "sub_domain": "Financial", "difficulty": "hard",
        "length": "short", "context_tokens": 0, "multiple_choice": True}
    assert first.size == 1000 and first.data["record"].answer_text == "two"


def test_local_jsonl_json_and_parquet_files(tmp_path):
    rows = [longbench_row(0), {"id": 7, "context": "Ada lives in Ghent.", "question": "Where?",
                               "answers": ["Ghent", "the city of Ghent"]}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "a.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist([longbench_row(0, choice_A=None, choice_B=None, choice_C=None,
                                                        choice_D=None, answer="two")]), tmp_path / "a.parquet")
    for name in ("a.jsonl", "a.json"):
        mc, short = load_source(str(tmp_path / name), None)
        assert (mc.answer, mc.choices[1], mc.multiple_choice) == ("B", "two", True)
        assert (short.id, short.answer, short.aliases, short.multiple_choice) == ("7", "Ghent", ("the city of Ghent",), False)
    (rec,) = load_source(str(tmp_path / "a.parquet"), None)
    assert not rec.multiple_choice and rec.answer == "two"  # empty choices: a short answer


@pytest.mark.parametrize(("row", "message"), [
    (longbench_row(0, answer="E"), "`answer` must be a letter A-D"),
    (longbench_row(0, choice_C=""), "choice_A..choice_D must all be non-empty"),
    ({"context": "x", "question": "y"}, "needs `answer`"),
    ({"question": "y", "answer": "z"}, "`context` must be a non-empty string"),
])
def test_bad_records_name_the_line(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(TaskError, match=message) as e:
        load_source(str(path), None)
    assert str(e.value).startswith(f"{path}:1:")


def test_unknown_sources_and_a_missing_datasets_package(tmp_path, monkeypatch):
    for missing in (str(tmp_path / "nope.jsonl"), "data/nope.jsonl"):  # not taken for a hub id
        with pytest.raises(TaskError, match="no such file or folder"):
            load_source(missing, None)
    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("no datasets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(TaskError, match=r"needs the `datasets` package \(pip install datasets\)"):
        load_source("THUDM/LongBench-v2", 1)


def test_the_hub_dataset_fails_with_one_clear_line_where_the_hub_is_unreachable(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    # offline mode is what an unreachable hub looks like to `datasets`, without its retries
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import analysis_data

    monkeypatch.setattr(analysis_data, "ENV", dict(os.environ))
    r = cli("run", "-t", "longqa", "-s", "cot", "--data", "THUDM/LongBench-v2", "-b", "scripted",
            "-n", "2", "--out", str(tmp_path / "out"), "-q")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "cannot reach the Hugging Face hub for 'THUDM/LongBench-v2'" in lines[0]
    assert "--data data.json" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing partial written
