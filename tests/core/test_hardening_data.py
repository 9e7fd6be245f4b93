"""`--data` keys the run by the file's contents (issue 22, item 1): one run however the path is
spelled, another run once the file changes, and an old path-keyed folder is never resumed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analysis_data import cli

from mplm_bench.analysis.load import load_samples
from mplm_bench.config import RunConfig
from mplm_bench.tasks.sudoku.generator import generate

RUN = ["run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "--out", "out", "-q"]


def write_puzzles(path: Path, seeds: range) -> None:
    lines = []
    for s in seeds:
        p = generate(4, s)
        lines.append(json.dumps({"id": f"p{s}", "puzzle": p.puzzle, "solution": p.solution}))
    path.write_text("\n".join(lines) + "\n")


def test_the_run_id_keys_the_contents_not_the_spelling(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    write_puzzles(tmp_path / "data" / "good.jsonl", range(4))
    monkeypatch.chdir(tmp_path / "data")
    ids = {RunConfig(task="sudoku", strategy="cot", data=d).run_id()
           for d in ("good.jsonl", "./good.jsonl", str(tmp_path / "data" / "good.jsonl"), "../data/good.jsonl")}
    assert len(ids) == 1
    shutil.copy("good.jsonl", "copy.jsonl")  # same bytes, another name: the same data
    assert RunConfig(task="sudoku", strategy="cot", data="copy.jsonl").run_id() in ids
    write_puzzles(tmp_path / "data" / "good.jsonl", range(3, -1, -1))  # the same puzzles reversed
    assert RunConfig(task="sudoku", strategy="cot", data="good.jsonl").run_id() not in ids
    # not a local file (a hub id): keyed by its text, as before
    hub = RunConfig(task="sudoku", strategy="cot", data="owner/name")
    assert hub.identity()["data"] == "owner/name" and hub.run_id() == hub.run_id(legacy=True)


def test_an_edited_file_is_a_new_run_never_a_resume(tmp_path):
    data = tmp_path / "mine.jsonl"
    write_puzzles(data, range(10))
    r = cli(*RUN, "--data", "mine.jsonl", "-n", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    write_puzzles(data, range(9, -1, -1))  # reverse its lines
    r = cli(*RUN, "--data", str(data), "-n", "10", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "resuming" not in r.stderr
    runs = sorted((tmp_path / "out").glob("*/manifest.json"))
    assert len(runs) == 2
    manifests = [json.loads(p.read_text()) for p in runs]
    assert sorted(m["n_samples_on_disk"] for m in manifests) == [5, 10]
    for m in manifests:
        assert m["data"]["path"] == str(data.resolve()) and m["data"]["key"].startswith("sha256:")
        assert m["identity"]["data"] == m["data"]["key"] and m["config"]["data"] in ("mine.jsonl", str(data))
    # the unchanged file under another spelling resumes the second run
    r = cli(*RUN, "--data", "./mine.jsonl", "-n", "10", cwd=tmp_path)
    assert r.returncode == 0 and "nothing to do" in r.stderr, r.stderr


def test_an_old_path_keyed_folder_is_left_alone_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "mine.jsonl"
    write_puzzles(data, range(3))
    assert cli(*RUN, "--data", "mine.jsonl", "-n", "2", cwd=tmp_path).returncode == 0
    (run,) = (tmp_path / "out").iterdir()
    cfg = RunConfig(task="sudoku", strategy="cot", backend="scripted", data="mine.jsonl")
    old = run.rename(run.parent / cfg.run_id(legacy=True))  # as an older version named it
    r = cli(*RUN, "--data", "mine.jsonl", "-n", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and f"not resuming {Path('out') / old.name}" in warning[0], r.stderr
    assert len(load_samples([old])) == 2  # untouched
    assert len(load_samples([tmp_path / "out" / cfg.run_id()])) == 3
