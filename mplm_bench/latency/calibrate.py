"""`mplm-bench calibrate`: measure an engine's costs with the harness's own clock, fit, save YAML.

Every request goes through the backend's replay mode (`replay=scripted`, the same code path a
replayed protocol uses): the text of each response is fixed here, and the engine is asked for
exactly that many tokens with EOS ignored. Three things are measured:

- prefill: one request at a time, prompts of several lengths, one output token; every prompt
  starts with its own nonce, so nothing but the shared chat-template head can come from the
  prefix cache (the fit uses the uncached count the engine reports);
- decode: b requests at once (b = 1, 2, 4, ...), each generating a fixed number of tokens; a
  request's time per decode iteration is (latency - time to first token) / (tokens - 1), and the
  batch's is the median over its requests;
- per-request overhead: the prefill line's intercept (what a request costs besides its tokens).

Latency and time to first token are what the backend measures around each call (perf_counter),
never an engine's own metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mplm_bench.config import ConfigError
from mplm_bench.latency.profile import (
    DecodePoint,
    LatencyProfile,
    MeasuredOn,
    Measurements,
    PrefillPoint,
    fit,
    save,
)
from mplm_bench.runtime.backend import Backend, BackendError, Completion, Request, Sampling
from mplm_bench.runtime.protocol import SYSTEM_PROMPT

# common words that are one token each in the usual BPE vocabularies: a prompt of n words is
# about n tokens (the engine's own count is what gets recorded)
_WORDS = ("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "on", "with", "he",
          "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they")


@dataclass(frozen=True, slots=True)
class CalibrationPlan:
    prompt_lengths: tuple[int, ...] = (32, 128, 512, 1024, 2048)
    batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    decode_tokens: int = 32
    repeats: int = 3  # rounds: every length and batch is measured this many times


QUICK = CalibrationPlan(prompt_lengths=(64, 512), batches=(1, 4), decode_tokens=16, repeats=1)


def _ints(text: str | None, flag: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated whole numbers") from None
    if not values or min(values) < 1:
        raise ConfigError(f"{flag} {text!r}: expected numbers of at least 1")
    return values


def calibration_plan(quick: bool = False, prompt_lengths: str | None = None, batches: str | None = None,
                     decode_tokens: int | None = None, repeats: int | None = None) -> CalibrationPlan:
    """The default (or --quick) plan with the command line's overrides; bad values: ConfigError."""
    base = QUICK if quick else CalibrationPlan()
    lengths, sizes = _ints(prompt_lengths, "--prompt-lengths"), _ints(batches, "--batches")
    if decode_tokens is not None and decode_tokens < 2:
        raise ConfigError("--decode-tokens must be at least 2 (one iteration after the first token)")
    if repeats is not None and repeats < 1:
        raise ConfigError("--repeats must be at least 1")
    if lengths is not None and len(set(lengths)) * (repeats or base.repeats) < 2:
        raise ConfigError("--prompt-lengths: the prefill fit needs at least two points")
    return CalibrationPlan(lengths or base.prompt_lengths, sizes or base.batches,
                           decode_tokens or base.decode_tokens, repeats or base.repeats)


class ScriptedReplies:
    """The replay policy: the prompt's fixed reply (the backend asks for as many tokens).

    Prompts it did not make go to `fallback`, e.g. a task's reference policy, so one engine can
    be calibrated and then replay a protocol (benchmarks/replay.py)."""

    def __init__(self, fallback: Callable[[str], str] | None = None) -> None:
        self.replies: dict[str, str] = {}
        self.fallback = fallback

    def __call__(self, prompt: str) -> str:
        reply = self.replies.get(prompt)
        if reply is not None:
            return reply
        if self.fallback is None:
            raise KeyError("calibration replay: a prompt it did not make")
        return self.fallback(prompt)

    def prompt(self, nonce: str, words: int, reply_tokens: int) -> str:
        """A fresh prompt of about `words` tokens whose reply is `reply_tokens` long. It opens with
        a digest of the nonce, so two prompts part right after the chat template's head (a
        readable nonce such as `run-12` would share its first characters, and so KV blocks)."""
        body = " ".join(_WORDS[(i * 7 + len(nonce)) % len(_WORDS)] for i in range(max(0, words)))
        text = f"{hashlib.sha256(nonce.encode()).hexdigest()[:16]} {body}"
        self.replies[text] = " the" * reply_tokens if reply_tokens > 1 else "the"
        return text


def _request(rid: str, text: str, max_tokens: int) -> Request:
    return Request(rid, "0", (text,), SYSTEM_PROMPT, Sampling(max_tokens=max_tokens, temperature=0.0))


def _checked(c: Completion, what: str) -> Completion:
    if c.error or c.finish_reason not in ("stop", "length") or c.latency_s is None:
        raise BackendError(f"calibration {what}: the engine answered {c.finish_reason} ({c.error or 'no timing'})")
    return c


async def _prefill(backend: Backend, replies: ScriptedReplies, nonce: str, n: int) -> PrefillPoint:
    c = _checked(await backend.generate(_request(f"cal/{nonce}", replies.prompt(nonce, n, 1), 1)),
                 f"prefill of {n} tokens")
    return PrefillPoint(prompt_tokens=c.prompt_tokens, uncached_tokens=c.prompt_tokens - c.cached_prompt_tokens,
                        latency_s=float(c.latency_s or 0))


async def _decode(backend: Backend, replies: ScriptedReplies, nonce: str, b: int, t: int) -> DecodePoint:
    texts = [replies.prompt(f"{nonce}.{i}", 16, t) for i in range(b)]
    comps = await asyncio.gather(*(backend.generate(_request(f"cal/{nonce}.{i}", x, t)) for i, x in enumerate(texts)))
    per_iter = []
    for c in comps:
        _checked(c, f"decode at batch {b}")
        if c.completion_tokens >= 2 and c.ttft_s is not None:
            per_iter.append((float(c.latency_s or 0) - c.ttft_s) / (c.completion_tokens - 1))
    if not per_iter:
        raise BackendError(f"calibration: decode at batch {b} generated fewer than 2 tokens per request")
    return DecodePoint(batch=b, tokens=min(c.completion_tokens for c in comps), iteration_s=statistics.median(per_iter))


async def measure(backend: Backend, replies: ScriptedReplies, plan: CalibrationPlan,
                  max_model_len: int | None = None, say: Callable[[str], None] = print) -> Measurements:
    """Every point of the plan, `repeats` times over, in interleaved rounds: on a shared machine
    the load drifts, and a round-robin spreads a busy minute over all points instead of one."""
    run = f"{os.getpid()}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    for i in range(2):  # warm up: the first requests pay one-off costs
        await backend.generate(_request(f"cal/w{i}", replies.prompt(f"{run}w{i}", 64, 8), 8))
    lengths = [n for n in plan.prompt_lengths if max_model_len is None or n + 64 <= max_model_len]
    if len(lengths) < len(plan.prompt_lengths):
        say(f"  prefill: lengths over max_model_len={max_model_len} skipped")
    prefill: list[PrefillPoint] = []
    decode: list[DecodePoint] = []
    for r in range(plan.repeats):
        for n in lengths:
            prefill.append(await _prefill(backend, replies, f"{run}p{n}.{r}", n))
        for b in plan.batches:
            decode.append(await _decode(backend, replies, f"{run}d{b}.{r}", b, plan.decode_tokens))
        say(f"  round {r + 1}/{plan.repeats}: prefill " + ", ".join(
            f"{p.uncached_tokens} tok {p.latency_s:.2f} s" for p in prefill[-len(lengths):]) + "; decode " + ", ".join(
            f"b{d.batch} {d.iteration_s * 1000:.0f} ms" for d in decode[-len(plan.batches):]))
    if len({p.uncached_tokens for p in prefill}) < 2:
        raise ConfigError("calibration needs prefill points of two lengths at least: add shorter --prompt-lengths")
    return Measurements(prefill=prefill, decode=decode)


def measured_on(backend: Backend) -> MeasuredOn:
    """Hardware and versions from the backend's description and, for vllm, its live config."""
    d = backend.describe()
    engine = d.get("engine") or {}
    cfg = getattr(getattr(backend, "_engine", None), "vllm_config", None)  # effective values
    sched, cache = getattr(cfg, "scheduler_config", None), getattr(cfg, "cache_config", None)
    extra = {k: d[k] for k in ("model_path", "max_model_len", "vllm_distribution", "base_url", "tokenizer") if d.get(k)}
    extra |= {k: engine[k] for k in ("enforce_eager", "tensor_parallel_size", "data_parallel_size",
                                     "kv_cache_space_gb", "enable_prefix_caching") if k in engine}
    if sched is not None and getattr(sched, "max_num_batched_tokens", None):
        extra["max_num_batched_tokens"] = int(sched.max_num_batched_tokens)
    from mplm_bench.results.manifest import package_versions

    return MeasuredOn(
        backend=str(d.get("backend", backend.name)),
        model=d.get("model"),
        device=d.get("device"),
        device_name=d.get("device_name"),
        dtype=str(getattr(getattr(cfg, "model_config", None), "dtype", "") or engine.get("dtype") or "").removeprefix("torch.") or None,
        block_size=getattr(cache, "block_size", None) or engine.get("block_size"),
        max_num_seqs=getattr(sched, "max_num_seqs", None) or engine.get("max_num_seqs"),
        vllm=d.get("vllm"),
        torch=d.get("torch"),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        host_cpus=os.cpu_count(),
        mplm_bench=package_versions().get("mplm-bench"),
        **extra,
    )


async def calibrate(backend: Backend, replies: ScriptedReplies, plan: CalibrationPlan,
                    say: Callable[[str], None] = print) -> LatencyProfile:
    """Measure `backend` (built in replay mode around `replies`) and fit its profile."""
    m = await measure(backend, replies, plan, getattr(backend, "max_model_len", None), say)
    return LatencyProfile(measured_on=measured_on(backend), fit=fit(m), measurements=m)


def run_calibration(backend_name: str, options: dict[str, Any], out: Path, plan: CalibrationPlan,
                    say: Callable[[str], None] = print) -> LatencyProfile:
    """The body of `mplm-bench calibrate`: build the backend, measure, write `out`."""
    from mplm_bench import registry

    if backend_name not in ("vllm", "openai"):
        raise ConfigError(f"calibrate measures a real engine: --backend vllm or openai, not {backend_name!r}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist")
    if "replay" in options:
        raise ConfigError("calibrate sets -M replay itself")
    replies = ScriptedReplies()
    factory = registry.backends.get(backend_name)

    async def go() -> LatencyProfile:
        try:
            backend = factory(replies, {**options, "replay": "scripted"})
        except BackendError as e:
            raise ConfigError(str(e)) from None
        try:
            return await calibrate(backend, replies, plan, say)
        finally:
            await backend.aclose()

    profile = asyncio.run(go())
    save(profile, out)
    return profile
