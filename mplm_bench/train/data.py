"""Training rows from an export-sft folder: each chat rendered with the model's ChatML template,
tokenized, and masked so loss falls on the assistant's reply and its end token only
(docs/training.md §3)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mplm_bench.models.chat_template import CHATML_TEMPLATE, ChatTemplate
from mplm_bench.train.tokenizer import EOS

if TYPE_CHECKING:
    import numpy as np

_TEMPLATE = ChatTemplate(CHATML_TEMPLATE)  # the shipped models' template (train/tokenizer.py)
BUCKET = 32  # sequence lengths are padded to a multiple of this: few shapes, steady CPU kernels


@dataclass(slots=True, eq=False)  # rows are compared by identity; ids is an array
class Row:
    ids: np.ndarray  # int32: a Python list of ints costs ~9x the memory (OOM on SAT exports)
    n_prompt: int  # the first n_prompt ids are context: no loss there
    first_call: bool = True  # a thread's first call: the rows a first-calls phase trains on


def read_chats(folder: Path, split: str = "train") -> list[list[dict[str, Any]]]:
    """The `messages` column of an export-sft split (Parquet, the export's own format). An adaptive
    dialect's call row (`--adaptive-rows calls`) carries its `assistant_prefix` and `ends_turn` on
    the reply (chat_texts)."""
    import pyarrow.parquet as pq

    names = pq.read_schema(folder / f"{split}.parquet").names
    extra = [c for c in ("assistant_prefix", "ends_turn") if c in names]
    table = pq.read_table(folder / f"{split}.parquet", columns=["messages", *extra]).to_pydict()
    chats = [list(m) for m in table["messages"]]
    if "assistant_prefix" in table:
        for chat, prefix, ends in zip(chats, table["assistant_prefix"], table["ends_turn"], strict=True):
            if prefix or ends is False:
                chat[-1] = {**chat[-1], "prefix": prefix or "", "ends_turn": ends is not False}
    return chats


def read_first_calls(folder: Path, split: str = "train") -> list[bool]:
    """Row for row with read_chats: whether the row is a thread's first call (its `step` is 0)."""
    import pyarrow.parquet as pq

    return [s == 0 for s in pq.read_table(folder / f"{split}.parquet", columns=["step"]).column("step").to_pylist()]


def chat_texts(chat: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(prompt, completion): the prompt exactly as `run` renders it (generation prompt included,
    then a continuation's assistant text so far), the completion the reference reply plus the end
    token the engine stops on (none when it stops on a tag the controller acts on)."""
    *context, reply = chat
    if reply["role"] != "assistant":
        raise ValueError("an export row must end with the assistant's reply")
    # no system message (content None: an upstream profile without one) renders no system turn,
    # as the engine's renderer does
    context = [m for m in context if m["content"] is not None]
    prompt = _TEMPLATE.render(context, add_generation_prompt=True) + reply.get("prefix", "")
    return prompt, reply["content"] + (EOS if reply.get("ends_turn", True) else "")


def encode_rows(tok: Any, chats: Sequence[Sequence[dict[str, str]]], max_len: int,
                first_calls: Sequence[bool] | None = None, chunk: int = 2048) -> list[Row]:
    """Prompt and completion tokenized apart, so the split is exactly where generation starts
    (the engine tokenizes the rendered prompt alone). Rows longer than max_len are dropped.
    Encoded a chunk at a time: a tokenizer's Encoding objects hold offsets and token strings too,
    which for a whole export ran to over 12 GB."""
    import numpy as np

    first_calls = first_calls or [True] * len(chats)
    rows: list[Row] = []
    for start in range(0, len(chats), chunk):
        pairs = [chat_texts(c) for c in chats[start : start + chunk]]
        prompts = tok.encode_batch([p for p, _ in pairs], add_special_tokens=False)
        replies = tok.encode_batch([r for _, r in pairs], add_special_tokens=False)
        for p, r, first in zip(prompts, replies, first_calls[start : start + chunk], strict=True):
            if len(p.ids) + len(r.ids) <= max_len:
                rows.append(Row(np.asarray(p.ids + r.ids, dtype=np.int32), len(p.ids), first))
    return rows


def batches(rows: Sequence[Row], batch_tokens: int, seed: int, epoch: int) -> Iterator[list[Row]]:
    """Length-bucketed batches of about `batch_tokens` padded tokens, in a seeded order."""
    rng = random.Random(f"mplm-bench/train/{seed}/{epoch}")
    by_len: dict[int, list[Row]] = {}
    for r in rows:
        by_len.setdefault(padded_len(len(r.ids)), []).append(r)
    out: list[list[Row]] = []
    for length, group in sorted(by_len.items()):
        rng.shuffle(group)
        per = max(1, batch_tokens // length)
        out += [group[i : i + per] for i in range(0, len(group), per)]
    rng.shuffle(out)
    yield from out


def padded_len(n: int) -> int:
    return -(-n // BUCKET) * BUCKET
