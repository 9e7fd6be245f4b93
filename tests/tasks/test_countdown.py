"""Countdown: scoring checks the arithmetic, the APR dialect (spawn, `<Sub Searches>` correction,
join bytes), accuracy within a context window, noise, options and export-sft."""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest
from countdown_golden import GOLDEN, run
from typer.testing import CliRunner

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.cli import app
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.protocol import Recv, Send, Stop
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.threads import Thread
from mplm_bench.runtime.world import World
from mplm_bench.tasks.countdown.dialect import AprDialect, SosDialect
from mplm_bench.tasks.countdown.formats import apr_prompt, join_block, search_result
from mplm_bench.tasks.countdown.scoring import score_answer
from mplm_bench.tasks.countdown.task import CountdownTask

APR = GOLDEN["apr"]
ROOT = apr_prompt(APR["target"], APR["nums"])
FIRST = APR["apr_trace_dict"]["main_calls"][0]  # root prompt + its first response (a spawn)
PATH = ("Moving to Node #0\nCurrent State: 24:[2, 3, 4], Operations: []\n"
        "Exploring Operation: 2*3=6, Resulting Numbers: [4, 6]\nGenerated Node #0,0: 24:[4, 6] Operation: 2*3=6\n"
        "Moving to Node #0,0\nCurrent State: 24:[4, 6], Operations: ['2*3=6']\n"
        "Exploring Operation: 4*6=24, Resulting Numbers: [24]\n24,24 equal: Goal Reached")


# -- scoring ------------------------------------------------------------------------------------
def test_a_valid_path_scores_with_the_expression_it_builds():
    s = score_answer([2, 3, 4], 24, PATH)
    assert s.correct and s.parsed == "4*(2*3)"


@pytest.mark.parametrize("nums,target,answer,reason", [
    ([2, 3, 4], 24, None, "no solution"),
    ([2, 3, 4], 24, PATH.replace("4*6=24", "4*6=25"), "wrong arithmetic"),
    ([2, 3, 5], 24, PATH, "numbers left"),  # its lists hold a 4 it was not given
    ([2, 3, 4], 36, "Exploring Operation: 2*3=6, Resulting Numbers: [4, 6]\n"
                    "Exploring Operation: 6*6=36, Resulting Numbers: [4, 36]", "6 is not available"),  # reused
    ([2, 3, 4], 25, PATH, "not 25"),
    ([2, 3, 4, 7], 24, "Exploring Operation: 2*3=6, Resulting Numbers: [4, 7, 6]\n"
                       "Exploring Operation: 4*6=24, Resulting Numbers: [7, 24]", "left unused"),
    ([2, 3, 4], 24, PATH.replace("Numbers: [4, 6]", "Numbers: [6]"), "numbers left"),
    ([7, 2, 4], 14, "Exploring Operation: 7/2=3, Resulting Numbers: [4, 3]", "wrong arithmetic"),
    ([2, 3, 4], 24, "(2*3)*", "not an arithmetic expression"),
    ([2, 3, 4], 24, "2**3*4", "not an arithmetic expression"),
    ([2, 3, 4], 24, "__import__('os')", "not an arithmetic expression"),
    ([2, 3, 4], 24, "2*3*2*2", "uses"),  # a number reused
    ([2, 3, 4], 24, "2*3+4", "evaluates to 10"),
    ([7, 2, 2], 7, "(7/2)*2", "whole"),  # Countdown divides only when exact
])
def test_bad_answers_are_wrong_with_a_reason(nums, target, answer, reason):
    s = score_answer(nums, target, answer)
    assert not s.correct and reason in s.extra["reason"]


def test_a_bare_expression_is_checked_too():
    assert score_answer([2, 3, 4], 24, "(2*3)*4").correct
    assert score_answer([2, 3, 4], 24, "Answer line\n4*(3*2) = 24").correct


# -- the APR dialect ----------------------------------------------------------------------------
def thread(tid: str, prompt: str, parent: str | None = None, children=()) -> Thread:
    t = Thread(tid, parent, 0 if parent is None else 1, [prompt])
    t.children = list(children)
    return t


def test_a_spawn_block_becomes_message_only_children_and_a_recv():
    step = AprDialect().parse(thread("0", ROOT), FIRST[len(ROOT):], "stop")
    ids = [s.ids[0] for s in step.spawns]
    assert ids == ["1", "2", "3"] and step.terminal == Recv(("1", "2", "3"))
    bodies = [s.body for s in step.spawns]
    upstream = [sub["main_calls"][0] for sub in APR["apr_trace_dict"]["sub_calls"][0]]
    assert bodies == ["\n".join(t.split("\n", 2)[:2]) for t in upstream]  # its first two lines
    assert bodies[0] == "Moving to Node #0,2,0\nCurrent State: 10:[10, 17], Operations: ['38-28=10', '25-8=17']"
    assert AprDialect().spawn("7", bodies[0]) == (bodies[0],)  # no `Your id is` line: only the message
    budget = AprDialect(child_budget=512).parse(thread("0", ROOT), FIRST[len(ROOT):], "stop")
    assert all(s.body.startswith("Token Budget: 512 Moving to Node #0,") for s in budget.spawns)
    again = AprDialect().parse(thread("0", ROOT, children=["1", "2", "3"]), FIRST[len(ROOT):], "stop")
    assert [s.ids[0] for s in again.spawns] == ["4", "5", "6"]  # fresh ids every round


def test_join_bytes_are_the_controllers():
    assert join_block(["0,0", "0,1"], [None, "Moving to Node #0,1\nX\n10,10 equal: Goal Reached"]) == (
        "<Sub Searches>\n<No Solution in Sub Search 0 at level 1 at Node #0,0>\n"
        "<Goal Reached in Sub Search 1 at level 1 at Node #0,1>\nMoving to Node #0,1\nX\n10,10 equal: Goal Reached\n"
        "<End Sub Searches>\n")
    assert search_result("a Goal Reached\n" + PATH + "\n") == PATH
    assert search_result("12,24 unequal: No Solution\nNo solution found.\n") is None


def test_children_send_their_result_or_an_empty_no_solution():
    child = thread("2", "Moving to Node #0,1\nCurrent State: 24:[4, 6], Operations: ['2*3=6']", "0")
    found = AprDialect().parse(child, "\nExploring Operation: 4*6=24, Resulting Numbers: [24]\n24,24 equal: Goal Reached\n"
                               "Moving to Node #0,1\nCurrent State: 24:[4, 6], Operations: ['2*3=6']\n"
                               "Exploring Operation: 4*6=24, Resulting Numbers: [24]\n24,24 equal: Goal Reached\n", "stop")
    assert found.sends[0].ids == ("0",) and found.sends[0].payload.startswith("Moving to Node #0,1\n")
    assert found.terminal == Stop(None)
    none = AprDialect().parse(child, "\nNo solution found.\n", "length")
    assert none.sends == [Send(("0",), "")]


def test_a_spawn_at_an_unknown_node_is_a_protocol_error():
    bad = "\n<Calling Sub Searches>\n<Start Sub Search 0 at level 1> Moving to Node #0,9\n<End Calling Sub Searches>\n"
    step = AprDialect().parse(thread("0", ROOT), bad, "stop")
    assert step.terminal is None and step.errors and not step.spawns


def test_sos_ends_truncated_only_when_cut_without_an_answer():
    t = thread("0", "Current State: 24:[2, 3, 4], Operations: []")
    assert SosDialect().parse(t, "\nExploring Operation: 2+3=5", "length").terminal is None
    assert SosDialect().parse(t, "\nNo solution found.\n", "stop").terminal == Stop(None)


class Writer:
    """A stand-in model below the Backend interface: scripted responses, keyed by prompt ending."""

    def __init__(self, script):
        self.script, self.prompts = script, []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        for ending, response in self.script:
            if prompt.endswith(ending):
                return response
        return "\nNo solution found.\n"  # children


def test_a_parent_writing_sub_searches_is_corrected_and_decodes_again():
    """The controller's stop string: `<Sub Searches>` is replaced by `<Calling Sub Searches>` and
    the model goes on; the join then rewinds to before that line, across the two steps."""
    head = FIRST[len(ROOT):FIRST.index("<Calling Sub Searches>")]
    spawn = FIRST[FIRST.index("<Calling Sub Searches>") + len("<Calling Sub Searches>"):]
    writer = Writer([(ROOT, head + "<Sub Searches>\n<Goal Reached in Sub Search 0 … invented>"),
                     ("<Calling Sub Searches>", spawn),
                     ("<End Sub Searches>\n", "\nNo solution found.\n")])
    world = World("s", ROOT, Caps(), Sampling(), dialect=AprDialect())
    asyncio.run(Scheduler(ScriptedBackend(writer, counter=_Chars())).run(world, "sync"))
    root = [p for p in writer.prompts if p.startswith("Moving to Node #0\n")]
    assert root[1] == ROOT + head + "<Calling Sub Searches>"  # corrected, invented text dropped
    assert root[2] == ROOT + head + join_block(re.findall(r"> Moving to Node #([0-9,]+)", spawn), [None] * 3)
    assert world.metrics.status == "ok" and world.metrics.n_threads == 4
    assert [c.thread_id for c in world.calls][:2] == ["0", "0"]


class _Chars:
    name, exact = "chars", False

    def count(self, text: str) -> int:
        return len(text)

    def overhead(self, system: str | None) -> int:
        return 0


# -- runs: window, noise, options, export ---------------------------------------------------------
def test_a_serial_trace_that_outgrows_the_window_ends_truncated_and_wrong(tmp_path):
    samples, calls = run(tmp_path / "a", "sos", n=20, seed=1, backend_options={"max_model_len": 1024})
    cut = samples[samples.status == "truncated"]
    assert len(cut) > 0 and not cut.correct.any()
    assert (calls.prompt_tokens + calls.completion_tokens).max() <= 1024
    free, _ = run(tmp_path / "b", "sos", n=20, seed=1)
    assert (free.status == "ok").all() and free.correct.sum() > samples.correct.sum()
    assert (free.set_index("instance_id").loc[cut.instance_id, "gen_tokens"] > 900).all()


def test_apr_stays_inside_the_window_where_sos_does_not(tmp_path):
    apr, calls = run(tmp_path / "a", "apr", n=20, seed=1, backend_options={"max_model_len": 4096})
    sos, _ = run(tmp_path / "b", "sos", n=20, seed=1, backend_options={"max_model_len": 4096})
    assert apr.correct.sum() > sos.correct.sum()
    assert (apr.longest_call_tokens == apr.peak_context_tokens).all()
    assert (apr.critical_path_tokens < apr.gen_tokens).any()  # children run in parallel
    kids = calls[calls.thread_id != "0"]
    assert kids.prompt.str.startswith("Moving to Node #0,").all() and (kids.step == 0).all()


@pytest.mark.parametrize("strategy", ["sos", "apr"])
def test_noise_takes_wrong_branches_and_stays_well_formed(tmp_path, strategy):
    clean, _ = run(tmp_path / "a", strategy, n=20, seed=3)
    noisy, calls = run(tmp_path / "b", strategy, n=20, seed=3,
                       backend_options={"error_rate": 1.0, "error_model": "step"})
    assert noisy.correct.sum() < clean.correct.sum()
    assert (noisy.n_protocol_errors == 0).all() and noisy.status.isin(["ok", "truncated"]).all()
    assert any(re.search(r"(\d+),\1 unequal: No Solution", r) for r in calls.response)  # a misjudged goal


def test_misjudged_child_results_keep_the_parent_consistent():
    task = CountdownTask(CountdownTask.Options(**{"max_beam": 3, "min_beam": 3, "max_sub_beam": 1}))
    prompt = APR["apr_trace_dict"]["main_calls"][-1]
    prompt = prompt[: prompt.rindex("<End Sub Searches>\n") + len("<End Sub Searches>\n")]  # the last join
    clean = task.policy("apr")(prompt)
    assert clean == APR["apr_trace_dict"]["main_calls"][-1][len(prompt):]
    assert clean.startswith("10,10 equal: Goal Reached")
    wrong = task.corrupt("apr", prompt, clean, random.Random(0))
    assert not wrong.startswith("10,10 equal: Goal Reached")  # went on as if no child succeeded
    assert wrong.endswith(("No solution found.\n", "<End Calling Sub Searches>\n", "Goal Reached\n"))


def test_strategy_options_condition_the_prompts(tmp_path):
    samples, calls = run(tmp_path, "apr", n=5, seed=2, strategy_options={"sub_calls": 2, "child_budget": 1024})
    roots = calls[(calls.thread_id == "0") & (calls.step == 0)]
    assert roots.prompt.str.startswith("Sub Call Budget: 2 Moving to Node #0\n").all()
    kids = calls[calls.thread_id != "0"]
    assert len(kids) and kids.prompt.str.startswith("Token Budget: 1024 Moving to Node #0,").all()
    per_round = calls[calls.thread_id == "0"].directives.str.count(r"spawn")
    assert per_round.max() <= 2  # the reference spawns at most N children a round


def invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output


@pytest.mark.parametrize("args,needle", [
    (["-s", "sos", "-S", "sub_calls=3"], "sub_calls"),
    (["-s", "cot"], "does not run on task 'countdown'"),
    (["-s", "apr", "-T", "numbers=9"], "numbers"),
    (["-s", "apr", "-T", "min_numbers=5"], "min_numbers"),
])
def test_bad_input_is_one_clear_error(tmp_path, args, needle):
    code, out = invoke("run", "-t", "countdown", *args, "-b", "scripted", "-n", "2", "--out", str(tmp_path), "-q")
    assert code == 2 and needle in out, out


def test_data_files_with_apr_columns_load_and_bad_records_are_named(tmp_path):
    good = tmp_path / "val.json"
    good.write_text(json.dumps(GOLDEN["problems_seed_42"]))
    samples, _ = run(tmp_path / "r", "apr", data=str(good))
    assert len(samples) == 5 and samples.status.eq("ok").all()
    parquet = tmp_path / "val.parquet"
    pd.DataFrame(GOLDEN["problems_seed_42"]).to_parquet(parquet)
    assert [i.data["nums"] for i in CountdownTask().load(str(parquet), 2)] == [
        p["nums"] for p in GOLDEN["problems_seed_42"][:2]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"nums": [1, 2], "target": 3}\n{"nums": [1, "x"], "target": 3}\n')
    code, out = invoke("run", "-t", "countdown", "-s", "sos", "-b", "scripted", "--data", str(bad),
                       "--out", str(tmp_path / "o"), "-q")
    assert code == 2 and "bad.jsonl:2" in out and "nums" in out


@pytest.mark.parametrize("protocol", ["sos", "apr"])
def test_export_sft_writes_both_protocols(tmp_path: Path, protocol: str):
    code, out = invoke("export-sft", "--task", "countdown", "--protocol", protocol, "-n", "4",
                       "--out", str(tmp_path / "sft"), "-q")
    assert code == 0, out
    rows = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "sft").glob("*.parquet"))])
    users = [m[1]["content"] for m in rows.messages]
    if protocol == "sos":
        assert all(u.startswith("Current State: ") for u in users)
    else:
        assert any(u.startswith("Moving to Node #0,") for u in users)  # children: message only
        assert (rows.role == "worker").any() and (rows.role == "master").any()
