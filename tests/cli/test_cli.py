"""The command line as a user runs it: help, errors, a scripted run, resume after a kill."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from cli_helpers import ENV
from cli_helpers import run_cli as cli


def test_help_imports_no_engine():
    code = ("import sys; from typer.testing import CliRunner; from mplm_bench.cli import app;"
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
            "r = CliRunner().invoke(app, ['run', '--help']); assert r.exit_code == 0, r.output;"
            "heavy = [m for m in ('vllm', 'torch', 'ray', 'datasets', 'transformers', 'pandas', 'pyarrow') if m in sys.modules];"
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr  # `--help` is fast because it imports none of these


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--task", "nope", "--strategy", "mplm"], "unknown task 'nope'"),
        (["--task", "sudoku", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["--task", "sudoku", "--strategy", "mplm", "-b", "nope"], "unknown backend 'nope'"),
        (["--task", "sudoku", "--strategy", "mplm", "-b", "scripted", "-T", "size=7"], "size"),
        (["--task", "sudoku", "--strategy", "mplm", "-b", "scripted", "-T", "colour=red"], "colour"),
        (["--task", "sudoku", "--strategy", "mplm", "-b", "scripted", "-T", "oops"], "key=value"),
        (["--task", "sudoku", "--strategy", "mplm", "-b", "scripted", "-M", "bogus=1"], "bogus"),
        (["--task", "sudoku", "--strategy", "mplm", "-b", "scripted", "--data", "/no/such.jsonl"], "such.jsonl"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    r = cli("run", *args, "--out", str(tmp_path), "-q")
    assert r.returncode == 2, r.stderr + r.stdout
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())  # nothing partial written


def test_run_writes_parquet_and_resumes(tmp_path):
    args = ["run", "--task", "sudoku", "--strategy", "mplm", "-b", "scripted", "-T", "size=4",
            "-n", "3", "--out", str(tmp_path), "-q"]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    (run_dir,) = tmp_path.iterdir()
    s = pd.read_parquet(run_dir / "samples")
    c = pd.read_parquet(run_dir / "calls")
    assert len(s) == 3 and s["correct"].all() and (s["status"] == "ok").all()
    assert set(c["instance_id"]) == set(s["instance_id"])
    assert (s["n_calls"].sum()) == len(c)
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "complete" and m["config_hash"] in run_dir.name and m["backend"]["tokenizer"]
    # same command: nothing to do; larger n: only the new samples run
    r = cli(*args)
    assert r.returncode == 0 and "nothing to do" in r.stderr
    r = cli(*[a if a != "3" else "5" for a in args])
    assert r.returncode == 0, r.stderr
    s = pd.read_parquet(run_dir / "samples")
    assert len(s) == 5 and s["instance_id"].is_unique
