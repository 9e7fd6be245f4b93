"""`mplm-bench train`: export reference traces, build a tokenizer, train a small Llama from
scratch, save a folder vLLM loads as is, and write its model card (docs/training.md)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mplm_bench.train.loop import ModelShape, Schedule, train


class TrainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    protocol: str  # an export-sft protocol: serial, fj, mplm, ...
    task_options: dict[str, Any] = Field(default_factory=dict)
    n: int = Field(ge=1)  # training-stream instances exported (export-sft -n)
    seed: int = Field(0, ge=0)
    upsample_master: int = Field(4, ge=1)
    val_fraction: float = 0.02
    vocab_size: int = Field(1024, ge=300)
    hidden: int = 256
    layers: int = 4
    heads: int = 8
    intermediate: int = 768
    max_len: int = 2048
    steps: int = Field(ge=1)
    batch_tokens: int = 8192
    lr: float = 2e-3
    warmup: int = 100
    position_heads: int = Field(0, ge=0)  # layer-0 heads seeded to look 1..k tokens back
    first_calls: int = Field(0, ge=0)  # the first steps train on threads' first calls only
    adaptive_rows: Literal["trace", "calls"] = "calls"  # the adaptive dialects' rows (export-sft)
    split_digits: bool | None = None  # one token per digit; None: for the arithmetic tasks (DIGIT_TASKS)
    threads: int | None = None  # torch CPU threads (None: torch's default)
    eval_rows: int = 100  # held-out steps decoded greedily for the card's exact-match figure
    out: Path


def train_model(opts: TrainOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write opts.out (weights, config, tokenizer, README.md, card.json, training_problems.txt)."""
    import torch
    from transformers import LlamaForCausalLM

    from mplm_bench.models.protocol_models import PROBLEMS_FILE
    from mplm_bench.results.manifest import git_state
    from mplm_bench.tasks.boxed.profiles import SPECIAL_TAGS
    from mplm_bench.train.card import problem_keys, write_card
    from mplm_bench.train.data import chat_texts, encode_rows, read_chats, read_first_calls
    from mplm_bench.train.tokenizer import (
        DIGIT_TASKS,
        EOS,
        PAD,
        build_tokenizer,
        save_tokenizer,
        special_id,
    )

    if opts.threads:
        torch.set_num_threads(opts.threads)
    git = git_state()  # the code as it was when training began, as run manifests record it
    started, commit = time.monotonic(), git["sha"] and git["sha"] + ("+dirty" if git["dirty"] else "")
    with tempfile.TemporaryDirectory(prefix="mplm-train-") as tmp:
        data_dir = Path(tmp) / "data"
        export_command = _export(opts, data_dir)
        log(f"exported {data_dir} ({time.monotonic() - started:.0f} s)")
        train_chats, val_chats = read_chats(data_dir, "train"), read_chats(data_dir, "validation")
        first_calls = read_first_calls(data_dir, "train")
        export_card = (data_dir / "README.md").read_text()
        keys = problem_keys(data_dir, opts)
    tags = SPECIAL_TAGS.get(opts.protocol, ())  # a dialect's tags: added special tokens, as upstream
    if opts.split_digits is None:
        opts = opts.model_copy(update={"split_digits": opts.task in DIGIT_TASKS})
    tok = build_tokenizer((a + b for a, b in map(chat_texts, train_chats)), opts.vocab_size, tags,
                          bool(opts.split_digits))
    rows = encode_rows(tok, train_chats, opts.max_len, first_calls)
    dropped = len(train_chats) - len(rows)
    log(f"{len(rows):,} training rows ({dropped} longer than {opts.max_len} dropped), "
        f"vocabulary {tok.get_vocab_size()}")
    shape = ModelShape(opts.hidden, opts.layers, opts.heads, opts.intermediate, opts.max_len)
    ids = {t: special_id(tok, t) for t in (EOS, PAD)}
    torch.manual_seed(opts.seed)
    config = shape.config(tok.get_vocab_size(), bos=ids[EOS], eos=ids[EOS], pad=ids[PAD])
    model = LlamaForCausalLM(config)
    if opts.position_heads:
        from mplm_bench.train.position_heads import seed_position_heads

        seed_position_heads(model, tuple(range(1, opts.position_heads + 1)))
    params = sum(p.numel() for p in model.parameters())
    log(f"LlamaForCausalLM {params / 1e6:.2f}M parameters; {opts.steps} steps of {opts.batch_tokens} tokens")
    sched = Schedule(opts.steps, opts.batch_tokens, opts.lr, opts.warmup, seed=opts.seed,
                     first_calls=opts.first_calls)
    prog = train(model, rows, ids[PAD], sched, log)
    heldout = exact_match(model, tok, val_chats[: opts.eval_rows], ids[EOS])
    log(f"held-out steps reproduced exactly: {heldout[0]}/{heldout[1]}")
    opts.out.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(opts.out, safe_serialization=True)
    save_tokenizer(tok, opts.out, opts.max_len, tags)
    (opts.out / PROBLEMS_FILE).write_text("".join(k + "\n" for k in sorted(keys)))
    card = {
        "task": opts.task, "protocol": opts.protocol, "task_options": opts.task_options,
        "options": opts.model_dump(mode="json", exclude={"out"}),
        "export_command": export_command, "training_rows": len(rows),
        "training_problems": len(keys), "parameters": params,
        "tokens_seen": prog.tokens, "supervised_tokens_seen": prog.supervised,
        "epochs": prog.epochs, "steps": prog.step, "train_seconds": prog.seconds,
        "final_loss": prog.losses[-1][1] if prog.losses else None, "losses": prog.losses,
        "heldout_exact_match": list(heldout), "torch_threads": torch.get_num_threads(),
        "commit": commit, "export_card": export_card,
    }
    write_card(opts.out, card)
    return card


def exact_match(model: Any, tok: Any, chats: list[list[dict[str, str]]], eos: int) -> tuple[int, int]:
    """How many held-out steps greedy decoding reproduces character for character."""
    import torch

    from mplm_bench.train.data import chat_texts
    from mplm_bench.train.loop import cpu_autocast

    model.eval()
    hits = 0
    with torch.no_grad(), cpu_autocast():
        for chat in chats:
            prompt, reply = chat_texts(chat)
            ids = torch.tensor([tok.encode(prompt, add_special_tokens=False).ids])
            budget = len(tok.encode(reply, add_special_tokens=False).ids) + 8
            out = model.generate(ids, max_new_tokens=budget, do_sample=False, eos_token_id=eos,
                                 pad_token_id=eos)
            text = tok.decode(out[0, ids.shape[1]:].tolist(), skip_special_tokens=False)
            hits += text == reply
    return hits, len(chats)


def _export(opts: TrainOptions, out: Path) -> str:
    from mplm_bench.export.options import ExportOptions
    from mplm_bench.export.sft import export_sft
    from mplm_bench.models.protocol_models import task_flags
    from mplm_bench.tasks.boxed.profiles import SPECIAL_TAGS as ADAPTIVE

    export_sft(ExportOptions(task=opts.task, protocols=[opts.protocol], task_options=opts.task_options,
                             n=opts.n, seed=opts.seed, out=out, upsample_master=opts.upsample_master,
                             val_fraction=opts.val_fraction, adaptive_rows=opts.adaptive_rows))
    t = task_flags(opts.task_options)
    return (f"mplm-bench export-sft -t {opts.task} -p {opts.protocol} {t} -n {opts.n} --seed {opts.seed} "
            f"--upsample-master {opts.upsample_master} --val-fraction {opts.val_fraction:g}"
            + (f" --adaptive-rows {opts.adaptive_rows}" if opts.protocol in ADAPTIVE else "") + " --out DIR")
