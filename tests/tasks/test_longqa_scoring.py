"""Long-context QA scoring: the multiple-choice letter and SQuAD-normalised EM / F1."""

from __future__ import annotations

import pytest

from mplm_bench.tasks.longqa.records import Record
from mplm_bench.tasks.longqa.scoring import f1, normalize, parse_letter, parse_short, score_record

MC = Record("q1", "ctx", "Which?", ("red", "green", "blue", "grey"), "C")
SHORT = Record("q2", "ctx", "Which?", (), "the Copper Bells", aliases=("bells",))


@pytest.mark.parametrize(("text", "letter"), [
    ("The correct answer is (C)", "C"),
    ("Reasoning first.\nThe correct answer is (A)\n", "A"),
    ("the correct answer is B.", "B"),
    ("Answer: (D)", "D"),
    ("**Answer:** C", "C"),
    ("So the answer is a town in the north. The correct answer is (B)", "B"),  # `a` is no letter
    ("First I thought the answer is (A), but the correct answer is (D)", "D"),  # the last one counts
    ("C", "C"),
    ("Answer: Dunmore", None),
    ("I cannot tell.", None),
    (None, None),
])
def test_letter_parsing(text, letter):
    assert parse_letter(text) == letter


def test_squad_normalisation_and_f1():
    assert normalize("The  Copper, Bells!") == "copper bells"
    assert normalize("an apple a day") == "apple day"
    assert f1("copper bells", "the copper bells") == 1.0
    assert f1("copper", "copper bells") == pytest.approx(2 / 3)
    assert f1("tin", "copper bells") == 0.0


@pytest.mark.parametrize(("text", "short"), [
    ("Thinking...\nAnswer: copper bells", "copper bells"),
    ("The correct answer is: 42", "42"),
    ("first line\nlast line", "last line"),
    ("", None),
])
def test_short_answer_parsing(text, short):
    assert parse_short(text) == short


def test_scores_and_columns_are_the_same_for_both_kinds():
    right = score_record(MC, "The correct answer is (C)")
    wrong = score_record(MC, "The correct answer is (A)")
    assert (right.correct, right.score, right.parsed) == (True, 1.0, "C")
    assert (wrong.correct, wrong.score) == (False, 0.0)
    exact = score_record(SHORT, "Answer: copper bells.")
    partial = score_record(SHORT, "Answer: copper pots")
    alias = score_record(SHORT, "Answer: Bells")
    none = score_record(SHORT, None)
    assert (exact.correct, exact.score, exact.parsed) == (True, 1.0, "copper bells")
    assert not partial.correct and partial.score == pytest.approx(0.5)
    assert alias.correct
    assert (none.correct, none.score) == (False, 0.0)
    for s in (right, wrong, exact, partial, none):
        assert set(s.extra) == {"em", "f1"}
