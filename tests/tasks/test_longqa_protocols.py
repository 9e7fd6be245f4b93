"""Long-context QA protocols in the one runtime: the harness-driven dialect, seeded readers, and
scripted mplm / fj / cot (and pacore / sc) solving the offline set end to end."""

from __future__ import annotations

import pandas as pd
import pytest

import mplm_bench
from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.runner import plan
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.protocol import Recv, Stop
from mplm_bench.runtime.threads import Thread
from mplm_bench.runtime.world import Seed, World
from mplm_bench.tasks.longqa.dialect import LongQADialect
from mplm_bench.tasks.longqa.prompts import ANSWER_FROM, SUMMARY_FROM

TASK = {"length": 6000, "chunk_tokens": 1600}  # four chunks of ~1.5k tokens


def run(tmp_path, strategy, n=8, task=None, strategy_options=None, backend_options=None):
    cfg = RunConfig(task="longqa", strategy=strategy, task_options=task or TASK,
                    strategy_options=strategy_options or {}, backend="scripted",
                    backend_options=backend_options or {}, n=n, out=tmp_path, log_prompts=True)
    done = mplm_bench.run(cfg)  # the Python API: plan, build, execute, aclose
    return pd.read_parquet(done.dir / "samples"), pd.read_parquet(done.dir / "calls")


def master(steps=0, kept=""):
    t = Thread("0", None, 0, ["opening"])
    t.steps, t.last_kept = steps, kept
    return t


MPLM = LongQADialect("mplm", ("1", "2", "3"), 2, "Question: Q?\n(A) a\n(B) b\n(C) c\n(D) d", True)


def test_a_readers_plain_text_is_a_message_to_the_master():
    reader = Thread("2", "0", 1, ["part"])
    step = MPLM.parse(reader, "  A summary.\n", "length")  # a cut summary is still sent
    assert [(s.ids, s.payload) for s in step.sends] == [(("0",), "A summary.")]
    assert step.terminal == Recv(None)
    fj = LongQADialect("fj", ("1", "2"), 0, "Question: Q?", False)
    assert fj.parse(reader, "Nothing relevant.", "stop").terminal == Stop(None)  # stateless


def test_the_masters_question_lines_become_sends_and_a_recv_on_exactly_them():
    step = MPLM.parse(master(1), "Let me ask.\n[2]: Who?\n[ reader 3 ]: Where?\n[2]: When?\n[9]: Nobody.", "stop")
    assert [(s.ids, s.payload) for s in step.sends] == [(("2",), "Who?\nWhen?"), (("3",), "Where?")]
    assert step.terminal == Recv(("2", "3"))


def test_the_master_stops_on_an_answer_on_its_last_round_or_without_questions():
    assert MPLM.parse(master(1), "[2]: Who?\nThe correct answer is (B)", "stop").terminal == Stop(
        "[2]: Who?\nThe correct answer is (B)")
    assert isinstance(MPLM.parse(master(3), "[2]: Who?", "stop").terminal, Stop)  # rounds used up
    assert isinstance(MPLM.parse(master(1), "[7]: Who?", "stop").terminal, Stop)  # no such reader
    cut = MPLM.parse(master(3), "I am still think", "length")
    assert cut.terminal is None and cut.kept  # the runtime ends the sample `truncated`


def test_resumed_prompts_say_in_words_what_arrived():
    from mplm_bench.runtime.threads import Message

    first = "".join(MPLM.resume(master(0), [Message("1", "S1", 1, 0, 0, 0), Message("2", "S2", 2, 0, 0, 0)]))
    assert first.startswith(f"\n\n{SUMMARY_FROM} [1]:\nS1\n\n{SUMMARY_FROM} [2]:\nS2\n\nQuestion: Q?")
    assert "(2 rounds of questions left)" in first and "<" not in first
    later = "".join(MPLM.resume(master(2, "[2]: Who?"), [Message("2", "Bo.", 3, 0, 0, 0)]))
    assert later.startswith(f"\n\n[2]: Who?\n\n{ANSWER_FROM} [2]:\nBo.\n\n") and "No questions are left" in later
    reader = Thread("2", "0", 1, ["part"])
    reader.last_kept = "My summary."
    text = "".join(MPLM.resume(reader, [Message("0", "Who?", 4, 0, 0, 0)]))
    assert text.startswith("\n\nMy summary.\n\nQuestion from the coordinator: Who?\n")


def test_seeded_threads_start_before_any_model_call_with_their_own_budget():
    w = World("k", "opening", Caps(), Sampling(max_tokens=1024),
              dialect=MPLM, seeds=[Seed("1", ("part one",), 192), Seed("2", ("part two",))])
    assert [t.id for t in w.runnable()] == ["1", "2"]
    m = w.threads["0"]
    assert m.waiting_for == Recv(("1", "2")) and m.children == ["1", "2"]
    tickets = [w.begin(t, 0.0, 0.0) for t in w.runnable()]
    assert [tk.request.sampling.max_tokens for tk in tickets] == [192, 1024]
    assert [tk.record.consumed_from for tk in tickets] == ["0", "0"]
    assert w.metrics.n_threads == 3 and w.metrics.max_depth == 1


@pytest.mark.parametrize("strategy", ["mplm", "fj", "cot"])
def test_scripted_strategies_solve_the_offline_set(tmp_path, strategy):
    s, c = run(tmp_path, strategy)
    assert len(s) == 8 and (s["status"] == "ok").all() and s["correct"].all()
    assert set(s["needle_kind"]) == {"single", "multihop", "chain", "aggregate"}
    assert s["multiple_choice"].sum() == 4 and (s["f1"] == 1.0).all()
    assert (s["critical_path_tokens"] > 0).all() and (s["peak_context_tokens"] > 0).all()
    if strategy == "cot":
        assert (s["n_calls"] == 1).all() and (s["context_cut_tokens"] == 0).all()
        assert (s["peak_context_tokens"] > 6000).all()
        return
    assert (s["n_chunks"] == 4).all() and (s["n_threads"] == 5).all()
    assert (s["peak_context_tokens"] < 2600).all()  # no thread holds more than a chunk and its talk
    first = c[c["step"] == 0]
    assert set(first[first["thread_id"] != "0"]["consumed_from"]) == {"0"}  # seeded by the master
    if strategy == "mplm":
        assert (s["summary_budget"] == 2048).all() and (s["chunk_tokens_used"] == 1600).all()
        assert (s["n_messages"] > 4).all()  # summaries, then questions and answers
        again = c[(c["thread_id"] != "0") & (c["step"] == 1)]
        assert len(again) > 0  # readers asked again keep their context: the prefix is cached
        first_prompt = first.set_index(["instance_id", "thread_id"])["prompt_tokens"]
        for row in again.itertuples():
            assert row.cached_prompt_tokens == first_prompt[(row.instance_id, row.thread_id)]
            assert row.prompt.startswith(first[(first.instance_id == row.instance_id)
                                               & (first.thread_id == row.thread_id)]["prompt"].iloc[0])
    else:
        assert (s["n_messages"] == 4).all() and (s["n_calls"] == 5).all()  # map, then one reduce


def test_without_query_rounds_the_master_answers_from_the_summaries(tmp_path):
    s, c = run(tmp_path, "mplm", n=4, strategy_options={"query_rounds": 0})
    assert (s["status"] == "ok").all() and (s["n_calls"] == 5).all()
    assert s["correct"].sum() < 4  # the summaries name entities, not facts


@pytest.mark.parametrize(("strategy", "options"), [("pacore", {"rounds": "2"}), ("sc", {"k": 3})])
def test_pacore_and_sc_run_on_the_cot_prompt(tmp_path, strategy, options):
    s, _ = run(tmp_path, strategy, n=4, strategy_options=options)
    assert (s["status"] == "ok").all() and s["correct"].all()


def test_cot_keeps_head_and_tail_when_the_window_is_short_and_records_the_cut(tmp_path):
    s, c = run(tmp_path / "a", "cot", n=4, backend_options={"max_model_len": 3000})
    # answered and scored, but recorded as what it is: the model never saw the whole context
    assert (s["status"] == "truncated").all() and (s["context_cut_tokens"] > 2000).all()
    assert s["status_detail"].str.contains("context cut to fit 3000 tokens").all()
    assert (s["n_calls"] == 1).all() and s["answer"].notna().all()
    assert (s["peak_context_tokens"] <= 3000).all()
    assert c["prompt"].str.contains("tokens of the document are left out here").all()
    s, c = run(tmp_path / "b", "cot", n=2, task=TASK | {"max_context_tokens": 900})
    assert (s["status"] == "truncated").all() and (s["n_calls"] == 0).all() and len(c) == 0
    assert s["status_detail"].str.contains("do not fit in 900 tokens").all()


def test_a_users_max_tokens_wins_over_the_reader_budget(tmp_path):
    s, c = run(tmp_path, "mplm", n=1, backend_options={"max_tokens": 12})
    readers = c[(c["thread_id"] != "0") & (c["step"] == 0)]
    assert (readers["completion_tokens"] <= 12).all() and (readers["finish_reason"] == "length").any()


def test_query_rounds_is_rejected_where_no_protocol_reads_it(tmp_path):
    with pytest.raises(ConfigError, match="query_rounds: task 'sudoku' has no use for it"):
        plan(RunConfig(task="sudoku", strategy="mplm", strategy_options={"query_rounds": 2},
                       backend="scripted", out=tmp_path))
    with pytest.raises(ConfigError, match="query_rounds"):
        plan(RunConfig(task="longqa", strategy="fj", strategy_options={"query_rounds": 2},
                       backend="scripted", out=tmp_path))


def test_the_task_and_its_instances_pickle(tmp_path):
    import pickle

    from mplm_bench.tasks.longqa.task import LongQAOptions, LongQATask

    task = LongQATask(LongQAOptions(length=1000))
    inst = task.generate(1, 0)[0]
    again = pickle.loads(pickle.dumps(task))
    assert again.options == task.options and pickle.loads(pickle.dumps(inst)) == inst
    assert again.generate(1, 0) == [inst]
