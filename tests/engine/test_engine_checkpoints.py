"""A checkpoint built like the released adaptive ones (its tags added special tokens of its
tokenizer, ChatML) on real engines: vLLM in-process and `vllm serve` on 127.0.0.1 through
`-b openai` with no tokenizer given. The model decides to fork itself (tests/programmed_model.py);
the engines must return its tags, stop on them, and the children's prompts must extend the
trunk's token ids (the prefix cache serves them). Issue 33; docs/checkpoints.md.
"""

from __future__ import annotations

import asyncio
import importlib.util

import httpx
import programmed_model as pm
import pytest
import vllm_server

from mplm_bench import api
from mplm_bench.runner import build_backend, execute, plan

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]
BLOCK = 32  # the CPU build's KV block here (backends/vllm.py): prefix hits come in whole blocks


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return str(pm.build(tmp_path_factory.mktemp("checkpoint")))


def check_threadweaver(calls, samples) -> None:
    assert (samples["blocks"] == 1).all() and set(samples["status"]) == {"ok"}
    assert set(samples["prompt_profile"]) == {"threadweaver"}
    for _, c in calls.groupby(["instance_id", "repeat"]):
        c = c.sort_values("call")
        trunk, child, join = c.iloc[0], c.iloc[1], c.iloc[2]
        assert trunk.response == pm.THREADWEAVER_TRUNK and trunk.stop_reason == "</Outlines>"
        assert child.thread_id == "1.1" and child.response == " done</Thread>" and child.stop_reason == "</Thread>"
        assert child.prompt.endswith(pm.THREADWEAVER_TRUNK + "\n<Thread>\n1:")
        # the child's prompt ids extend the trunk's: every whole block of the trunk's prompt is cached
        assert child.cached_prompt_tokens >= trunk.prompt_tokens // BLOCK * BLOCK > 0
        assert join.response == "</Parallel> Answer" and join.stop_reason == ""
        assert join.prompt.endswith("\n<Thread>\n1: done</Thread>\n")


def test_in_process_vllm_forks_on_the_models_own_special_tokens(checkpoint, tmp_path):
    engine = {"model": checkpoint, "kv_cache_space_gb": 0.5, "max_tokens": 32, "max_model_len": 2048,
              "enable_chunked_prefill": False}  # Parallel-R1's per-path seeds (backends/vllm_cpu.py)
    tw = plan(api.config("multiply", "threadweaver", backend="vllm", n=2, out=tmp_path, log_prompts=True,
                         backend_options=engine))
    pr = plan(api.config("multiply", "parallel-r1", backend="vllm", n=2, out=tmp_path, log_prompts=True,
                         backend_options=engine))
    backend = build_backend(tw)

    async def go() -> None:
        try:
            await execute(tw, backend)
            await execute(pr, backend)
        finally:
            await backend.aclose()

    asyncio.run(go())
    first = api.RunResult.read(tw.store.dir)
    check_threadweaver(first.calls(), first.samples())
    second = api.RunResult.read(pr.store.dir)
    samples, calls = second.samples(), second.calls()
    assert (samples["blocks"] == 1).all() and set(samples["status"]) == {"ok"}
    paths = calls[calls.thread_id.str.startswith("1.")]
    assert len(paths) == 4 and set(paths.response) == {" alt</Path>"}
    for _, c in calls.groupby(["instance_id", "repeat"]):
        trunk, summary = c[c.thread_id == "0"].sort_values("call").iloc[:2].itertuples()
        assert trunk.response == "Plan<Parallel>" and trunk.stop_reason == "<Parallel>"
        assert summary.prompt.endswith("<Path> alt</Path><Path> alt</Path></Parallel>\n<Summary>")
        assert summary.response == " same</Summary>"


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base_url = vllm_server.start(checkpoint, log, "--served-model-name", "tw-checkpoint", "--block-size", str(BLOCK),
                                       max_model_len=2048)
    try:
        yield vllm_server.wait_ready(proc, base_url, log)
    finally:
        vllm_server.stop(proc)


def test_vllm_serve_strips_the_tags_by_default(server):
    """What a client that leaves vLLM's defaults gets: the tags vanish, the stop never matches."""
    chat = "<|im_start|>user\nWhat is 12 * 34?<|im_end|>\n<|im_start|>assistant\n"
    body = {"model": "tw-checkpoint", "prompt": chat, "max_tokens": 24, "temperature": 0, "stop": ["</Outlines>"]}
    plain = httpx.post(f"{server}/completions", json=body, timeout=60).json()["choices"][0]
    kept = httpx.post(f"{server}/completions", json=body | {"skip_special_tokens": False}, timeout=60).json()["choices"][0]
    assert "<" not in plain["text"] and plain["stop_reason"] is None
    assert kept["stop_reason"] == "</Outlines>" and "<Outline>" in kept["text"]


def test_vllm_serve_with_the_servers_own_tokenizer(server, tmp_path):
    result = api.run("multiply", "threadweaver", backend="openai", n=2, out=tmp_path, log_prompts=True,
                     backend_options={"base_url": server, "max_tokens": 32})
    check_threadweaver(result.calls(), result.samples())
    backend = result.manifest.backend
    assert backend["stop_report"] == "reported" and "/tokenize" in backend["tokenizer"]
    assert backend["served"]["id"] == "tw-checkpoint" and len(backend["served"]["tokenizer_digest"]) == 12
