"""`sweep`: the YAML schema, the grid, overrides, resume, backend reuse, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from analysis_data import invoke

from mplm_bench.config import ConfigError
from mplm_bench.sweep_config import SweepConfig, expand, load_sweep
from mplm_bench.sweep_run import backend_key, plan_cells, run_sweep


def sweep(**kw):
    base = {"backends": ["scripted"], "tasks": [{"name": "sudoku", "grid": {"size": [4]}}],
            "strategies": ["fj", "mplm"], "n": 3}
    return SweepConfig.model_validate(base | kw)


def test_grid_expands_in_order_with_fixed_options_and_overrides(tmp_path):
    s = sweep(tasks=[{"name": "sudoku", "options": {"p": 0.4}, "grid": {"size": [4, 9]}},
                     {"name": "sat", "grid": {"vars": [6, 8], "ratio": [4.0, 4.3]}}],
              strategies=["cot", {"name": "mplm", "grid": {"scheduler": ["sync", "async"]}}],
              seeds=[0, 1], out=tmp_path,
              overrides=[{"where": {"size": 9}, "n": 7},
                         {"where": {"task": "sat", "strategy": "cot", "vars": 8}, "skip": True},
                         {"where": {"seed": 1, "scheduler": ["async"]}, "repeats": 2}])
    cells = expand(s)
    # sudoku: 2 sizes × 3 strategy settings × 2 seeds; sat: 4 option points × 3 × 2, minus cot at vars=8
    assert len(cells) == 12 + 24 - 4
    assert [c.task_options for c in cells[:6]] == [{"p": 0.4, "size": 4}] * 6
    assert [(c.strategy, c.strategy_options, c.seed) for c in cells[:6]] == [
        ("cot", {}, 0), ("cot", {}, 1), ("mplm", {"scheduler": "sync"}, 0),
        ("mplm", {"scheduler": "sync"}, 1), ("mplm", {"scheduler": "async"}, 0),
        ("mplm", {"scheduler": "async"}, 1)]
    assert {c.n for c in cells if c.task_options.get("size") == 9} == {7}
    assert {c.n for c in cells if c.task_options.get("size") != 9} == {3}
    assert [c.repeats for c in cells[:6]] == [1, 1, 1, 1, 1, 2]
    assert not any(c.task == "sat" and c.strategy == "cot" and c.task_options["vars"] == 8 for c in cells)
    assert all(c.out == tmp_path and c.backend == "scripted" for c in cells)
    assert len({c.run_id() for c in cells}) == len(cells)


def test_duplicate_cells_merge_keeping_the_larger_n():
    s = sweep(strategies=["fj", "fj"], overrides=[{"where": {"strategy": "fj"}, "n": 5}])
    (cell,) = expand(s)
    assert cell.n == 5


@pytest.mark.parametrize("raw,needle", [
    ("tasks: [sudoku]\nstrategies: [mplm]\nbackend: scripted\n", "backend: Extra inputs are not permitted"),
    ("tasks: [sudoku]\nstrategies: [{name: mplm, optons: {}}]\n", "strategies.0.optons: Extra inputs"),
    ("tasks: [sudoku]\nstrategies: []\n", "strategies: List should have at least 1 item"),
    ("tasks: [{name: sudoku, grid: {size: 9}}]\nstrategies: [mplm]\n", "tasks.0.grid.size: Input should be a valid list"),
    ("strategies: [mplm]\n", "tasks: Field required"),
    ("tasks: [sudoku]\nstrategies: [mplm]\nn: 0\n", "n: Input should be greater than or equal to 1"),
    ("tasks: [sudoku\n", "not valid YAML"),
])
def test_schema_errors_are_one_line(tmp_path, raw, needle):
    path = tmp_path / "s.yaml"
    path.write_text(raw)
    with pytest.raises(ConfigError, match=needle):
        load_sweep(path)
    r = invoke("sweep", str(path))
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("raw,needle", [
    ("backends: [scripted]\ntasks: [{name: sudoku, grid: {size: [4, 7]}}]\nstrategies: [mplm]\n", "cell sudoku size=7 · mplm: task option size"),
    ("backends: [scripted]\ntasks: [sudoku]\nstrategies: [mplm]\noverrides: [{where: {sise: 4}, n: 2}]\n", "overrides.0: where {'sise': 4} matches no cell"),
    ("backends: [scripted]\ntasks: [sudoku]\nstrategies: [nope]\n", "unknown strategy 'nope'"),
    ("backends: [{name: scripted, options: {bogus: 1}}]\ntasks: [sudoku]\nstrategies: [mplm]\n", "bogus"),
])
def test_bad_cells_fail_before_anything_runs(tmp_path, raw, needle):
    path = tmp_path / "s.yaml"
    path.write_text(raw)
    r = invoke("sweep", str(path), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_sweep_resumes_cells_and_samples(tmp_path):
    s = sweep(out=tmp_path)
    assert run_sweep(s, quiet=True) == 0
    runs = sorted(p.parent for p in tmp_path.rglob("manifest.json"))
    assert len(runs) == 2 and all(len(pd.read_parquet(r / "samples")) == 3 for r in runs)
    before = {r: (r / "manifest.json").read_text() for r in runs}
    # everything on disk: nothing runs, no manifest is touched
    assert sum(len(p.todo) for p in plan_cells(s)) == 0
    assert run_sweep(s, quiet=True) == 0
    assert {r: (r / "manifest.json").read_text() for r in runs} == before
    # lose the first cell's samples file (its 3 samples: one batch), and raise n: only the
    # missing samples run
    (samples,) = (runs[0] / "samples").glob("*.parquet")
    samples.unlink()
    s5 = sweep(out=tmp_path, n=5)
    assert [len(p.todo) for p in plan_cells(s5)] == [5, 2]
    assert run_sweep(s5, quiet=True) == 0
    for r in runs:
        df = pd.read_parquet(r / "samples")
        assert len(df) == 5 and df["instance_id"].is_unique and df["correct"].all()
        assert json.loads((r / "manifest.json").read_text())["status"] == "complete"


def test_one_scripted_backend_per_cell_shared_only_across_seeds(tmp_path, monkeypatch):
    import mplm_bench.sweep_run as sr

    built = []
    real = sr.build_backend

    def counting(p):
        built.append(p.cfg.run_id())
        return real(p)

    monkeypatch.setattr(sr, "build_backend", counting)
    s = sweep(out=tmp_path, seeds=[0, 1], n=1)
    plans = plan_cells(s)
    assert len(plans) == 4 and len({backend_key(p) for p in plans}) == 2
    assert run_sweep(s, quiet=True) == 0
    assert len(built) == 2  # fj (seeds 0 and 1), mplm (seeds 0 and 1)


def test_sweep_cli_dry_run_and_progress(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("backends: [scripted]\ntasks: [{name: sudoku, grid: {size: [4]}}]\n"
                    "strategies: [cot, mplm]\nn: 2\nout: " + str(tmp_path / "out") + "\n")
    r = invoke("sweep", str(path), "--dry-run")
    assert r.returncode == 0 and "0/2" in r.stdout and not (tmp_path / "out").exists()
    r = invoke("sweep", str(path))
    assert r.returncode == 0, r.stderr
    assert "done [1/2] sudoku size=4 · cot: 2 samples, acc 100%" in r.stderr
    assert "critical path" in r.stdout  # the summary table of the whole sweep
    r = invoke("sweep", str(path), "-q")
    assert r.returncode == 0 and "(4 on disk, 0 to run)" in r.stderr
    import shutil

    shutil.rmtree(next((tmp_path / "out").glob("sudoku-mplm-*")))
    r = invoke("sweep", str(path), "-q")
    assert r.returncode == 0 and "(2 on disk, 2 to run)" in r.stderr
    assert "skip [1/2] sudoku size=4 · cot: all samples on disk" in r.stderr
    assert "done [2/2] sudoku size=4 · mplm: 2 samples" in r.stderr
