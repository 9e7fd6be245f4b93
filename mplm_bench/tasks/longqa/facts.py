"""The needles of the offline set: fact sentences, questions about them, and how to answer.

Five sentence shapes carry every fact; four question shapes ask about them:

| fact | sentence |
|---|---|
| lives | `Orla Vance lives in the town of Tarsk.` |
| known | `The town of Tarsk is known for its copper bells.` |
| value | `VAR QPLXZ = 48213.` |
| alias | `VAR KJWEN = VAR QPLXZ.` |
| collected | `Orla Vance collected 17 sea shells.` |

| kind | question | needs |
|---|---|---|
| single | `In which town does Orla Vance live?` | one fact |
| multihop | `What is the town where Orla Vance lives known for?` | two facts, two entities |
| chain | `What is the value of VAR KJWEN?` | a chain of assignments |
| aggregate | `How many sea shells were collected in total?` | every collected fact of the item |

The generator writes them; the scripted policies read them back from prompt text with the same
patterns, which is all a policy knows (the filler prose never matches them: a test checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NAME = r"[A-Z][a-z]+ [A-Z][a-z]+"
_TOWN = r"[A-Z][a-z]+"
_VAR = r"[A-Z]{5}"
_THING = r"[a-z]+(?: [a-z]+)?"

FACT_PATTERNS: dict[str, re.Pattern[str]] = {
    "lives": re.compile(rf"\b({_NAME}) lives in the town of ({_TOWN})\."),
    "known": re.compile(rf"\bThe town of ({_TOWN}) is known for its ({_THING})\."),
    "value": re.compile(rf"\bVAR ({_VAR}) = (\d+)\."),
    "alias": re.compile(rf"\bVAR ({_VAR}) = VAR ({_VAR})\."),
    "collected": re.compile(rf"\b({_NAME}) collected (\d+) ({_THING})\."),
}
QUESTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "single": re.compile(rf"In which town does ({_NAME}) live\?"),
    "multihop": re.compile(rf"What is the town where ({_NAME}) lives known for\?"),
    "chain": re.compile(rf"What is the value of VAR ({_VAR})\?"),
    "aggregate": re.compile(rf"How many ({_THING}) were collected in total\?"),
}


@dataclass(frozen=True, slots=True)
class Fact:
    kind: str  # a key of FACT_PATTERNS
    subject: str  # person, town or variable
    value: str  # town, product, number, variable, or "count item"

    @property
    def sentence(self) -> str:
        match self.kind:
            case "lives":
                return f"{self.subject} lives in the town of {self.value}."
            case "known":
                return f"The town of {self.subject} is known for its {self.value}."
            case "value":
                return f"VAR {self.subject} = {self.value}."
            case "alias":
                return f"VAR {self.subject} = VAR {self.value}."
            case _:
                return f"{self.subject} collected {self.value}."

    def entities(self) -> tuple[str, ...]:
        """What a reader would name when it summarises this fact."""
        if self.kind == "collected":
            count, item = self.value.split(" ", 1)
            return (self.subject, item)
        if self.kind in ("lives", "known", "alias"):
            return (self.subject, self.value)
        return (self.subject,)

    def mentions(self, entity: str) -> bool:
        return entity in self.entities()


@dataclass(frozen=True, slots=True)
class Question:
    kind: str  # a key of QUESTION_PATTERNS
    entity: str  # the person, variable or item asked about

    @property
    def text(self) -> str:
        match self.kind:
            case "single":
                return f"In which town does {self.entity} live?"
            case "multihop":
                return f"What is the town where {self.entity} lives known for?"
            case "chain":
                return f"What is the value of VAR {self.entity}?"
            case _:
                return f"How many {self.entity} were collected in total?"


def find_facts(text: str) -> list[Fact]:
    """Every fact sentence in `text`, in order of appearance, without repeats."""
    found: list[tuple[int, Fact]] = []
    for kind, pat in FACT_PATTERNS.items():
        for m in pat.finditer(text):
            if kind == "collected":
                fact = Fact(kind, m.group(1), f"{m.group(2)} {m.group(3)}")
            else:
                fact = Fact(kind, m.group(1), m.group(2))
            found.append((m.start(), fact))
    found.sort(key=lambda x: x[0])
    return list(dict.fromkeys(f for _, f in found))


def find_question(text: str) -> Question | None:
    """The last question of a known shape in `text` (a prompt ends with its question)."""
    best: tuple[int, Question] | None = None
    for kind, pat in QUESTION_PATTERNS.items():
        for m in pat.finditer(text):
            if best is None or m.start() > best[0]:
                best = (m.start(), Question(kind, m.group(1)))
    return best[1] if best else None


def relevant(fact: Fact, question: Question) -> bool:
    """Could the fact bear on the question without knowing the other facts? (A fork-join worker
    sees the question and one chunk: it reports these.)"""
    match question.kind:
        case "single":
            return fact.kind == "lives" and fact.subject == question.entity
        case "multihop":
            return (fact.kind == "lives" and fact.subject == question.entity) or fact.kind == "known"
        case "chain":
            return fact.kind in ("value", "alias")
        case _:
            return fact.kind == "collected" and fact.value.split(" ", 1)[1] == question.entity


@dataclass(frozen=True, slots=True)
class Resolution:
    answer: str | None  # None: the facts do not settle it yet
    needed: str | None  # the entity to look up next (None: nothing more can help)
    used: tuple[Fact, ...]  # the facts the answer rests on


def resolve(question: Question, facts: Iterable[Fact], complete: bool = True) -> Resolution:
    """Answer from the facts, or say which entity to look up next.

    `complete`: the facts hold everything there is about the entities involved (a whole document,
    or every reader that named them has answered), so an aggregate may be summed."""
    facts = list(facts)
    by = {(f.kind, f.subject): f for f in facts}
    match question.kind:
        case "single" | "multihop":
            home = by.get(("lives", question.entity))
            if home is None:
                return Resolution(None, question.entity, ())
            if question.kind == "single":
                return Resolution(home.value, None, (home,))
            known = by.get(("known", home.value))
            if known is None:
                return Resolution(None, home.value, (home,))
            return Resolution(known.value, None, (home, known))
        case "chain":
            var, seen = question.entity, set()
            used: list[Fact] = []
            while var not in seen:
                seen.add(var)
                if (f := by.get(("value", var))) is not None:
                    return Resolution(f.value, None, (*used, f))
                if (f := by.get(("alias", var))) is None:
                    return Resolution(None, var, tuple(used))
                used.append(f)
                var = f.value
            return Resolution(None, None, tuple(used))  # a cycle: no value
        case _:
            parts = [f for f in facts if f.kind == "collected" and f.value.split(" ", 1)[1] == question.entity]
            if not complete:
                return Resolution(None, question.entity, tuple(parts))
            total = sum(int(f.value.split(" ", 1)[0]) for f in parts)
            return Resolution(str(total) if parts else None, None, tuple(parts))
