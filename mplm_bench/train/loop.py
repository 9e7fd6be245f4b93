"""The training loop: a Llama-architecture model from scratch, AdamW, warmup then cosine decay,
bf16 autocast where the CPU has bf16 kernels, seeded end to end (docs/training.md §4)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mplm_bench.train.data import Row, batches, padded_len


@dataclass(frozen=True, slots=True)
class ModelShape:
    hidden: int = 256
    layers: int = 4
    heads: int = 8
    intermediate: int = 768
    max_len: int = 1024  # max_position_embeddings: the longest chat the model is trained for

    def config(self, vocab_size: int, bos: int, eos: int, pad: int) -> Any:
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=-(-vocab_size // 64) * 64,  # padded: aligned matmuls; unused rows never sampled
            hidden_size=self.hidden, intermediate_size=self.intermediate,
            num_hidden_layers=self.layers, num_attention_heads=self.heads,
            num_key_value_heads=self.heads, max_position_embeddings=self.max_len,
            rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
            bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, torch_dtype="bfloat16",
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    steps: int
    batch_tokens: int = 8192  # padded tokens per optimizer step
    lr: float = 2e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.05
    seed: int = 0
    # The first `first_calls` steps draw each thread's first call only: the master's spawn copies
    # the problem into its workers' prompts and each worker looks its cell up in it. Those are
    # induction skills; spawn rows alone learnt the copy in 300 steps, while the ~9% of a mixed
    # batch they are had not taught it in 1,300 (docs/training.md §2).
    first_calls: int = 0

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass(slots=True)
class Progress:
    step: int = 0
    tokens: int = 0  # real (unpadded) tokens the model read
    supervised: int = 0  # tokens the loss was taken on
    epochs: float = 0.0
    seconds: float = 0.0
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss since last)


def cpu_autocast() -> Any:
    """bf16 autocast where the CPU has native bf16 (the rule the vllm backend picks its CPU dtype
    by); fp32 elsewhere. On an AVX2-only CPU emulated bf16 ran a training step over 15× slower."""
    import torch

    from mplm_bench.backends.vllm_cpu import cpu_dtype

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_dtype() == "bfloat16")


def train(model: Any, rows: Sequence[Row], pad: int, sched: Schedule,
          log: Callable[[str], None] = print, log_every: int = 50) -> Progress:
    """Run `sched.steps` optimizer steps over `rows` (epochs repeat in a new seeded order)."""
    import torch

    torch.manual_seed(sched.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": sched.weight_decay},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=sched.lr, betas=(0.9, 0.95), eps=1e-8)
    model.train()
    prog, t0, window = Progress(), time.monotonic(), []
    seen_rows = 0
    for batch in phase_batches(rows, sched):
        ids, labels, mask = _tensors(batch, pad)
        for g in opt.param_groups:
            g["lr"] = sched.lr_at(prog.step)
        with cpu_autocast():
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        prog.step += 1
        seen_rows += len(batch)
        prog.tokens += int(mask.sum())
        prog.supervised += int((labels != -100).sum())
        window.append(out.loss.item())
        if prog.step % log_every == 0 or prog.step == sched.steps:
            mean = sum(window) / len(window)
            prog.losses.append((prog.step, round(mean, 5)))
            window = []
            el = time.monotonic() - t0
            log(f"step {prog.step}/{sched.steps}  loss {mean:.4f}  lr {sched.lr_at(prog.step):.2e}  "
                f"{prog.tokens / el:,.0f} tok/s  {el / 60:.1f} min")
    prog.epochs = round(seen_rows / max(1, len(rows)), 3)
    prog.seconds = round(time.monotonic() - t0, 1)
    return prog


def phases(rows: Sequence[Row], sched: Schedule) -> list[tuple[Sequence[Row], int]]:
    """(rows to draw from, the step the phase ends before): first calls first if asked, then all."""
    firsts = [r for r in rows if r.first_call]
    until = min(sched.first_calls, sched.steps)
    return ([(firsts, until)] if until and firsts else []) + [(rows, sched.steps)]


def phase_batches(rows: Sequence[Row], sched: Schedule) -> Iterator[list[Row]]:
    """One batch per optimizer step, sched.steps in all: each phase's rows, epoch after epoch."""
    step = 0
    for pool, until in phases(rows, sched):
        epoch = 0
        while step < until:
            for batch in batches(pool, sched.batch_tokens, sched.seed, epoch):
                if step >= until:
                    break
                yield batch
                step += 1
            epoch += 1


def _tensors(batch: Sequence[Row], pad: int) -> tuple[Any, Any, Any]:
    import torch

    length = padded_len(max(len(r.ids) for r in batch))
    ids = torch.full((len(batch), length), pad, dtype=torch.long)
    labels = torch.full((len(batch), length), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.long)
    for i, r in enumerate(batch):
        n = len(r.ids)
        ids[i, :n] = torch.from_numpy(r.ids)
        labels[i, r.n_prompt : n] = ids[i, r.n_prompt : n]  # the model shifts labels itself
        mask[i, :n] = 1
    return ids, labels, mask
