"""One wrong long-context step for the noisy scripted backend (`-M error_rate`, backends/noise.py).

The mistakes a reader of long text makes, each still well-formed text the protocol carries on:
- a final answer picks another option (multiple choice) or another value (short answer);
- a quoted fact gets a wrong number, town, product or variable (misread evidence);
- a summary leaves out one of the entities its part mentions (a missed needle).
"""

from __future__ import annotations

import random
import re

from mplm_bench.tasks.longqa.facts import Fact, find_facts
from mplm_bench.tasks.longqa.records import LETTERS

_MC = re.compile(r"The correct answer is \(([A-D])\)")
_SHORT = re.compile(r"^Answer: (.+)$", re.M)
_MENTIONS = re.compile(r"It mentions (.+)\.$")


def _other_number(text: str, rng: random.Random) -> str:
    return str(max(0, int(text) + rng.choice([-1, 1]) * rng.randint(1, 9)))


def _wrong_fact(fact: Fact, pool: list[Fact], rng: random.Random) -> Fact:
    if fact.kind == "value":
        return Fact("value", fact.subject, _other_number(fact.value, rng))
    if fact.kind == "collected":
        count, item = fact.value.split(" ", 1)
        return Fact("collected", fact.subject, f"{_other_number(count, rng)} {item}")
    others = sorted({f.value for f in pool if f.kind == fact.kind and f.value != fact.value})
    if not others:
        return fact
    return Fact(fact.kind, fact.subject, rng.choice(others))


def corrupt_step(prompt: str, response: str, rng: random.Random) -> str:
    if m := _MC.search(response):
        wrong = rng.choice([k for k in LETTERS if k != m.group(1)])
        return response[: m.start(1)] + wrong + response[m.end(1) :]
    if m := _SHORT.search(response):
        value = m.group(1).strip()
        pool = sorted({f.value for f in find_facts(prompt) if f.value != value and not f.value[0].isdigit()})
        wrong = _other_number(value, rng) if value.isdigit() else (rng.choice(pool) if pool else "unknown")
        return response[: m.start(1)] + wrong + response[m.end(1) :]
    facts = find_facts(response)
    if facts:
        fact = rng.choice(facts)
        wrong_fact = _wrong_fact(fact, find_facts(prompt) + facts, rng)
        return response.replace(fact.sentence, wrong_fact.sentence, 1)
    if (m := _MENTIONS.search(response)) and ", " in m.group(1):
        names = m.group(1).split(", ")
        names.pop(rng.randrange(len(names)))
        return response[: m.start(1)] + ", ".join(names) + response[m.end(1) :]
    return response
