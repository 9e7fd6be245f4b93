"""Countdown instances and the scripted `sos` / `apr` traces equal what APR's own code writes.

Expected text: tests/data/countdown_apr_golden.json, written by APR's generator functions at
Parallel-Reasoning/APR commit 557792831087b701e0d41912eaf785c8d73e6f69 (checked out outside
this project), in one process (the upstream scripts' multiprocessing pools reseed `random` in
every worker, so their own runs cannot be replayed from --seed):

    random.seed(42)   # then, 5 times (create_prob.sh's settings):
    problems.append(src.data.generate_problems.generate_problem(
        Namespace(start_range=4, min_range=4, max_target=100), list(range(10, 101)), "train", set()))
    # problem 3, [28, 52, 8, 22] -> 66: SoS+ (generate_sosp.py's defaults)
    random.seed(S_sos); src.data.generate_sosp.generate_search(Namespace(max_beam_size=5), p3)["search_path"]
    # problem 4, [25, 38, 28, 8] -> 10: APR, root beam 3, sub-call beam 1
    random.seed(S_apr); src.data.generate_apr.generate_search(p4, Namespace(min_beam_size=3,
        max_beam_size=3, max_sub_call_beam_size=1, promising_threshold=0.9))["trace_dict"]

S_sos / S_apr are the seeds our reference policy derives from each root prompt (recorded in the
fixture as sos_seed / apr_seed; `SearchConfig.rng` with search_seed 0). The run was
`PYTHONPATH=<stub>:<APR checkout> python make.py countdown_apr_golden.json 5`, the stub being a
stand-in `transformers` whose tokenizer feeds only generate_apr's token-count columns. A sub-call
beam of 1 makes upstream's sub searches draw nothing from its shared random stream, so its whole
trace_dict is a function of the prompts, which is what a policy that sees one prompt can write.
Problem 4's root spawns three times; the third join carries a goal.
"""

from __future__ import annotations

import random

import pytest
from countdown_golden import GOLDEN, run

from mplm_bench.tasks.countdown.generator import generate
from mplm_bench.tasks.countdown.policies import SearchConfig

APR_SEARCH = {"max_beam": 3, "min_beam": 3, "max_sub_beam": 1}


def test_instances_are_the_problems_apr_generates_from_the_same_seed():
    mine = [p.record() for p in generate(random.Random(42), 5, 4, 4, 100)]
    assert mine == GOLDEN["problems_seed_42"]  # nums, target, solution, optimal_path, start_size


def test_the_fixture_seeds_are_the_ones_the_policies_derive():
    g, cfg = GOLDEN, SearchConfig()
    sos_key = f"Current State: {g['sos']['target']}:{g['sos']['nums']}, Operations: []"
    apr_key = f"Moving to Node #0\nCurrent State: {g['apr']['target']}:{g['apr']['nums']}, Operations: []"
    for key, seed in ((sos_key, g["sos"]["sos_seed"]), (apr_key, g["apr"]["apr_seed"])):
        assert cfg.rng(key).random() == random.Random(seed).random()


def test_scripted_sos_trace_is_byte_for_byte_apr_generate_sosp(tmp_path):
    samples, calls = run(tmp_path, "sos")
    iid = samples["instance_id"][GOLDEN["sos"]["index"]]
    (call,) = calls[calls.instance_id == iid].itertuples()
    assert call.prompt + call.response == GOLDEN["sos"]["sos_search_path"]
    assert bool(samples.set_index("instance_id").loc[iid, "correct"])


def test_scripted_apr_trace_is_byte_for_byte_apr_generate_apr(tmp_path):
    samples, calls = run(tmp_path, "apr", task=APR_SEARCH)
    iid = samples["instance_id"][GOLDEN["apr"]["index"]]
    mine = calls[calls.instance_id == iid].sort_values("call")
    expected = GOLDEN["apr"]["apr_trace_dict"]
    root = mine[mine.thread_id == "0"]
    assert [p + r for p, r in zip(root.prompt, root.response, strict=True)] == expected["main_calls"]
    children = mine[mine.thread_id != "0"]
    want = [sub["main_calls"][0] for rnd in expected["sub_calls"] for sub in rnd]
    # children are numbered in spawn order across rounds; each prompt is only its message
    got = [p + r for _, p, r in sorted(zip(children.thread_id.astype(int), children.prompt, children.response, strict=True))]
    assert got == want
    assert all(p.startswith("Moving to Node #0,") for p in children.prompt)
    sample = samples.set_index("instance_id").loc[iid]
    assert bool(sample["correct"]) and sample["status"] == "ok"
    assert sample["spawn_rounds"] == 3 and sample["sub_searches"] == 9


@pytest.mark.parametrize("index", range(5))
def test_every_fixture_problem_scores_its_upstream_solution(index):
    from mplm_bench.tasks.countdown.scoring import check_path

    p = GOLDEN["problems_seed_42"][index]
    assert check_path(p["nums"], p["target"], p["optimal_path"]).correct
