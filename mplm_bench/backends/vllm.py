"""The `vllm` backend: vLLM's in-process async engine (V1 `AsyncLLM`), CUDA and CPU builds alike.

One code path for both builds; only defaults differ by device (see `VLLMOptions`). Each step is
rendered with the model's chat template, tokenized once here and sent as token ids, so the prompt
tokens we record are exactly the ones the engine runs. Every sample awaits its own request and the
engine batches whatever is in flight.

Nothing from vllm or torch is imported at module import: `mplm-bench --help` stays light.

API used (vLLM 0.32): `AsyncLLM.from_engine_args(AsyncEngineArgs(...))`;
`async for out in engine.generate(TokensPrompt(prompt_token_ids=ids), SamplingParams(...), id)`
yielding `RequestOutput` (`outputs[0].token_ids/.text/.finish_reason`, `num_cached_tokens`,
`finished`; with `SamplingParams(logprobs=k)`, `outputs[0].logprobs`: per new token a dict
{token id: Logprob(logprob=...)} of the top k and the sampled token); `await engine.abort(id)` (by the id we passed: vLLM appends a random suffix
internally and maps it back); `engine.shutdown()`. The engine object must be used from one event
loop for its whole life: its output handler task binds to the loop of the first request.

`VLLM_ENABLE_V1_MULTIPROCESSING` is left as the user has it. Measured on the CPU build here (2
cores, SmolLM2-135M bf16, eager): with `=0` the model runs in the engine-core process with the
uniprocess executor, and vLLM itself warns that this cannot set up OpenMP properly: 2.5 tok/s for
one sequence and 106 tok/s for 64 x 128 tokens, against 11.3 and 361 tok/s with the default `=1`,
and a slower start (57 s vs 31 s). It buys no determinism for `AsyncLLM` either: in this version
AsyncLLM always runs its engine core in a separate process (the variable only decides whether the
CPU worker gets one more), and what a batch holds depends on when requests arrive, which the
harness does not fix. Greedy outputs repeat for the same batch composition on the same machine.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mplm_bench.backends.engine_common import (
    ENGINE_HINT,
    ChatRenderer,
    EarlyAborts,
    EngineCompletion,
    counter_renderer,
    finish_reason,
    hf_renderer,
    options_error,
    prepare_call,
    restore_stop,
    special_token_params,
    with_replayed_text,
)
from mplm_bench.backends.engine_reaper import stop_watcher, watch_children
from mplm_bench.backends.vllm_cpu import (
    CPU_BLOCK_SIZE,
    GIB,
    check_cpu_memory,
    check_cpu_sampling,
    cpu_dtype,
    default_cpu_kv_gb,
    distribution,
    free_ram,
)
from mplm_bench.models.embedded import EMBEDDED_ALIASES, EMBEDDED_MODEL_NAME
from mplm_bench.registry import backends
from mplm_bench.runtime.backend import BackendError, Completion, Request
from mplm_bench.runtime.confidence import token_confidence
from mplm_bench.tasks.base import Policy

EMBEDDED_MAX_MODEL_LEN = 8192  # SmolLM2-135M-Instruct's trained context


class VLLMOptions(BaseModel):
    """`-M key=value` options of the vllm backend. None means "the default for this device"."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # None / "smollm2": the embedded model; a local folder; a hub id
    max_model_len: int | None = Field(default=None, ge=1)  # None: 8192 for the embedded model, else the model's own
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    # GPU: fraction of device memory for weights + KV (default 0.9). CPU: fraction of the NUMA
    # node's RAM for the KV cache; used only when kv_cache_space_gb is not given (vLLM's 0.92
    # default fails at start on CPU: it asks for more than the free RAM).
    gpu_memory_utilization: float | None = None
    kv_cache_space_gb: float | None = None  # explicit KV cache size (CPU default: a quarter of free RAM, 2-8 GiB)
    enforce_eager: bool | None = None  # CPU default True (compiling: ~195 s start vs ~45 s)
    dtype: str | None = None  # CPU default: bfloat16 where the CPU computes it natively, else float32; GPU: auto
    enable_prefix_caching: bool = True  # always passed explicitly and recorded
    seed: int = 0
    max_num_seqs: int | None = None
    block_size: int | None = None  # KV block (prefix-cache granularity); CPU default 32, GPU vLLM's
    # None: vLLM's default (on). vllm-cpu needs it off for seeded requests (backends/vllm_cpu.py)
    enable_chunked_prefill: bool | None = None
    # "scripted": the task's reference policy writes each step's text; the engine is asked, on
    # the real prompt, for exactly as many tokens (EOS ignored) and its own text is discarded.
    # Real prefill, prefix caching, batching and decode cost for protocols no model follows yet.
    replay: Literal["scripted"] | None = None


def _require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise BackendError(f"the vllm backend needs the engine: {ENGINE_HINT}")


class VLLMBackend:
    name = "vllm"
    virtual_time = False

    def __init__(self, options: VLLMOptions | None = None, policy: Policy | None = None) -> None:
        _require_vllm()
        self.options = opts = options or VLLMOptions()
        self.policy = policy if opts.replay == "scripted" else None
        self._inflight: dict[str, bool] = {}  # request id -> abort requested
        self._early = EarlyAborts()
        # vLLM logs every start-up detail at INFO, which buries the progress bar; the user's
        # own VLLM_LOGGING_LEVEL wins
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            import torch
            import vllm
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.platforms import current_platform
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as e:
            raise BackendError(f"the vllm backend needs the engine ({e}): {ENGINE_HINT}") from e
        except RuntimeError as e:  # PyPI's torchvision next to a torch it was not built for
            if "torchvision" in str(e):
                raise BackendError(
                    f"{e}: uninstall the mismatched extras: pip uninstall -y torchvision torchaudio torchcodec"
                ) from e
            raise

        self.model_path = _resolve(opts.model)
        self.embedded = opts.model is None or opts.model.strip().lower() in EMBEDDED_ALIASES
        self.device = str(current_platform.device_type)
        on_cpu = bool(current_platform.is_cpu())
        self.engine_args = args = self._engine_args(on_cpu)
        if on_cpu:
            check_cpu_memory(args, self.model_path)

        started = time.perf_counter()
        try:
            self._engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**args))
        except Exception as e:
            raise BackendError(_start_failure(e, on_cpu)) from e
        self.start_s = time.perf_counter() - started
        self._reaper = watch_children()  # the engine's processes die with us, kill -9 included
        self.max_model_len = int(self._engine.model_config.max_model_len)
        # Made after the engine has started its processes: the CUDA build forks them, and a
        # `tokenizers` object that has already run in this process would warn about the fork and
        # turn its parallelism off.
        self._renderer = self._make_renderer()
        self._render = engine_renderer(self._engine)
        self._versions = {
            "vllm": str(vllm.__version__),
            "vllm_distribution": distribution("vllm", "vllm-cpu"),
            "torch": str(torch.__version__),
        }
        self._device_name = _device_name(current_platform, on_cpu)

    def _engine_args(self, on_cpu: bool) -> dict[str, Any]:
        o = self.options
        args: dict[str, Any] = {
            "model": self.model_path,
            "tensor_parallel_size": o.tensor_parallel_size,
            "data_parallel_size": o.data_parallel_size,
            "enforce_eager": o.enforce_eager if o.enforce_eager is not None else on_cpu,
            "dtype": o.dtype or (cpu_dtype() if on_cpu else "auto"),
            "enable_prefix_caching": o.enable_prefix_caching,
            "seed": o.seed,
            # periodic stats logging: RequestOutput.metrics is not used, the harness times calls
            "disable_log_stats": True,
        }
        max_len = o.max_model_len or (EMBEDDED_MAX_MODEL_LEN if self.embedded else None)
        if max_len is not None:
            args["max_model_len"] = max_len
        if o.max_num_seqs is not None:
            args["max_num_seqs"] = o.max_num_seqs
        if o.enable_chunked_prefill is not None:
            args["enable_chunked_prefill"] = o.enable_chunked_prefill
        # Prefix caching works in whole KV blocks. The CPU build defaults to 128-token blocks, so
        # a resumed thread of a few hundred tokens finds almost nothing cached; 32 is the
        # smallest size the CPU kernels prefer (measured: resumed-step hit ratio 0.19 -> docs/latency.md)
        block = o.block_size or (CPU_BLOCK_SIZE if on_cpu else None)
        if block is not None:
            args["block_size"] = block
        kv_gb = o.kv_cache_space_gb
        env_kv = os.environ.get("VLLM_CPU_KVCACHE_SPACE", "")
        if on_cpu and env_kv:
            # vLLM's CPU platform lets this legacy variable override kv_cache_memory_bytes
            if kv_gb is not None and float(env_kv) != kv_gb:
                raise BackendError(f"VLLM_CPU_KVCACHE_SPACE={env_kv} overrides -M kv_cache_space_gb={kv_gb}: "
                                   "unset one of them")
            kv_gb = float(env_kv)
        if on_cpu and kv_gb is None and o.gpu_memory_utilization is None:
            kv_gb = default_cpu_kv_gb(free_ram())
        if kv_gb is not None:
            args["kv_cache_memory_bytes"] = int(kv_gb * GIB)
        if o.gpu_memory_utilization is not None or not on_cpu:
            args["gpu_memory_utilization"] = o.gpu_memory_utilization or 0.9
        return args

    def _make_renderer(self) -> ChatRenderer:
        """The model folder's own tokenizer files through mplm_bench.models (the same code the
        openai backend uses, so both send the same bytes); the engine's HF tokenizer when those
        files cannot be read that way (e.g. a hub id cached where we do not look)."""
        try:
            return counter_renderer(self.model_path)
        except (OSError, ValueError):
            return hf_renderer(self._engine.get_tokenizer(), f"{self.model_path} (engine tokenizer)")

    def describe(self) -> dict[str, Any]:
        engine = {k: v for k, v in self.engine_args.items() if k != "model"}
        if "kv_cache_memory_bytes" in engine:
            engine["kv_cache_space_gb"] = round(engine.pop("kv_cache_memory_bytes") / GIB, 3)
        return {
            "backend": self.name,
            "model": EMBEDDED_MODEL_NAME if self.embedded else self.options.model,
            "model_path": self.model_path,
            "max_model_len": self.max_model_len,
            "engine": engine,
            "replay": self.options.replay,
            **self._versions,
            "device": self.device,
            "device_name": self._device_name,
            "tokenizer": self._renderer.name,
            "start_s": round(self.start_s, 1),
            "VLLM_ENABLE_V1_MULTIPROCESSING": os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1"),
        }

    def render(self, request: Request) -> str:
        """The exact prompt text sent for `request` (what the openai backend sends too)."""
        return self._renderer.text(request)

    async def generate(self, request: Request) -> Completion:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        call = prepare_call(request, self._renderer, self._early, self.max_model_len, self.policy)
        if isinstance(call, Completion):
            return call
        rid, s, replayed = request.request_id, request.sampling, call.replayed
        params = SamplingParams(
            max_tokens=call.max_tokens,  # explicit: vLLM's default is 16
            min_tokens=call.max_tokens if replayed is not None else 0,
            ignore_eos=replayed is not None,
            temperature=s.temperature,
            top_p=s.top_p,
            seed=s.seed,
            output_kind=RequestOutputKind.DELTA,  # new tokens only: no O(n^2) re-sent text
            stop=list(request.stop) if request.stop and replayed is None else None,
            # trimmed by the engine and put back from `stop_reason` (engine_common.restore_stop),
            # so an end-of-sequence special token never reaches the text
            include_stop_str_in_output=False,
            **special_token_params(request),
            # top-k log-probabilities of each generated token, only when asked (DeepConf)
            **({"logprobs": s.logprobs} if s.logprobs is not None else {}),
        )
        ids: list[int] = []
        confs: list[float] | None = [] if s.logprobs is not None else None
        parts: list[str] = []
        ttft: float | None = None
        cached = 0
        raw_finish: str | None = None
        raw_stop: object = None
        self._inflight[rid] = False
        try:
            prompt = TokensPrompt(prompt_token_ids=call.prompt.token_ids)
            stream = self._engine.generate(self._render(prompt) if self._render else prompt, params, rid)
            async for out in stream:
                o = out.outputs[0]
                if o.token_ids and ttft is None:
                    ttft = time.perf_counter() - call.t0
                ids.extend(o.token_ids)
                parts.append(o.text)
                if confs is not None and o.logprobs:
                    # DELTA output: the logprobs of the new tokens only, one {token id: Logprob}
                    # per token, the sampled token's included (what upstream averages over)
                    new = [token_confidence(lp.logprob for lp in d.values()) for d in o.logprobs]
                    confs.extend(new)
                    if request.on_confidences is not None:
                        request.on_confidences(new)
                cached = max(cached, out.num_cached_tokens or 0)
                if out.finished:
                    raw_finish, raw_stop = o.finish_reason, o.stop_reason
                elif self._inflight[rid]:
                    # abort() came before vLLM had registered the id; now it has
                    await self._engine.abort(rid)
        finally:
            del self._inflight[rid]
        text, matched = "".join(parts), None
        if raw_finish == "stop" and replayed is None:
            text, matched = restore_stop(raw_stop, text, request.stop)
        done = EngineCompletion(
            text, call.n_prompt, len(ids), finish_reason(raw_finish),
            cached_prompt_tokens=cached, ttft_s=ttft, latency_s=time.perf_counter() - call.t0,
            token_ids=tuple(ids), stop_reason=matched,
            token_confidences=tuple(confs) if confs is not None else None,
        )
        return with_replayed_text(done, replayed, call.replayed_stop)

    async def abort(self, request_id: str) -> None:
        """End a request in flight now; its `generate` returns what it has, finish "abort"."""
        if request_id not in self._inflight:
            self._early.add(request_id)
            return
        self._inflight[request_id] = True
        await self._engine.abort(request_id)

    async def reset_prefix_cache(self) -> None:
        """Forget every cached prefix (benchmarks: each side starts from a cold cache)."""
        await self._engine.reset_prefix_cache()

    async def aclose(self) -> None:
        engine, self._engine = getattr(self, "_engine", None), None
        if engine is not None:
            engine.shutdown()
            await asyncio.sleep(0)  # let the cancelled output handler task finish
        stop_watcher(getattr(self, "_reaper", None))


def engine_renderer(engine: Any) -> Any:
    """vLLM's Renderer path for a token prompt, where the installed vLLM has one (0.32: raw
    prompts to `generate` are deprecated, with a warning); None on older releases (the `gpu`
    extra's floor, 0.10), which take the `TokensPrompt` itself. Same token ids either way: the
    renderer only wraps them as the engine input the raw path builds internally."""
    renderer = getattr(engine, "renderer", None)
    try:
        from vllm.renderers.inputs.preprocess import parse_model_prompt
    except ImportError:
        return None
    if renderer is None or not hasattr(renderer, "render_cmpl"):
        return None
    config = engine.model_config

    def render(prompt: Any) -> Any:
        (engine_input,) = renderer.render_cmpl([parse_model_prompt(config, prompt)],
                                               renderer.default_cmpl_tok_params)
        return engine_input

    return render


def _resolve(spec: str | None) -> str:
    from mplm_bench.models.embedded import resolve_model

    try:
        return resolve_model(spec)
    except (ImportError, FileNotFoundError) as e:  # wheel missing, or torch/transformers missing
        raise BackendError(str(e)) from e


def _device_name(platform: Any, on_cpu: bool) -> str | None:
    if on_cpu:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None
    try:
        return str(platform.get_device_name(0))
    except Exception:
        return None


def _start_failure(e: Exception, on_cpu: bool) -> str:
    if "bootstrapping phase" in str(e):
        # we are a spawned engine process re-running an unguarded script (the CPU build always
        # spawns; the CUDA build does once CUDA is initialized)
        return ("vLLM starts its engine processes with `spawn`, which re-runs the main script: guard "
                "the code that builds the backend with `if __name__ == \"__main__\":`")
    memory = ("-M kv_cache_space_gb (or -M max_model_len)" if on_cpu
              else "-M gpu_memory_utilization, -M max_model_len or -M max_num_seqs")
    cause = " ".join(str(e).split())[:300]
    return (f"the vllm engine failed to start: {cause} (the engine's own error is in its log; "
            f"if it ran out of memory, lower {memory})")


@backends.register("vllm", options=VLLMOptions, check_sampling=check_cpu_sampling, engine_logs=True)
def build_vllm(policy: Any, options: dict[str, Any]) -> VLLMBackend:
    """`policy` writes every step's text in replay mode (`-M replay=scripted`); else unused."""
    try:
        opts = VLLMOptions(**options)
    except ValidationError as e:
        raise BackendError(options_error("vllm", VLLMOptions, e)) from None
    return VLLMBackend(opts, policy)
