"""The pure rules behind docs/checkpoints.md: restoring a reported stop, the stop probe's verdicts,
the prompt profiles, and Parallel-R1's `Final Answer:` line."""

from __future__ import annotations

import pytest

from mplm_bench.backends.engine_common import keeps_special_tokens, restore_stop
from mplm_bench.backends.stop_probe import classify, pick_stop, probe_stops, refusal
from mplm_bench.config import ConfigError
from mplm_bench.runtime.backend import Request
from mplm_bench.strategies.adaptive.prompts import first_prompt, load_profile
from mplm_bench.tasks.boxed.answers import final_answer
from mplm_bench.tasks.boxed.profiles import MULTIVERSE, PARALLEL_R1, THREADWEAVER, upstream_problem
from mplm_bench.tasks.boxed.task import INSTRUCTION, problem_of

STOPS = ("</Outlines>",)


@pytest.mark.parametrize(("reported", "text", "expected"), [
    ("</Outlines>", "a</Outlines>", ("a</Outlines>", "</Outlines>")),  # kept and reported (vLLM, asked to keep)
    ("</Outlines>", "a", ("a</Outlines>", "</Outlines>")),  # trimmed and reported: put back (vLLM, SGLang)
    (None, "a</Outlines>", ("a</Outlines>", "</Outlines>")),  # kept, not reported
    (None, "a", ("a", None)),  # EOS
    (151645, "a", ("a", None)),  # SGLang's EOS: a token id
    ("</Thread>", "a", ("a", None)),  # not one of this request's stops
])
def test_restore_stop(reported, text, expected):
    assert restore_stop(reported, text, STOPS) == expected


def test_special_tokens_only_where_tags_are_in_play():
    plain = Request("r", "0", ("q",), None)
    assert not keeps_special_tokens(plain)
    assert keeps_special_tokens(Request("r", "0", ("q",), None, stop=("</Path>",)))
    assert keeps_special_tokens(Request("r", "0", ("q",), None, assistant=("x",)))


def test_pick_stop_and_classify():
    free = " 10, 11, 12"
    at, stop = pick_stop(free)
    assert at == 1 and stop == "10" and free.find(stop) == at
    assert classify(free, {"text": " ", "stop_reason": stop}, at, stop) == "reported"
    assert classify(free, {"text": " ", "matched_stop": stop}, at, stop) == "reported"
    assert classify(free, {"text": " 10"}, at, stop) == "kept"
    assert classify(free, {"text": " "}, at, stop) == "trimmed"
    assert classify(free, {"text": " 9"}, at, stop) == "inconclusive"
    assert pick_stop("") is None and pick_stop("aa") is None


def test_probe_stops_sends_the_cut_stop_and_no_min_tokens():
    sent = []

    def complete(body):
        sent.append(body)
        text = " 10, 11, 12"
        if body.get("stop"):
            return {"text": text[: text.find(body["stop"][0])], "stop_reason": None}
        return {"text": text}

    assert probe_stops(complete) == "trimmed"
    assert sent[1]["stop"] == ["10"] and "min_tokens" not in sent[1] and sent[0]["skip_special_tokens"] is False


def test_refusal_names_the_strategy_and_the_way_out():
    assert refusal("reported", "threadweaver") is None and refusal(None, "threadweaver") is None
    assert refusal("unchecked", "threadweaver") is None
    line = refusal("trimmed", "threadweaver")
    assert line and "-s threadweaver" in line and "stop_probe=false" in line and "\n" not in line


@pytest.mark.parametrize("profile", [THREADWEAVER, PARALLEL_R1, MULTIVERSE])
def test_a_profile_round_trips_its_problem(profile):
    q = "Compute 12 × 34."
    assert upstream_problem(profile.render(q)) == q
    assert problem_of(profile.render(q)) == q
    assert problem_of(f"{q}\n\n{INSTRUCTION}") == q


def test_profiles_and_prompt_files(tmp_path):
    assert load_profile("upstream", "threadweaver") is THREADWEAVER
    assert load_profile("harness", "multiverse") is None
    assert first_prompt(None, None, "task prompt") == ("You are a helpful assistant.", "task prompt")
    assert first_prompt(MULTIVERSE, "q", "ignored") == (MULTIVERSE.system, "q\n")
    f = tmp_path / "p.yaml"
    f.write_text("system: Be brief.\nuser: 'Q: {problem}'\n")
    custom = load_profile(str(f), "threadweaver")
    assert custom is not None and first_prompt(custom, "x", "") == ("Be brief.", "Q: x")
    f.write_text("user: no placeholder\n")
    with pytest.raises(ConfigError, match="holding \\{problem\\}"):
        load_profile(str(f), "threadweaver")
    with pytest.raises(ConfigError, match="not upstream, harness"):
        load_profile("nope", "threadweaver")


@pytest.mark.parametrize(("text", "expected"), [
    ("work\nFinal Answer: 42", "42"),
    ("Final Answer: 3.5.", "3.5"),
    ("Final Answer: \\boxed{7}", "7"),
    ("\\boxed{3}\nFinal Answer: 4", "3"),  # a box wins, as before
    ("Final Answer: 1\nFinal Answer: 2", "2"),
    ("no answer", None),
])
def test_final_answer(text, expected):
    assert final_answer(text) == expected


@pytest.mark.parametrize("dialect", ["threadweaver", "parallel-r1", "multiverse"])
def test_a_trained_dialect_tokenizer_holds_its_tags_as_special_tokens(dialect):
    """`mplm-bench train -p DIALECT` builds its tokenizer like the released checkpoints'."""
    from mplm_bench.tasks.boxed.profiles import SPECIAL_TAGS
    from mplm_bench.train.tokenizer import build_tokenizer

    tags = SPECIAL_TAGS[dialect]
    tok = build_tokenizer(["Compute 12 × 34. " + " ".join(tags)] * 4, 300, tags)
    for tag in tags:
        assert tok.encode(f"x{tag}y").tokens[1] == tag  # one token, wherever it stands
    assert tok.decode(tok.encode("".join(tags)).ids, skip_special_tokens=True) == ""
