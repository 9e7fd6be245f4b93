"""Scoring: the multiple-choice letter, and exact match / token F1 for short answers.

Multiple choice: the letter of `The correct answer is (X)` (docs/protocols.md §4, LongBench-v2's answer
line), or of a common variant (`The correct answer is B`, `Answer: (C)`, `answer is D.`); the
last such line counts, since a model may restate the options before it decides.
Short answers: the text after the last `Answer:` (or `The correct answer is`) line, else the last
non-empty line, compared after the SQuAD normalisation (lowercase, no punctuation, no articles
a/an/the, single spaces): exact match, and the F1 of the tokens in common.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from mplm_bench.tasks.base import Score
from mplm_bench.tasks.longqa.records import LETTERS, Record

# the words in any case, the letter a capital (so `the answer is a town` is no letter A)
_LETTER = re.compile(
    r"(?i:answer)\s*(?i:is)?\s*:?\s*\**\s*[\(\[]?\s*([A-D])\s*[\)\]]?(?![A-Za-z])")
_SHORT = re.compile(r"(?:^|\n)\W*(?:the\s+correct\s+answer\s+is|(?:final\s+)?answer)\s*:?\s*(.+)", re.I)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def parse_letter(answer: str | None) -> str | None:
    if not answer:
        return None
    found = _LETTER.findall(answer)
    if found:
        return found[-1].upper()
    lone = answer.strip().strip("().*[] ").upper()
    return lone if len(lone) == 1 and lone in LETTERS else None


def parse_short(answer: str | None) -> str | None:
    if not answer or not answer.strip():
        return None
    found = _SHORT.findall(answer)
    text = found[-1] if found else answer.strip().splitlines()[-1]
    return text.strip().strip("*").strip() or None


def normalize(text: str) -> str:
    """SQuAD's answer normalisation."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1(prediction: str, truth: str) -> float:
    p, t = normalize(prediction).split(), normalize(truth).split()
    common = sum((Counter(p) & Counter(t)).values())
    if not p or not t or common == 0:
        return float(p == t)
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


def score_record(record: Record, answer: str | None) -> Score:
    """`score` is 0/1 for multiple choice and the best F1 over accepted answers otherwise;
    the `em` and `f1` columns exist for both, so every run has the same columns."""
    if record.multiple_choice:
        letter = parse_letter(answer)
        right = letter == record.answer
        return Score(correct=right, score=float(right), parsed=letter,
                     extra={"em": float(right), "f1": float(right)})
    short = parse_short(answer)
    truths = (record.answer, *record.aliases)
    if short is None:
        return Score(correct=False, score=0.0, extra={"em": 0.0, "f1": 0.0})
    em = max(float(normalize(short) == normalize(t)) for t in truths)
    best = max(f1(short, t) for t in truths)
    return Score(correct=em == 1.0, score=best, parsed=normalize(short), extra={"em": em, "f1": best})
