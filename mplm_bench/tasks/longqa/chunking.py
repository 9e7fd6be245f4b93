"""Split a long context into token-bounded pieces at paragraph and sentence edges.

Counts come from the embedded SmolLM2 tokenizer (what the scripted backend counts with); a real
model's tokenizer differs a little, so callers leave a margin where a window is at stake.
A chunk is a run of whole paragraphs; a paragraph longer than a chunk is cut at sentence ends,
and a sentence longer than that at a character position (the only cut inside running text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

SEPARATOR = "\n\n"
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# docs/protocols.md §4: a reader's summary budget, in tokens
SUMMARY_MAX, SUMMARY_MIN, SUMMARY_TOTAL = 2048, 192, 96_000


class Counter(Protocol):
    def count(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    tokens: int


def summary_budget(n_chunks: int) -> int:
    """`min(2048, max(192, 96000 // n_chunks))` tokens (docs/protocols.md §4)."""
    return min(SUMMARY_MAX, max(SUMMARY_MIN, SUMMARY_TOTAL // max(1, n_chunks)))


def pieces(text: str, counter: Counter, limit: int) -> list[Piece]:
    """Paragraphs of `text` (blank-line separated), each cut to at most `limit` tokens."""
    out: list[Piece] = []
    for para in _PARAGRAPHS.split(text.strip()):
        para = para.strip("\n")
        if not para.strip():
            continue
        n = counter.count(para)
        if n <= limit:
            out.append(Piece(para, n))
        else:
            out.extend(_split_long(para, counter, limit))
    return out


def _split_long(para: str, counter: Counter, limit: int) -> list[Piece]:
    """Greedy runs of sentences; an over-long sentence is cut by characters."""
    out: list[Piece] = []
    cur: list[str] = []
    for sentence in _SENTENCE_END.split(para):
        for part in _cut_chars(sentence, counter, limit):
            trial = " ".join([*cur, part])
            if cur and counter.count(trial) > limit:
                out.append(Piece(" ".join(cur), counter.count(" ".join(cur))))
                cur = [part]
            else:
                cur.append(part)
    if cur:
        out.append(Piece(" ".join(cur), counter.count(" ".join(cur))))
    return out


def _cut_chars(text: str, counter: Counter, limit: int) -> list[str]:
    parts = []
    while counter.count(text) > limit:
        lo, hi = 1, len(text)  # the longest prefix within the limit, by bisection
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if counter.count(text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        parts.append(text[:lo])
        text = text[lo:]
    return [*parts, text] if text else parts


def chunk(text: str, counter: Counter, chunk_tokens: int) -> list[str]:
    """The context as chunks of at most `chunk_tokens` tokens, of about equal size.

    The number of chunks is what `chunk_tokens` requires (ceil of total / chunk_tokens); each
    chunk then aims at an equal share, so a 32k context at 10k is four chunks of ~8k, not three
    of 10k and a 2k stub. Edges fall between paragraphs (or sentences of an over-long one)."""
    ps = pieces(text, counter, chunk_tokens)
    if not ps:
        return [""]
    sep = counter.count(SEPARATOR)
    total = sum(p.tokens for p in ps) + sep * (len(ps) - 1)
    n = max(1, -(-total // chunk_tokens))
    target = total / n
    chunks: list[list[Piece]] = [[]]
    size = 0
    for p in ps:
        cost = p.tokens + (sep if chunks[-1] else 0)
        # a piece goes to the next chunk when it would not fit, or when most of it lies past
        # this chunk's share (and chunks are left to take it)
        if chunks[-1] and (size + cost > chunk_tokens or (size + cost / 2 > target and len(chunks) < n)):
            chunks.append([])
            size, cost = 0, p.tokens
        chunks[-1].append(p)
        size += cost
    return [SEPARATOR.join(p.text for p in c) for c in chunks]


def head_and_tail(text: str, counter: Counter, budget: int, marker: str) -> tuple[str, int] | None:
    """The first and last paragraphs of `text` within `budget` tokens (about half each, the
    marker included) joined by `marker`, whose `{cut}` is replaced by the tokens left out; and
    that number. None when not one paragraph of each end fits.

    Pieces are counted apart, and BPE merges a little differently across their joins, so the
    joined text is counted again and the room shrunk by any excess."""
    room = budget
    for _ in range(4):
        kept = _head_and_tail(text, counter, room, marker)
        if kept is None:
            return None
        excess = counter.count(kept[0]) - budget
        if excess <= 0:
            return kept
        room -= excess
    return None


def _head_and_tail(text: str, counter: Counter, budget: int, marker: str) -> tuple[str, int] | None:
    ps = pieces(text, counter, max(1, budget // 2))
    sep = counter.count(SEPARATOR)
    room = budget - counter.count(marker.format(cut=10**6)) - 2 * sep
    head: list[Piece] = []
    tail: list[Piece] = []
    used_head = used_tail = 0
    i, j = 0, len(ps) - 1
    while i <= j:  # grow the shorter end, so both keep about half
        at_head = used_head <= used_tail
        p = ps[i] if at_head else ps[j]
        if used_head + used_tail + p.tokens + sep > room:
            break
        if at_head:
            head.append(p)
            used_head += p.tokens + sep
            i += 1
        else:
            tail.append(p)
            used_tail += p.tokens + sep
            j -= 1
    if not head or not tail:
        return None
    cut = sum(p.tokens for p in ps[i : j + 1]) + sep * max(0, j - i)
    front = SEPARATOR.join(p.text for p in head)
    back = SEPARATOR.join(p.text for p in reversed(tail))
    return front + SEPARATOR + marker.format(cut=cut) + SEPARATOR + back, cut
