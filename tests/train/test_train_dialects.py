"""Training data for the adaptive dialects' models (docs/training.md §8): rows in the context the
engine gives each call (the trie), the upstream prompt profile, no system turn where the profile
has none, and one token per digit on the arithmetic tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mplm_bench.export.options import ExportOptions
from mplm_bench.export.sft import export_sft
from mplm_bench.export.steps import TraceSource
from mplm_bench.tasks.boxed.profiles import UPSTREAM
from mplm_bench.train.data import chat_texts, read_chats
from mplm_bench.train.tokenizer import build_tokenizer


def export(tmp_path: Path, protocol: str, rows: str) -> list[list[dict]]:
    out = tmp_path / f"{protocol}-{rows}"
    export_sft(ExportOptions(task="multiply", protocols=[protocol], task_options={"digits": 2}, n=6,
                             out=out, val_fraction=0.0, adaptive_rows=rows))
    return read_chats(out)


@pytest.mark.parametrize("protocol", ["threadweaver", "parallel-r1", "multiverse"])
def test_a_dialects_rows_open_with_its_upstream_prompt(tmp_path, protocol):
    chats = export(tmp_path, protocol, "trace")
    profile = UPSTREAM[protocol]
    for chat in chats:
        system, user = chat[0]["content"], chat[1]["content"]
        assert system == profile.system and user.startswith(profile.user.split("{problem}")[0])
        prompt, _ = chat_texts(chat)
        assert ("<|im_start|>system" in prompt) == (profile.system is not None)


def test_call_rows_are_the_engines_contexts_and_end_as_the_controller_stops(tmp_path):
    """Thread 2's row opens on the trunk and its own header, never after thread 1's text: the
    whole-trace row taught a model to write thread 1 again in thread 2."""
    chats = export(tmp_path, "threadweaver", "calls")
    # per sample: the trunk to the outlines, a thread per part of the second factor, the join
    assert 6 * 3 <= len(chats) <= 6 * 4
    o = ExportOptions(task="multiply", protocols=["threadweaver"], task_options={"digits": 2}, n=1, out=tmp_path / "x")
    src = TraceSource("threadweaver", o)
    steps = asyncio.run(src.sample(src.instances[0])).steps
    assert len(steps) == 1  # the default: the whole trace, one row
    trunk, first, second, join = (chat_texts(c) for c in chats[:4])
    assert trunk[1].endswith("</Outlines>") and first[1].endswith("</Thread>")  # a stop tag, no EOS
    assert second[0].endswith("</Outlines>\n<Thread>\n2:") and "<Thread>\n1:" not in second[0]
    assert first[0].endswith("</Outlines>\n<Thread>\n1:") and second[0].startswith(trunk[0] + trunk[1])
    assert join[0].endswith("</Thread>\n") and join[1].endswith("}.<|im_end|>")


def test_arithmetic_rows_get_one_token_per_digit():
    tok = build_tokenizer(["So 16 × 7 = 112, so \\boxed{1248}."] * 20, 300, split_digits=True)
    assert tok.encode("1248").tokens == ["1", "2", "4", "8"]
    whole = build_tokenizer(["So 16 × 7 = 112, so \\boxed{1248}."] * 20, 300)
    assert len(whole.encode(" 1248").tokens) < 4  # the protocol pieces merge a whole number
