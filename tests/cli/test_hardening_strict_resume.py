"""`--strict-resume` (issue 22, "also"): a resume whose setup differs is refused in one line."""

from __future__ import annotations

import json

from analysis_data import cli

from mplm_bench.analysis.load import load_samples

RUN = ["run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-T", "size=4", "--out", "out", "-q"]


def test_strict_resume_refuses_another_setup_and_writes_nothing(tmp_path):
    assert cli(*RUN, "-n", "2", cwd=tmp_path).returncode == 0
    (path,) = (tmp_path / "out").glob("*/manifest.json")
    r = cli(*RUN, "-n", "3", "--strict-resume", cwd=tmp_path)  # same setup: resumes
    assert r.returncode == 0 and "resuming: 2 samples" in r.stderr, r.stderr
    m = json.loads(path.read_text())
    m["sessions"][-1]["git"] = {"sha": "0123456789abcdef", "dirty": False}
    path.write_text(json.dumps(m))
    before = path.read_text()
    r = cli(*RUN, "-n", "4", "--strict-resume", cwd=tmp_path)
    lines = [line for line in r.stderr.splitlines() if line.startswith(("error", "warning", "Traceback"))]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: --strict-resume: {path.parent.relative_to(tmp_path)} was written with "
                               "another setup: git 0123456789 ->"), r.stderr
    assert path.read_text() == before and len(load_samples([path.parent])) == 3
    r = cli(*RUN, "-n", "4", cwd=tmp_path)  # without it: a warning, and the run resumes
    assert r.returncode == 0 and "another setup" in r.stderr
