"""The `openai` backend against a real vLLM OpenAI-compatible server started for this module.

The server runs as `python -m vllm.entrypoints.openai.api_server` (the CPU build's `vllm` console
script looks up its version under the wrong distribution name and fails). It boots while the
in-process engine computes the reference outputs, so the two starts overlap. The server is always
killed in teardown (its whole process group: it spawns an engine-core and a worker process).
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vllm_server

from mplm_bench.runtime.backend import BackendError, Completion, Request, Sampling

HAS_VLLM = importlib.util.find_spec("vllm") is not None
NO_VLLM = "vllm is not installed (make setup installs the cpu or gpu extra)"
needs_engine = pytest.mark.skipif(not HAS_VLLM, reason=NO_VLLM)
SYSTEM = "You are a helpful assistant."
PROMPTS = [
    "Solve this Sudoku:\n{ (0,0): {1}, (0,3): {4}, (1,1): {2}, (3,2): {3} }",
    "Name three colors.",
    "( 7 ∨ ¬ 4 ∨ 1 ) ∧ ( ¬ 2 ∨ 3 ∨ ¬ 7 )\nIs this satisfiable?",
]
MAX_TOKENS = 32


def req(rid: str, text: str, max_tokens: int = MAX_TOKENS) -> Request:
    return Request(rid, "0", (text,), SYSTEM, Sampling(max_tokens=max_tokens, temperature=0.0))


free_port = vllm_server.free_port


def test_unreachable_server_is_one_clear_error() -> None:
    pytest.importorskip("httpx", reason="the openai backend needs httpx (a core dependency)")
    from mplm_bench.backends.openai import build_openai

    port = free_port()  # nothing listens there
    with pytest.raises(BackendError, match=r"cannot reach the OpenAI-compatible server at http://127\.0\.0\.1:\d+/v1") as e:
        build_openai(None, {"base_url": f"http://127.0.0.1:{port}", "api_key": "sk-secret"})
    assert "\n" not in str(e.value) and "sk-secret" not in str(e.value)


def test_unknown_option() -> None:
    from mplm_bench.backends.openai import build_openai

    with pytest.raises(BackendError, match="unknown openai backend option -M url"):
        build_openai(None, {"url": "http://x"})


@pytest.fixture(scope="module")
def model_dir() -> str:
    if not HAS_VLLM:
        pytest.skip(NO_VLLM)
    from mplm_bench.models.embedded import prepare_embedded_model

    return str(prepare_embedded_model())


@pytest.fixture(scope="module")
def server_proc(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base_url = vllm_server.start(model_dir, log)
    try:
        yield proc, base_url, log
    finally:
        vllm_server.stop(proc)


@pytest.fixture(scope="module")
def reference(server_proc: Any, model_dir: str) -> list[Completion]:
    """Greedy outputs of the in-process engine, one request at a time (batch composition can
    change greedy results, so both sides run the prompts alone and in the same order)."""
    from mplm_bench.backends.vllm import build_vllm

    loop = asyncio.new_event_loop()
    backend = build_vllm(None, {"kv_cache_space_gb": 0.5, "enforce_eager": True})
    try:
        return [loop.run_until_complete(backend.generate(req(f"ref{i}", p))) for i, p in enumerate(PROMPTS)]
    finally:
        loop.run_until_complete(backend.aclose())
        loop.close()


@pytest.fixture(scope="module")
def server(server_proc: tuple[subprocess.Popen[bytes], str, Path], reference: Any) -> str:
    proc, base_url, log = server_proc
    return vllm_server.wait_ready(proc, base_url, log)


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[tuple[Any, asyncio.AbstractEventLoop]]:
    from mplm_bench.backends.openai import build_openai

    loop = asyncio.new_event_loop()
    backend = build_openai(None, {"base_url": server, "api_key": "sk-not-needed", "max_concurrency": 8})
    try:
        yield backend, loop
    finally:
        loop.run_until_complete(backend.aclose())
        loop.close()


@pytest.mark.engine
@needs_engine
def test_describe_has_no_secret(client: Any, model_dir: str) -> None:
    backend, _ = client
    d = backend.describe()
    assert d["model"] == model_dir and d["max_model_len"] == 8192  # both read from GET /v1/models
    assert "sk-not-needed" not in repr(d) and "api_key" not in d


@pytest.mark.engine
@needs_engine
def test_same_greedy_outputs_as_in_process(client: Any, reference: list[Completion]) -> None:
    backend, loop = client
    got = [loop.run_until_complete(backend.generate(req(f"http{i}", p))) for i, p in enumerate(PROMPTS)]
    for ref, c in zip(reference, got, strict=True):
        assert c.error is None
        assert (c.text, c.finish_reason) == (ref.text, ref.finish_reason)
        assert (c.prompt_tokens, c.completion_tokens) == (ref.prompt_tokens, ref.completion_tokens)
        assert c.ttft_s is not None and c.latency_s is not None and c.ttft_s <= c.latency_s


@pytest.mark.engine
@needs_engine
def test_token_id_prompts_give_the_same_output(server: str, reference: list[Completion]) -> None:
    from mplm_bench.backends.openai import build_openai

    backend = build_openai(None, {"base_url": server, "prompt_format": "token_ids"})
    loop = asyncio.new_event_loop()
    try:
        c = loop.run_until_complete(backend.generate(req("ids", PROMPTS[1])))
        assert (c.text, c.prompt_tokens, c.completion_tokens) == (
            reference[1].text, reference[1].prompt_tokens, reference[1].completion_tokens)
    finally:
        loop.run_until_complete(backend.aclose())
        loop.close()


@pytest.mark.engine
@needs_engine
def test_cached_tokens_and_concurrency(client: Any) -> None:
    backend, loop = client
    body = "\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog number {i}." for i in range(40))

    async def go() -> list[Completion]:
        first = await backend.generate(req("h1", body + "\nSummarize.", 4))
        rest = await asyncio.gather(*(backend.generate(req(f"h{k}", body + f"\nQuestion {k}?", 4)) for k in range(2, 6)))
        return [first, *rest]

    comps = loop.run_until_complete(go())
    assert all(c.finish_reason in ("stop", "length") and c.completion_tokens > 0 for c in comps)
    assert all(0 < c.cached_prompt_tokens < c.prompt_tokens for c in comps[1:])


@pytest.mark.engine
@needs_engine
def test_abort_closes_the_stream_and_the_server_stops(server: str) -> None:
    """The server is made to generate LONG tokens whatever the model writes (replay: `min_tokens`,
    `ignore_eos`), so no CPU, dtype or greedy path can end the stream before the abort (a story
    prompt once ended by itself on a bf16 machine)."""
    import httpx

    from mplm_bench.backends.openai import build_openai

    LONG = 4000  # noqa: N806
    backend = build_openai(lambda prompt: " word" * LONG, {"base_url": server, "replay": "scripted"})
    metrics_url = server.removesuffix("/v1") + "/metrics"

    def received() -> int:  # text chunks this client has read so far (the server metrics can lag)
        entry = backend._inflight.get("long")
        return len(entry[1].parts) if entry else 0

    async def go() -> Completion:
        task = asyncio.ensure_future(backend.generate(req("long", "Write a very long story about a lighthouse keeper.", LONG)))
        # abort once tokens have reached the client (a fixed sleep fails on a busy machine)
        deadline = time.monotonic() + 120
        while received() < 4 and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        assert not task.done(), f"the stream ended before the abort: {task.result()!r}"
        await backend.abort("long")
        return await asyncio.wait_for(task, timeout=60)  # a hang guard, not a timing assertion

    loop = asyncio.new_event_loop()
    try:
        c = loop.run_until_complete(go())
    finally:
        loop.run_until_complete(backend.aclose())
        loop.close()
    assert c.finish_reason == "abort" and 0 < c.completion_tokens < LONG and c.text
    # the server notices the closed connection and aborts the request: nothing keeps running
    deadline = time.monotonic() + 30
    running = None
    while time.monotonic() < deadline:
        running = _gauge(httpx.get(metrics_url, timeout=5).text, "vllm:num_requests_running")
        if running == 0:
            break
        time.sleep(0.5)
    assert running == 0


def _gauge(metrics: str, name: str) -> float | None:
    values = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name)]
    return sum(values) if values else None


@pytest.mark.engine
@needs_engine
def test_prompt_too_long_checked_on_the_client(client: Any) -> None:
    backend, loop = client
    c = loop.run_until_complete(backend.generate(req("big", "word " * 9000)))
    assert c.finish_reason == "prompt_too_long" and c.prompt_tokens > 8191


@pytest.mark.engine
@needs_engine
def test_replay_asks_the_server_for_exactly_the_scripted_tokens(server: str) -> None:
    """`-M replay=scripted` (issue 11): the policy's text, the server's real work for as many tokens."""
    from mplm_bench.backends.openai import build_openai

    scripted = "<send [0]>{ (0,0): {1} }</send>" + " and then" * 20 + "\n<recv [1,2]>"
    backend = build_openai(lambda prompt: scripted, {"base_url": server, "replay": "scripted"})
    loop = asyncio.new_event_loop()
    try:
        c = loop.run_until_complete(backend.generate(req("replay", PROMPTS[0], max_tokens=500)))
        assert backend.describe()["replay"] == "scripted"
    finally:
        loop.run_until_complete(backend.aclose())
        loop.close()
    assert c.text == scripted and c.finish_reason == "stop"  # EOS ignored: the full count, then "stop"
    assert c.completion_tokens == backend._renderer.count(scripted) and c.ttft_s is not None
