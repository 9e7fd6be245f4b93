"""`compare A B`: paired differences with bootstrap intervals on runs with a known difference."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from analysis_data import invoke, scripted_root, synthetic_run

from mplm_bench.analysis.compare import compare_frames
from mplm_bench.analysis.load import find_runs, load_samples

N = 20


@pytest.fixture
def pair(tmp_path):
    """B: +100 generated tokens on every instance, half the critical path, 4 of 20 wrong."""
    base = [{"gen_tokens": 1000 + 37 * i, "critical_path_tokens": 400.0 + 11 * i} for i in range(N)]
    a = synthetic_run(tmp_path, "toy-a", base)
    b = synthetic_run(tmp_path, "toy-b", [r | {"gen_tokens": r["gen_tokens"] + 100,
                                              "critical_path_tokens": r["critical_path_tokens"] / 2,
                                              "correct": i % 5 != 0}
                                          for i, r in enumerate(base)])
    return a, b


def test_known_differences(pair):
    a, b = (load_samples(find_runs([p])) for p in pair)
    r = compare_frames(a, b, ["correct", "gen_tokens", "critical_path_tokens", "peak_context_tokens"]).set_index("metric")
    assert (r["n_pairs"] == N).all()
    gen = r.loc["gen_tokens"]
    assert gen["diff"] == 100 and gen["diff_lo"] == pytest.approx(100) and gen["diff_hi"] == pytest.approx(100)
    assert gen["rel"] == pytest.approx(100 / gen["mean_a"])
    cp = r.loc["critical_path_tokens"]
    assert cp["rel"] == pytest.approx(-0.5) and cp["rel_lo"] == pytest.approx(-0.5) and cp["verdict"] == "better"
    acc = r.loc["correct"]
    assert acc["diff"] == pytest.approx(-0.2) and acc["diff_lo"] < -0.2 < acc["diff_hi"] < 0
    assert acc["worse"] and acc["verdict"] == "WORSE"
    assert r.loc["peak_context_tokens", "diff"] == 0 and r.loc["peak_context_tokens", "verdict"] == "~"
    # +100 on ~1,350 is ~7%: worse beyond a 5% tolerance, not beyond 10%
    assert gen["worse"]
    loose = compare_frames(a, b, ["gen_tokens"], tol_cost=0.10).iloc[0]
    assert not loose["worse"]


def test_exit_codes_and_formats(pair):
    a, b = map(str, pair)
    assert invoke("compare", a, b).returncode == 0  # informative unless asked to fail
    r = invoke("compare", a, b, "--fail-if-worse")
    assert r.returncode == 1 and "WORSE" in r.stdout
    r = invoke("compare", a, b, "--fail-if-worse", "--tol-accuracy", "0.5", "--tol-cost", "0.2")
    assert r.returncode == 0, r.stdout
    r = invoke("compare", a, a, "--fail-if-worse", "-f", "json")
    rows = json.loads(r.stdout)
    assert r.returncode == 0 and all(x["diff"] == 0 and not x["worse"] for x in rows)
    r = invoke("compare", a, b, "-m", "n_calls", "-f", "csv")
    assert r.returncode == 0 and r.stdout.startswith("metric,n_pairs,mean_a,mean_b,diff")


def test_pairs_only_shared_instances(tmp_path):
    a = synthetic_run(tmp_path, "toy-a", [{}] * 6)
    b = synthetic_run(tmp_path, "toy-b", [{"instance_id": f"toy-{i:03d}"} for i in range(3, 9)])
    r = compare_frames(load_samples(find_runs([a])), load_samples(find_runs([b])), ["gen_tokens"])
    assert r["n_pairs"].iloc[0] == 3


def test_real_runs_fj_against_mplm(tmp_path_factory):
    """Two scripted runs on the same instances: the table's means are the runs' means."""
    root = scripted_root(tmp_path_factory)
    df = load_samples([root])
    sel = df[(df["task"] == "sudoku") & (df["size"] == 9)]
    fj, mplm = (sel[sel["strategy"] == s] for s in ("fj", "mplm"))
    r = invoke("compare", fj["run_dir"].iloc[0], mplm["run_dir"].iloc[0], "-f", "json")
    rows = {x["metric"]: x for x in json.loads(r.stdout)}
    merged = pd.merge(fj, mplm, on=["instance_id", "repeat"], suffixes=("_a", "_b"))
    d = merged["critical_path_tokens_b"] - merged["critical_path_tokens_a"]
    assert rows["critical_path_tokens"]["diff"] == pytest.approx(d.mean())
    assert rows["critical_path_tokens"]["diff_hi"] < 0  # MPLM's critical path is shorter at 9×9


@pytest.mark.parametrize("which,needle", [("root", "holds 2 runs"), ("missing", "no such file")])
def test_compare_errors_exit_2(pair, which, needle):
    a, _ = pair
    other = a.parent if which == "root" else a.parent / "nope"
    r = invoke("compare", str(a), str(other))
    assert r.returncode == 2 and needle in r.stderr


def test_no_shared_instances_is_an_error(tmp_path):
    a = synthetic_run(tmp_path, "toy-a", [{}])
    b = synthetic_run(tmp_path, "toy-b", [{"instance_id": "other"}])
    r = invoke("compare", str(a), str(b))
    assert r.returncode == 2 and "share no" in r.stderr
