"""One long-context question in the LongBench-v2 shape, whatever its source.

LongBench-v2 (`THUDM/LongBench-v2`) records carry `_id, domain, sub_domain, difficulty, length,
question, choice_A..choice_D, answer, context`, the answer being a letter. Short-answer records
(the offline set's other half, HotpotQA) have no choices and the answer text instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LETTERS = "ABCD"


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    context: str
    question: str
    choices: tuple[str, ...]  # four for multiple choice; () for a short answer
    answer: str  # the letter (multiple choice) or the answer text
    aliases: tuple[str, ...] = ()  # other accepted short answers
    domain: str = ""
    sub_domain: str = ""
    difficulty: str = ""
    length: str = ""  # LongBench-v2's length class: short, medium, long
    extra: dict[str, Any] = field(default_factory=dict)  # more columns (e.g. the needle kind)

    @property
    def multiple_choice(self) -> bool:
        return bool(self.choices)

    @property
    def answer_text(self) -> str:
        return self.choices[LETTERS.index(self.answer)] if self.multiple_choice else self.answer

    def to_longbench(self) -> dict[str, Any]:
        """The record as LongBench-v2 writes it (short answers: empty choices)."""
        choices = self.choices or ("",) * 4
        return {"_id": self.id, "domain": self.domain, "sub_domain": self.sub_domain,
                "difficulty": self.difficulty, "length": self.length, "question": self.question,
                **{f"choice_{k}": c for k, c in zip(LETTERS, choices, strict=True)},
                "answer": self.answer, "context": self.context}


def length_class(words: int) -> str:
    """LongBench-v2's buckets by word count: short < 32k, medium < 128k, long beyond."""
    return "short" if words < 32_000 else "medium" if words < 128_000 else "long"
