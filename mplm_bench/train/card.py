"""A trained protocol model's card: README.md for people, card.json for code, and the list of
its training problems (content keys) that `run` checks evaluation instances against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mplm_bench.models.protocol_models import CARD_FILE, PROBLEMS_FILE, task_flags


def problem_keys(export_dir: Path, opts: Any) -> set[str]:
    """Content keys of the problems in the export's train split (validation ones are held out)."""
    import pyarrow.parquet as pq

    from mplm_bench.config import RunConfig
    from mplm_bench.data_key import problem_key
    from mplm_bench.export.options import strategy_for, training_seed
    from mplm_bench.plan import plan

    train_ids = set(pq.read_table(export_dir / "train.parquet", columns=["instance_id"])
                    .column("instance_id").to_pylist())
    cfg = RunConfig(task=opts.task, task_options=opts.task_options, strategy=strategy_for(opts.protocol),
                    backend="scripted", seed=training_seed(opts.seed), n=opts.n, out=export_dir / "x")
    return {problem_key(i.data) for i in plan(cfg).instances if i.id in train_ids}


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_FILE).write_text(json.dumps({k: v for k, v in card.items() if k != "export_card"},
                                               indent=2) + "\n")
    o = card["options"]
    t = task_flags(card["task_options"])
    command = (f"mplm-bench train -t {card['task']} -p {card['protocol']} {t} -n {o['n']} "
               f"--steps {o['steps']} --batch-tokens {o['batch_tokens']} --seed {o['seed']} "
               f"--upsample-master {o['upsample_master']} --hidden {o['hidden']} --layers {o['layers']} "
               f"--lr {o['lr']:g}{_recipe_flags(o)} --out DIR")
    em = card["heldout_exact_match"]
    lines = [
        f"# {folder.name}: a {card['protocol']} protocol model for {card['task']} {t}".rstrip(),
        "",
        "A small Llama-architecture model trained from scratch on mplm-bench's own scripted",
        "reference traces (`export-sft`). It demonstrates that the protocol runs end to end on a",
        "real engine; it is not a general reasoner and knows nothing outside these traces.",
        "",
        "| | |", "|---|---|",
        f"| command | `{command}` |",
        f"| data | `{card['export_command']}` |",
        f"| training problems | {card['training_problems']:,} (seed stream −1−{o['seed']}; listed by content key in `{PROBLEMS_FILE}`) |",
        f"| training rows | {card['training_rows']:,} (master steps ×{o['upsample_master']}) |",
        f"| model | LlamaForCausalLM, hidden {o['hidden']}, {o['layers']} layers, {o['heads']} heads, "
        f"MLP {o['intermediate']}, tied embeddings, {card['parameters'] / 1e6:.2f}M parameters, bf16 weights"
        f"{_position_note(o)} |",
        f"| tokenizer | byte-level BPE, {o['vocab_size']} pieces, built on the training rows (docs/training.md §2) |",
        f"| optimizer | AdamW, lr {o['lr']:g}, {o['warmup']} warmup steps, cosine to 10%, loss on assistant tokens only"
        f"{_phase_note(o)} |",
        f"| steps | {card['steps']:,} × {o['batch_tokens']:,} padded tokens ({card['epochs']:g} epochs) |",
        f"| tokens seen | {card['tokens_seen']:,} ({card['supervised_tokens_seen']:,} supervised) |",
        f"| final loss | {card['final_loss']} (mean over the last 50 steps) |",
        f"| held-out steps exact | {em[0]}/{em[1]} (greedy, validation split) |",
        f"| time | {card['train_seconds'] / 60:.1f} min on {card['torch_threads']} CPU thread(s) |",
        f"| commit | {card['commit']} |",
        "",
        "## Training data card", "",
        card["export_card"].replace("\n# ", "\n### "),
    ]
    (folder / "README.md").write_text("\n".join(lines) + "\n")


def _recipe_flags(o: dict[str, Any]) -> str:
    """The opt-in recipe flags, as the command line spells them (absent when off)."""
    flags = {"position_heads": "--position-heads", "first_calls": "--first-calls"}
    return "".join(f" {flag} {o[k]}" for k, flag in flags.items() if o.get(k))


def _position_note(o: dict[str, Any]) -> str:
    k = o.get("position_heads") or 0
    return f"; {k} layer-0 heads initialised to look 1–{k} tokens back (docs/training.md §2)" if k else ""


def _phase_note(o: dict[str, Any]) -> str:
    k = o.get("first_calls") or 0
    return f"; the first {k:,} steps on threads' first calls only (docs/training.md §2)" if k else ""
