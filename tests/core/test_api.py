"""The Python API: `mplm_bench.run` / `sweep` own the backend's life and return typed results;
the README's example runs as written; `import mplm_bench` stays light."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest
from cli_helpers import REPO

import mplm_bench
from mplm_bench.api import Manifest, RunResult
from mplm_bench.config import ConfigError, RunConfig

ENV = os.environ | {"PYTHONPATH": str(REPO)}


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    status, run_id = capsys.readouterr().out.split()
    assert status == "complete" and run_id.startswith("sudoku-mplm-scripted-")
    assert (tmp_path / "results" / "api" / run_id / "manifest.json").is_file()


def test_run_returns_the_run_and_resumes(tmp_path):
    seen = []
    r = mplm_bench.run("sudoku", "fj", backend="scripted", task_options={"size": 4}, n=3,
                       out=tmp_path, on_sample=seen.append)
    assert isinstance(r, RunResult) and isinstance(r.manifest, Manifest)
    assert r.manifest.status == "complete" and r.manifest.n_samples_on_disk == 3 and r.written == 3
    assert r.manifest.config["task_options"] == {"size": 4} and r.manifest.model_extra["caps"]
    assert len(seen) == 3 and {row["instance_id"] for row in seen} == set(r.samples()["instance_id"])
    calls = r.calls()
    assert "response" in calls.columns and set(calls["instance_id"]) == set(r.samples()["instance_id"])
    again = mplm_bench.run(RunConfig(task="sudoku", strategy="fj", backend="scripted",
                                     task_options={"size": 4}, n=3, out=tmp_path))
    assert again.dir == r.dir and again.written == 0  # everything was on disk


def test_bad_input_raises_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="task option size"):
        mplm_bench.run("sudoku", "mplm", backend="scripted", task_options={"size": 5}, out=tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(TypeError):
        mplm_bench.run("sudoku")


def test_arun_leaves_a_callers_backend_open(tmp_path):
    from mplm_bench.plan import build_backend, plan

    p = plan(RunConfig(task="sat", strategy="mplm", backend="scripted", task_options={"vars": 6},
                       n=2, out=tmp_path))
    backend = build_backend(p)
    closed = []
    real = backend.aclose

    async def aclose() -> None:
        closed.append(True)
        await real()

    backend.aclose = aclose  # type: ignore[method-assign]
    r = asyncio.run(mplm_bench.arun(p, backend=backend))
    assert r.manifest.status == "complete" and closed == []


def test_sweep_runs_every_cell(tmp_path):
    from mplm_bench.sweep_config import SweepConfig

    spec = SweepConfig.model_validate({
        "out": str(tmp_path), "backends": ["scripted"], "n": 2,
        "tasks": [{"name": "sudoku", "grid": {"size": [4, 9]}}], "strategies": ["cot", "mplm"],
    })
    result = mplm_bench.sweep(spec)
    assert len(result.runs) == 4 and all(r.manifest.status == "complete" for r in result.runs)
    df = result.samples()
    assert len(df) == 8 and df["correct"].all() and set(df["strategy"]) == {"cot", "mplm"}


def test_import_is_light_and_sweep_stays_the_function():
    code = ("import sys, mplm_bench; heavy = [m for m in ('pandas', 'pyarrow', 'vllm', 'torch', 'ray', "
            "'mplm_bench.api', 'mplm_bench.runner') if m in sys.modules]; assert not heavy, heavy; "
            "from mplm_bench import run, sweep; assert callable(run) and callable(sweep); "
            "import mplm_bench.sweep_config, mplm_bench.sweep_run; from mplm_bench import sweep as again; "
            "assert callable(again) and again is mplm_bench.api.sweep")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr


def test_a_run_the_cli_wrote_reads_as_a_run_result(scripted_run):
    r = RunResult.read(scripted_run)
    assert r.run_id == scripted_run.name and r.manifest.status == "complete"
    assert len(r.samples()) == 3 and r.samples()["correct"].all()
    again = mplm_bench.run("sudoku", "mplm", backend="scripted", task_options={"size": 4}, n=3,
                           out=scripted_run.parent)
    assert again.dir == scripted_run and again.written == 0  # the CLI and the API share the run id
