"""The `vllm` backend on the real in-process engine (the CPU build in CI) and the embedded model.

One engine for the whole module (eager, 0.5 GiB KV cache: ~40 s to start on 2 cores) and one event
loop: the engine's output handler binds to the loop of its first request, so every test runs its
coroutine on that same loop. No mocks. The option/import checks at the top need no engine.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from mplm_bench.backends.engine_common import EngineCompletion
from mplm_bench.runtime.backend import BackendError, Request, Sampling

HAS_VLLM = importlib.util.find_spec("vllm") is not None
NO_VLLM = "vllm is not installed (make setup installs the cpu or gpu extra)"
needs_engine = pytest.mark.skipif(not HAS_VLLM, reason=NO_VLLM)
SYSTEM = "You are a helpful assistant."  # docs/protocols.md §1


def req(rid: str, text: str, max_tokens: int = 32, system: str | None = SYSTEM) -> Request:
    return Request(rid, "0", (text,), system, Sampling(max_tokens=max_tokens, temperature=0.0))


def test_import_is_light() -> None:
    """`mplm-bench --help` imports the registry and may import backends: never vllm or torch."""
    code = ("import sys, mplm_bench.backends.vllm, mplm_bench.backends.openai; "
            "heavy = [m for m in ('vllm', 'torch', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_option_is_one_clear_error() -> None:
    from mplm_bench.backends.vllm import build_vllm

    with pytest.raises(BackendError, match=r"unknown vllm backend option -M kv_cache_gb \(known: .*kv_cache_space_gb"):
        build_vllm(None, {"kv_cache_gb": 1})


@pytest.mark.engine
@needs_engine
def test_kv_cache_too_small_for_max_model_len_fails_before_start() -> None:
    from mplm_bench.backends.vllm import build_vllm

    with pytest.raises(BackendError, match="lower -M max_model_len or raise -M kv_cache_space_gb"):
        build_vllm(None, {"kv_cache_space_gb": 0.05})  # 8192 tokens of SmolLM2 KV need ~0.18 GiB


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def backend(loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    if not HAS_VLLM:
        pytest.skip(NO_VLLM)
    from mplm_bench.backends.vllm import build_vllm

    b = build_vllm(None, {"kv_cache_space_gb": 0.5, "enforce_eager": True, "max_num_seqs": 16})
    try:
        yield b
    finally:
        loop.run_until_complete(b.aclose())


@pytest.fixture(scope="module")
def hf_tokenizer(backend: Any) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(backend.model_path)


@pytest.mark.parametrize("system", [SYSTEM, None])
@pytest.mark.engine
@needs_engine
def test_prompt_is_the_hf_chat_template(backend: Any, hf_tokenizer: Any, system: str | None) -> None:
    """docs/protocols.md §1: the step is the model's own chat (transformers' apply_chat_template)."""
    r = req("t", "Solve this Sudoku:\n{ (0,0): {1}, (0,3): {4} }\n 12  x", system=system)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": r.prompt}]
    want = hf_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert backend.render(r) == want
    engine_tok = backend._engine.get_tokenizer()  # what vLLM itself would have tokenized
    assert backend._renderer(r).token_ids == engine_tok.encode(want, add_special_tokens=False)


@pytest.mark.engine
@needs_engine
def test_describe(backend: Any) -> None:
    d = backend.describe()
    assert d["backend"] == "vllm" and d["model"] == "SmolLM2-135M-Instruct"
    assert d["vllm"] and d["torch"] and d["device"] in ("cpu", "cuda")
    assert d["engine"]["enable_prefix_caching"] is True and d["max_model_len"] == 8192


@pytest.mark.engine
@needs_engine
def test_concurrent_greedy_counts(backend: Any, hf_tokenizer: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompts = [f"List {n} fruits, one per line." for n in range(2, 8)]

    async def go() -> list[EngineCompletion]:
        return await asyncio.gather(*(backend.generate(req(f"c{i}", p, 48)) for i, p in enumerate(prompts)))

    comps = loop.run_until_complete(go())
    for p, c in zip(prompts, comps, strict=True):
        assert isinstance(c, EngineCompletion) and c.error is None
        assert c.finish_reason in ("stop", "length")
        assert c.prompt_tokens == len(hf_tokenizer.encode(backend.render(req("x", p)), add_special_tokens=False))
        # the count is the engine's own token ids (EOS included when it stopped on it) ...
        assert c.token_ids is not None and c.completion_tokens == len(c.token_ids) > 0
        assert c.completion_tokens == 48 if c.finish_reason == "length" else c.completion_tokens <= 48
        # ... and those ids are the text: decoding them (dropping the end-of-turn token) gives it.
        # Re-encoding the text is not compared: it loses the EOS id and BPE may merge differently.
        assert hf_tokenizer.decode(list(c.token_ids), skip_special_tokens=True) == c.text
        if c.finish_reason == "stop":
            assert c.token_ids[-1] == hf_tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert c.ttft_s is not None and c.latency_s is not None and 0 < c.ttft_s <= c.latency_s


@pytest.mark.engine
@needs_engine
def test_shared_prefix_is_cached(backend: Any, loop: asyncio.AbstractEventLoop) -> None:
    body = "\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog number {i}." for i in range(40))
    first = loop.run_until_complete(backend.generate(req("p1", body + "\nSummarize.", 4)))
    second = loop.run_until_complete(backend.generate(req("p2", body + "\nCount the lines.", 4)))
    assert first.prompt_tokens > 500
    # prefix caching works on whole KV blocks: all full blocks of the shared prefix are reused
    assert 0 < second.cached_prompt_tokens < second.prompt_tokens
    assert second.cached_prompt_tokens >= first.prompt_tokens - 64


@pytest.mark.engine
@needs_engine
def test_abort_ends_a_running_request(backend: Any, loop: asyncio.AbstractEventLoop) -> None:
    async def go() -> EngineCompletion:
        r = req("long", "Write a very long story about a lighthouse keeper, chapter by chapter.", 2000)
        task = asyncio.ensure_future(backend.generate(r))
        await asyncio.sleep(1.5)
        assert not task.done()
        await backend.abort("long")
        return await asyncio.wait_for(task, timeout=60)  # a hang guard, not a timing assertion

    c = loop.run_until_complete(go())
    assert c.finish_reason == "abort"
    assert 0 < c.completion_tokens < 2000 and c.text
    assert not backend._inflight


@pytest.mark.engine
@needs_engine
def test_abort_before_start(backend: Any, loop: asyncio.AbstractEventLoop) -> None:
    async def go() -> Any:
        await backend.abort("early")  # the scheduler may preempt a step whose task has not run yet
        return await backend.generate(req("early", "Hello"))

    c = loop.run_until_complete(go())
    assert c.finish_reason == "abort" and c.completion_tokens == 0


@pytest.mark.engine
@needs_engine
def test_prompt_too_long(backend: Any, loop: asyncio.AbstractEventLoop) -> None:
    c = loop.run_until_complete(backend.generate(req("big", "word " * 9000)))
    assert c.finish_reason == "prompt_too_long"
    assert c.prompt_tokens > backend.max_model_len - 1 and c.completion_tokens == 0 and c.error


def test_cpu_dtype_is_bf16_only_where_the_cpu_computes_it() -> None:
    from mplm_bench.backends.vllm_cpu import cpu_dtype

    assert cpu_dtype("flags : fpu avx512f avx512_vnni") == "float32"
    assert cpu_dtype("flags : fpu avx512f avx512_bf16") == "bfloat16"
    assert cpu_dtype("flags : fpu amx_bf16 amx_tile") == "bfloat16"


def test_a_seed_on_the_cpu_build_fails_at_plan_time(tmp_path) -> None:
    import importlib.metadata

    from mplm_bench.config import ConfigError, RunConfig
    from mplm_bench.runner import plan

    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("not the CPU build")
    cfg = RunConfig(task="sudoku", strategy="cot", task_options={"size": 4}, backend="vllm",
                    backend_options={"seed": 1}, out=tmp_path)
    with pytest.raises(ConfigError, match="-M seed on vllm-cpu needs -M enable_chunked_prefill=false"):
        plan(cfg)
    assert not list(tmp_path.iterdir())  # nothing written
    cfg.backend_options["enable_chunked_prefill"] = "false"
    assert plan(cfg).sampling.seed == 1


@pytest.mark.engine
@needs_engine
def test_seeded_sampling_without_chunked_prefill_repeats() -> None:
    """The seeded requests that kill vllm-cpu's engine under chunked prefill (a prompt longer than
    one step's token budget, beside a short one; checked: "CPU Generator does not use offset") run
    without it, and the same seed gives the same text."""
    from mplm_bench.backends.vllm import build_vllm

    async def go() -> list[str]:
        backend = build_vllm(None, {"kv_cache_space_gb": 0.5, "enable_chunked_prefill": False})
        try:
            long, short = "word " * 5000, "Count to five."  # 5k tokens: past the CPU build's 4096 a step
            texts = []
            for k, seeds in enumerate(((1, 2), (1, 3))):
                calls = [backend.generate(Request(f"{k}/{i}", "0", (text,), SYSTEM,
                                                  Sampling(max_tokens=12, temperature=1.0, seed=seed)))
                         for i, (text, seed) in enumerate(zip((long, short), seeds, strict=True))]
                done = await asyncio.gather(*calls)
                assert all(c.finish_reason in ("stop", "length") for c in done), [c.error for c in done]
                texts.append(done[0].text)
            return texts
        finally:
            await backend.aclose()

    first, again = asyncio.run(go())
    assert first == again  # seed 1 on the long prompt, whatever ran beside it


def test_default_cpu_kv_cache_is_a_quarter_of_free_ram_within_bounds() -> None:
    from mplm_bench.backends.vllm_cpu import GIB, default_cpu_kv_gb

    assert default_cpu_kv_gb(None) == 2.0
    assert default_cpu_kv_gb(4 * GIB) == 2.0
    assert default_cpu_kv_gb(20 * GIB) == 5.0
    assert default_cpu_kv_gb(100 * GIB) == 8.0
