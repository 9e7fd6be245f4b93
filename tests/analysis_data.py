"""Runs for the analysis tests: one small scripted sweep per session, and synthetic runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from cli_helpers import CLI, ENV, run_cli  # noqa: F401  (re-exported for the analysis tests)
from cli_helpers import invoke_cli as invoke  # noqa: F401

from mplm_bench.results.schema import sample_schema
from mplm_bench.results.store import RunStore, part_name

SMALL_SWEEP: dict[str, Any] = {
    "backends": ["scripted"],
    "tasks": [{"name": "sudoku", "grid": {"size": [4, 9]}},
              {"name": "sat", "options": {"vars": 6}}],
    "strategies": ["cot", "fj", "mplm"],
    "n": 4,
}
_ROOT: dict[str, Path] = {}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=600)


def scripted_root(tmp_path_factory: Any) -> Path:
    """sudoku 4 and 9, sat 6 variables × cot, fj, mplm, 4 instances each (run once per session)."""
    if "root" not in _ROOT:
        from mplm_bench.sweep_config import SweepConfig
        from mplm_bench.sweep_run import run_sweep

        root = tmp_path_factory.mktemp("scripted_root")
        assert run_sweep(SweepConfig.model_validate(SMALL_SWEEP), out=root, quiet=True) == 0
        _ROOT["root"] = root
    return _ROOT["root"]


def synthetic_run(root: Path, name: str, rows: list[dict[str, Any]], manifest: dict[str, Any] | None = None) -> Path:
    """A run folder written with the real schema: each row overrides a plain ok sample."""
    store = RunStore(root / name)
    store.create()
    for i, override in enumerate(rows):
        row: dict[str, Any] = {
            "run_id": name, "config_hash": name[-6:], "task": "toy", "strategy": "mplm",
            "protocol": "mplm", "scheduler": "sync", "backend": "scripted", "model": "",
            "instance_id": f"toy-{i:03d}", "size": 4, "repeat": 0, "status": "ok",
            "status_detail": "", "correct": True, "score": 1.0, "answer": "", "parsed_answer": "",
            "gen_tokens": 1000, "prompt_tokens": 500, "cached_prompt_tokens": 0,
            "critical_path_tokens": 400.0, "peak_context_tokens": 300, "n_threads": 3, "n_calls": 5,
            "n_messages": 2, "n_dropped_messages": 0, "n_preempted": 0, "n_truncated_calls": 0,
            "n_protocol_errors": 0, "max_depth": 1, "rounds": 3, "virtual_time": 400.0,
            "sim_latency_s": None, "wall_s": 0.1, "extra_json": None,
        } | override
        table = pa.Table.from_pylist([row], schema=sample_schema(row))
        pq.write_table(table, store.samples_dir / part_name(row["instance_id"], row["repeat"]))
    store.write_manifest(manifest or {"run_id": name, "config": {"seed": 0}, "task_options": {}})
    return store.dir
