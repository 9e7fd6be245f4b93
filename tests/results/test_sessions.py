"""A resumed run keeps every session in its manifest and says what changed in its setup."""

from __future__ import annotations

import json
from pathlib import Path

from analysis_data import cli

from mplm_bench.results.sessions import differences

RUN = ["run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-T", "size=4", "--out", "out", "-q"]


def manifest(work: Path) -> tuple[Path, dict]:
    (path,) = (work / "out").glob("*/manifest.json")
    return path, json.loads(path.read_text())


def test_each_session_is_recorded_and_a_changed_setup_is_one_warning(tmp_path):
    assert cli(*RUN, "-n", "2", cwd=tmp_path).returncode == 0
    path, m = manifest(tmp_path)
    (first,) = m["sessions"]
    assert first["status"] == "complete" and first["n_written"] == 2
    assert first["versions"] == m["versions"] and first["backend"] == m["backend"]

    again = cli(*RUN, "-n", "2", cwd=tmp_path)  # nothing to do, same setup: no warning
    assert again.returncode == 0 and "resuming" not in again.stderr
    # as if the first session had run another engine, another commit and another tokenizer
    m["sessions"] = m["sessions"][:1]
    m["sessions"][0]["versions"]["fake-engine"] = "1.0"
    m["sessions"][0]["git"] = {"sha": "0123456789abcdef", "dirty": False}
    m["sessions"][0]["backend"]["tokenizer"] = "other"
    path.write_text(json.dumps(m))
    r = cli(*RUN, "-n", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "another setup" in r.stderr and "fake-engine 1.0 -> absent" in r.stderr
    assert "git 0123456789 ->" in r.stderr and "backend tokenizer 'other' -> 'smollm2'" in r.stderr
    _, m = manifest(tmp_path)
    assert [s["n_written"] for s in m["sessions"]] == [2, 1] and m["resumed"] >= 1


def test_a_manifest_from_before_sessions_counts_as_one(tmp_path):
    assert cli(*RUN, "-n", "2", cwd=tmp_path).returncode == 0
    path, m = manifest(tmp_path)
    del m["sessions"]
    path.write_text(json.dumps(m))
    assert cli(*RUN, "-n", "3", cwd=tmp_path).returncode == 0
    _, m = manifest(tmp_path)
    assert [(s["status"], s["n_written"]) for s in m["sessions"]] == [("complete", 2), ("complete", 1)]


def test_volatile_backend_settings_are_not_differences():
    a = {"versions": {"x": "1"}, "git": {"sha": "a"}, "backend": {"start_s": 40.1, "dtype": "float32"},
         "host": {"name": "h"}}
    assert differences(a, a | {"backend": {"start_s": 52.0, "dtype": "float32"}}) == []
    assert differences(a, a | {"backend": {"start_s": 40.1, "dtype": "bfloat16"}}) == [
        "backend dtype 'float32' -> 'bfloat16'"]
