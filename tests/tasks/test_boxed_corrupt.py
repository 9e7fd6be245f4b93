"""The boxed tasks' error model: the final `\\boxed{}` answer goes wrong, seeded by the step's rng."""

from __future__ import annotations

import random

from mplm_bench.api import run
from mplm_bench.tasks.boxed.corrupt import corrupt_boxed, wrong_answer


def test_the_last_box_gets_a_wrong_answer_and_nothing_else_changes():
    text = "Adding: 10 + 2 = 12.\nThe answer is \\boxed{12}."
    for seed in range(20):
        out = corrupt_boxed(text, random.Random(seed))
        head, _, tail = out.partition("\\boxed{")
        assert head == "Adding: 10 + 2 = 12.\nThe answer is "
        got = tail.split("}")[0]
        assert got != "12" and len(got) == 2 and got[0] != "0" and tail.endswith("}.")
    assert corrupt_boxed("no box here", random.Random(0)) == "no box here"
    assert corrupt_boxed("\\boxed{12", random.Random(0)) == "\\boxed{12"  # unclosed: left alone
    assert wrong_answer("\\frac{a}{b}", random.Random(0)) == "\\frac{a}{b}+1"
    assert corrupt_boxed("\\boxed{\\frac{1}{2}}", random.Random(1)).startswith("\\boxed{\\frac{")


def test_the_same_rng_makes_the_same_mistake():
    text = "The answer is \\boxed{123456}."
    assert corrupt_boxed(text, random.Random("s")) == corrupt_boxed(text, random.Random("s"))
    assert len({corrupt_boxed(text, random.Random(i)) for i in range(30)}) > 5  # they scatter


def test_noise_makes_multiply_wrong_on_the_scripted_backend(tmp_path):
    exact = run("multiply", "threadweaver", backend="scripted", n=10, out=tmp_path).samples()
    noisy = run("multiply", "threadweaver", backend="scripted", n=10, out=tmp_path,
                backend_options={"error_rate": 0.5, "error_model": "step"}).samples()
    assert exact["correct"].all()
    assert 0 < noisy["correct"].sum() < 10
    assert (noisy["status"] == "ok").all()  # a wrong answer, not a broken trace
