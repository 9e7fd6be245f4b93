"""`mplm-bench train` end to end at a toy size (seconds), and the pieces it is made of: the
format-aware tokenizer, the assistant-only loss mask, the disjoint training seed stream."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import invoke_cli

from mplm_bench.data_key import problem_key
from mplm_bench.export.options import training_seed
from mplm_bench.train.data import chat_texts, encode_rows, padded_len
from mplm_bench.train.tokenizer import EOS, build_tokenizer

pytest.importorskip("torch")
pytest.importorskip("transformers")

CHAT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Your id is: 2.\n{ (0,0): {4}, (0,2): {2} }"},
    {"role": "assistant", "content": "My id is 2 which corresponds to cell (0,1). The cell is empty."},
]


def test_tokenizer_gives_cells_and_map_values_one_token_and_round_trips():
    tok = build_tokenizer([a + b for a, b in [chat_texts(CHAT)] * 50], 400)
    text = "".join(chat_texts(CHAT))
    enc = tok.encode(text, add_special_tokens=False)
    assert tok.decode(enc.ids, skip_special_tokens=False) == text
    # a cell is one token in the map and in the worker's text; a map value with its colon and
    # comma is the next one (a lookup is plain induction: docs/training.md §2)
    assert {"Ġ(0,0)", ":Ġ{4},", "Ġ(0,2)", "Ġ(0,1)"} <= set(enc.tokens)
    msg = tok.encode("<send [0]>{ From 6: None }</send>", add_special_tokens=False)
    assert tok.decode(msg.ids) == "<send [0]>{ From 6: None }</send>"
    assert enc.tokens[-1] == EOS
    odd = "naïve ✓ text never seen \t"  # byte-level: anything encodes, nothing is unknown
    assert tok.decode(tok.encode(odd).ids) == odd


def test_loss_falls_on_the_reply_and_its_end_token_only():
    from mplm_bench.train.loop import _tensors

    tok = build_tokenizer([a + b for a, b in [chat_texts(CHAT)] * 50], 400)
    (row,) = encode_rows(tok, [CHAT], max_len=512)
    prompt, reply = chat_texts(CHAT)
    assert prompt.endswith("<|im_start|>assistant\n") and reply.endswith(EOS)
    assert list(row.ids[: row.n_prompt]) == tok.encode(prompt, add_special_tokens=False).ids
    ids, labels, mask = _tensors([row], pad=0)
    assert ids.shape[1] == padded_len(len(row.ids))
    supervised = [int(t) for t in labels[0] if t != -100]
    assert tok.decode(supervised, skip_special_tokens=False) == reply
    assert int(mask.sum()) == len(row.ids)
    assert not encode_rows(tok, [CHAT], max_len=row.n_prompt)  # too long: dropped, not cut


def test_export_draws_from_its_own_seed_stream(tmp_path: Path):
    assert training_seed(0) == -1 and training_seed(5) == -6
    r = invoke_cli("export-sft", "-t", "sudoku", "-p", "mplm", "-T", "size=4", "-n", "3",
                   "--out", tmp_path / "e", "-q")
    assert r.returncode == 0, r.stderr
    import pyarrow.parquet as pq

    ids = set(pq.read_table(tmp_path / "e" / "train.parquet").column("instance_id").to_pylist())
    assert ids and all("-s-1-" in i for i in ids)
    r = invoke_cli("run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "--seed", "-1", "-n", "1",
                   "--out", tmp_path / "runs")
    assert r.returncode == 2  # evaluation seeds are ≥ 0


def test_train_writes_a_model_folder_vllm_reads_and_its_card(tmp_path: Path):
    out = tmp_path / "m"
    r = invoke_cli("train", "-t", "sudoku", "-p", "mplm", "-T", "size=4", "-n", "20", "--steps", "3",
                   "--batch-tokens", "2048", "--hidden", "64", "--layers", "1", "--first-calls", "2",
                   "--out", out)
    assert r.returncode == 0, r.stderr
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "README.md", "card.json", "training_problems.txt"):
        assert (out / f).is_file(), f
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["vocab_size"] % 64 == 0
    card = json.loads((out / "card.json").read_text())
    assert card["steps"] == 3 and card["tokens_seen"] > 0 and card["final_loss"] > 0
    assert card["task_options"] == {"size": 4} and card["protocol"] == "mplm"
    assert "--first-calls 2 --out DIR" in (out / "README.md").read_text()  # the card's command
    # the listed problems are the export's train split, keyed by content
    keys = set((out / "training_problems.txt").read_text().split())
    assert 0 < len(keys) == card["training_problems"] <= 20


def test_a_first_calls_phase_draws_first_calls_only_then_all():
    from mplm_bench.train.data import Row
    from mplm_bench.train.loop import Schedule, phases

    rows = [Row(np.array([1, 2]), 1, first_call=i % 3 == 0) for i in range(9)]
    (first, until), (rest, end) = phases(rows, Schedule(steps=10, first_calls=4))
    assert until == 4 and end == 10 and rest == rows
    assert first and all(r.first_call for r in first) and len(first) == 3
    assert phases(rows, Schedule(steps=10)) == [(rows, 10)]
    assert phases(rows, Schedule(steps=3, first_calls=5))[0][1] == 3  # never past the last step


def test_training_problems_are_keyed_like_run_instances():
    from mplm_bench.tasks.sudoku.task import SudokuOptions, SudokuTask

    task = SudokuTask(SudokuOptions(size=4))
    a, b = task.instance_at(0, training_seed(0)), task.instance_at(0, 0)
    assert problem_key(a.data) == problem_key(task.instance_at(0, -1).data)
    assert problem_key(a.data) != problem_key(b.data)


def test_position_heads_look_their_offset_back_from_the_first_step():
    import torch
    from transformers import LlamaForCausalLM

    from mplm_bench.train.loop import ModelShape
    from mplm_bench.train.position_heads import attention_to_offset, seed_position_heads

    torch.manual_seed(0)
    config = ModelShape(hidden=64, layers=2, heads=2, intermediate=128, max_len=512).config(128, 1, 1, 0)
    config._attn_implementation = "eager"  # attention weights are returned by the eager path only
    model = LlamaForCausalLM(config)
    seed_position_heads(model, (1, 2))
    ids = torch.randint(3, 128, (1, 512))
    assert attention_to_offset(model, ids, head=0, delta=1) > 0.99
    assert attention_to_offset(model, ids, head=1, delta=2) > 0.99
