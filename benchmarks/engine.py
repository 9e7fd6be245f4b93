"""Harness efficiency on a real engine, measured side by side in one run (issue 3).

1. N concurrent MPLM Sudoku samples run through the harness on the vllm backend in replay mode
   (`-M replay=scripted`: the reference policy writes each step, the engine generates exactly as
   many tokens on the real prompt), so threads really spawn, message and resume.
2. The same requests (every recorded prompt with its token count) go to the same engine as one
   plain batch with no dependencies between them: the throughput ceiling for that token volume.
   Both sides start from an empty prefix cache (else the plain batch would find every prompt the
   harness just computed, and measure the cache instead of the harness).

Prints generated tokens/s of both and their ratio (target >= 0.9: the harness keeps the engine
as busy as a plain batch would, apart from the protocol's own dependencies), and the prefix-cache
hit ratio of resumed threads (target >= 0.8) next to the most any prefix cache can hit under the
protocol's rendering. On the CPU build, run it as a script (the engine spawns processes and
needs the __main__ guard).

    python benchmarks/engine.py [--n 8] [--size 4] [--no-plain]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from mplm_bench.api import arun
from mplm_bench.config import RunConfig
from mplm_bench.plan import build_backend, plan
from mplm_bench.runtime.backend import Request, Sampling
from mplm_bench.runtime.protocol import SYSTEM_PROMPT


async def measure(n: int, size: int, out: Path, with_plain: bool = True) -> dict:
    cfg = RunConfig(task="sudoku", strategy="mplm", task_options={"size": size}, n=n, backend="vllm",
                    backend_options={"replay": "scripted"}, out=out, log_prompts=True, concurrency=n)
    p = plan(cfg)
    backend = build_backend(p)
    try:
        # warm the engine once so neither side pays first-request costs
        warm = p.task.prompt(p.instances[0], "mplm")
        await backend.generate(Request("warm", "0", (warm,), SYSTEM_PROMPT, Sampling(max_tokens=4)))
        await backend.reset_prefix_cache()
        t = time.perf_counter()
        run = await arun(p, backend=backend)  # the Python API, on this (kept) backend
        harness_s = time.perf_counter() - t
        calls = run.calls()
        samples = run.samples()
        # the same token volume as one dependency-free batch; fresh ids, the policy rewrites the
        # same text so each request asks for the same number of tokens
        reqs = [Request(f"plain/{i}", r.thread_id, (r.prompt,), SYSTEM_PROMPT, Sampling())
                for i, r in enumerate(calls.itertuples())] if with_plain else []
        # the harness left its prompts in the prefix cache: the plain batch starts cold too, and
        # can share prefixes only among its own requests, as the harness could
        await backend.reset_prefix_cache()
        t = time.perf_counter()
        plain = await asyncio.gather(*(backend.generate(r) for r in reqs))
        plain_s = time.perf_counter() - t if with_plain else float("nan")
    finally:
        await backend.aclose()
    resumed = calls[calls["step"] > 0]
    gen = int(calls["completion_tokens"].sum())
    # What a prefix cache can hold for a resumed step under this rendering: the thread's previous
    # prompt up to the end of its user text, in whole KV blocks. The previous response and the chat
    # suffix (`<|im_end|>` + generation prompt) sit in the cache after that suffix, which the new
    # prompt does not have at that position, so they are never a prefix (docs/protocols.md §1).
    from mplm_bench.models.tokenizer import load_token_counter

    counter = load_token_counter(None)
    suffix = counter.count(counter.chat_suffix())
    block = int(p.store.read_manifest()["backend"]["engine"].get("block_size") or 16)
    by_thread = calls.sort_values(["instance_id", "thread_id", "step"])
    previous = by_thread.groupby(["instance_id", "thread_id"])["prompt_tokens"].shift()
    ideal = ((previous[resumed.index] - suffix) // block * block).clip(lower=0).sum()
    return {
        "samples": len(samples), "ok": int((samples["status"] == "ok").sum()), "calls": len(calls),
        "gen_tokens": gen, "harness_s": harness_s, "plain_s": plain_s,
        "plain_tokens": sum(c.completion_tokens for c in plain),
        "cache_hit_resumed": resumed["cached_prompt_tokens"].sum() / max(1, resumed["prompt_tokens"].sum()),
        "cache_hit_all": calls["cached_prompt_tokens"].sum() / max(1, calls["prompt_tokens"].sum()),
        "cache_hit_ideal": ideal / max(1, resumed["prompt_tokens"].sum()), "block": block,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="concurrent MPLM samples")
    ap.add_argument("--size", type=int, default=4, help="Sudoku size N")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain batch (cache figures only)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        r = asyncio.run(measure(args.n, args.size, Path(out), not args.no_plain))
    h_tps = r["gen_tokens"] / r["harness_s"]
    p_tps = r["plain_tokens"] / r["plain_s"] if not args.no_plain else float("nan")
    print(f"MPLM Sudoku {args.size}x{args.size}, {r['samples']} concurrent samples ({r['ok']} ok), "
          f"{r['calls']} calls, {r['gen_tokens']} generated tokens")
    print(f"{'':24}{'seconds':>9}{'gen tok/s':>11}")
    print(f"{'harness (replay)':24}{r['harness_s']:>9.1f}{h_tps:>11.1f}")
    if not args.no_plain:
        print(f"{'plain batched generate':24}{r['plain_s']:>9.1f}{p_tps:>11.1f}")
        print(f"throughput ratio harness/plain: {h_tps / p_tps:.2f}  (target >= 0.9)")
    print(f"prefix-cache hit ratio, resumed threads: {r['cache_hit_resumed']:.2f}  (target >= 0.8); "
          f"all calls: {r['cache_hit_all']:.2f}")
    print(f"  the most a prefix cache can hit on resumed threads under this rendering "
          f"({r['block']}-token blocks): {r['cache_hit_ideal']:.2f}; measured / that: "
          f"{r['cache_hit_resumed'] / max(r['cache_hit_ideal'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
