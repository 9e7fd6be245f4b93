"""Long-context QA chunking: edges on paragraphs and sentences, sizes, budgets, the CoT cut."""

from __future__ import annotations

import pytest

from mplm_bench.models.tokenizer import load_token_counter
from mplm_bench.tasks.longqa.chunking import (
    SEPARATOR,
    chunk,
    head_and_tail,
    pieces,
    summary_budget,
)


@pytest.fixture(scope="module")
def counter():
    return load_token_counter(None)


def paragraphs(k: int) -> list[str]:
    return [f"Paragraph {i} opens here. It says a little more about item {i}, then ends." for i in range(k)]


@pytest.mark.parametrize(("n_chunks", "budget"), [(1, 2048), (46, 2048), (47, 2042), (100, 960),
                                                  (500, 192), (10_000, 192)])
def test_summary_budget_is_the_protocol_formula(n_chunks, budget):
    assert summary_budget(n_chunks) == budget == min(2048, max(192, 96000 // n_chunks))


def test_chunks_are_whole_paragraphs_within_the_limit_and_about_equal(counter):
    paras = paragraphs(120)
    text = SEPARATOR.join(paras)
    total = counter.count(text)
    chunks = chunk(text, counter, 500)
    assert len(chunks) == -(-total // 500)  # as many as the limit requires, no stub chunk
    sizes = [counter.count(c) for c in chunks]
    assert max(sizes) <= 500 and min(sizes) >= 0.7 * max(sizes)
    # every edge falls between paragraphs, and nothing is lost or reordered
    assert [p for c in chunks for p in c.split(SEPARATOR)] == paras


def test_an_over_long_paragraph_is_cut_at_sentence_ends(counter):
    sentences = [f"Sentence number {i} of one very long paragraph says something." for i in range(60)]
    text = " ".join(sentences)
    parts = pieces(text, counter, 100)
    assert len(parts) > 1 and all(p.tokens <= 100 for p in parts)
    assert all(p.text.endswith(".") for p in parts)
    assert " ".join(p.text for p in parts) == text


def test_an_over_long_sentence_is_cut_by_characters(counter):
    word = "lorem ipsum dolor sit amet " * 80  # no sentence end at all
    parts = pieces(word.strip(), counter, 50)
    assert all(p.tokens <= 50 for p in parts) and "".join(p.text for p in parts) == word.strip()


def test_head_and_tail_keep_both_ends_within_budget(counter):
    paras = paragraphs(200)
    text = SEPARATOR.join(paras)
    kept = head_and_tail(text, counter, 600, "[{cut} tokens left out]")
    assert kept is not None
    out, cut = kept
    assert counter.count(out) <= 600
    assert out.startswith(paras[0]) and out.endswith(paras[-1])
    head, marker, tail = out.split(SEPARATOR + "[")[0], out.split("[")[1].split("]")[0], out.split("]" + SEPARATOR)[1]
    assert marker == f"{cut} tokens left out"
    assert abs(counter.count(head) - counter.count(tail)) < 60  # about half each
    assert cut == pytest.approx(counter.count(text) - counter.count(head) - counter.count(tail), rel=0.05)
    assert head_and_tail(text, counter, 10, "[{cut}]") is None  # not one paragraph of each end fits
