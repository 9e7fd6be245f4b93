"""The offline long-context set: seeded, reproducible, its answers derivable from the text alone."""

from __future__ import annotations

import re

import pytest

from mplm_bench.models.tokenizer import load_token_counter
from mplm_bench.tasks.longqa.facts import (
    FACT_PATTERNS,
    QUESTION_PATTERNS,
    find_facts,
    find_question,
)
from mplm_bench.tasks.longqa.haystack import KINDS, filler_topics, generate_record
from mplm_bench.tasks.longqa.records import LETTERS
from mplm_bench.tasks.longqa.task import LongQAOptions, LongQATask


@pytest.fixture(scope="module")
def counter():
    return load_token_counter(None)


@pytest.fixture(scope="module")
def records(counter):
    return [generate_record(i, 7, 3000, "mixed", counter) for i in range(16)]


def test_the_same_seed_gives_the_same_records_and_instance_i_does_not_depend_on_n(counter, records):
    again = [generate_record(i, 7, 3000, "mixed", counter) for i in (5, 3)]
    assert again == [records[5], records[3]]
    other = generate_record(3, 8, 3000, "mixed", counter)
    assert other.context != records[3].context and other.question != records[3].question
    task = LongQATask(LongQAOptions(length=3000))
    assert [i.id for i in task.generate(3, 7)] == [i.id for i in task.generate(5, 7)][:3]


def test_kinds_and_formats_cycle_and_records_have_the_longbench_shape(records):
    assert [r.sub_domain for r in records[:8]] == [*KINDS, *KINDS]
    assert [r.multiple_choice for r in records[:8]] == [True] * 4 + [False] * 4
    for r in records:
        row = r.to_longbench()
        assert set(row) == {"_id", "domain", "sub_domain", "difficulty", "length", "question",
                            "choice_A", "choice_B", "choice_C", "choice_D", "answer", "context"}
        assert row["length"] == "short" and row["difficulty"] in ("easy", "hard")
        if r.multiple_choice:
            assert r.answer in LETTERS and len(set(r.choices)) == 4
        else:
            assert r.answer and not r.choices


def test_the_context_has_the_requested_length(counter, records):
    for r in records:
        assert 3000 <= counter.count(r.context) <= 3000 * 1.03


def independent_answer(context: str, question: str) -> str:
    """Solve from the text with plain regexes and dicts (not `facts.resolve`)."""
    lives = dict(re.findall(r"([A-Z][a-z]+ [A-Z][a-z]+) lives in the town of ([A-Z][a-z]+)\.", context))
    known = dict(re.findall(r"The town of ([A-Z][a-z]+) is known for its ([a-z ]+?)\.", context))
    value = dict(re.findall(r"VAR ([A-Z]{5}) = (\d+)\.", context))
    alias = dict(re.findall(r"VAR ([A-Z]{5}) = VAR ([A-Z]{5})\.", context))
    if m := re.match(r"In which town does (.+) live\?", question):
        return lives[m.group(1)]
    if m := re.match(r"What is the town where (.+) lives known for\?", question):
        return known[lives[m.group(1)]]
    if m := re.match(r"What is the value of VAR (\w+)\?", question):
        var = m.group(1)
        while var not in value:
            var = alias[var]
        return value[var]
    item = re.match(r"How many (.+) were collected in total\?", question).group(1)
    return str(sum(int(n) for n in re.findall(rf"collected (\d+) {item}\.", context)))


def test_every_answer_follows_from_the_haystack_alone(records):
    for r in records:
        assert independent_answer(r.context, r.question) == r.answer_text, r.id
        # each fact holds once: one town per person, one value per variable, ...
        facts = find_facts(r.context)
        keys = [(f.kind, f.subject) for f in facts if f.kind != "collected"]
        assert len(keys) == len(set(keys))
        assert find_question(r.question) is not None


def test_the_filler_prose_never_looks_like_a_needle_or_a_question():
    prose = "\n\n".join(p for topic in filler_topics() for p in topic)
    assert len(prose) > 400_000
    for pat in (*FACT_PATTERNS.values(), *QUESTION_PATTERNS.values()):
        assert pat.search(prose) is None, pat.pattern


def test_multiple_choice_distractors_are_of_the_answers_kind(records):
    for r in (r for r in records if r.multiple_choice):
        if r.sub_domain in ("chain", "aggregate"):
            assert all(c.isdigit() for c in r.choices)
        else:
            assert not any(c.isdigit() for c in r.choices)
