"""Repeated-sampling metrics (analysis/sampling.py): pass@k against a brute-force count, mean@k,
maj@k, and each in report, check, compare and the Python API."""

from __future__ import annotations

import itertools
import json
import math

import pandas as pd
import pytest
from analysis_data import invoke, synthetic_run

from mplm_bench.analysis.check import evaluate, load_spec
from mplm_bench.analysis.compare import compare_frames
from mplm_bench.analysis.load import load_samples
from mplm_bench.analysis.report import summarize
from mplm_bench.analysis.sampling import (
    estimate,
    majority,
    parse_metric,
    pass_at_k,
    per_instance,
    report_ks,
)

# instance -> correctness of its repeats 0..4, and the normalised answers they gave
TABLE = {
    "i0": ([1, 0, 0, 1, 0], ["7", "8", "9", "7", "8"]),
    "i1": ([0, 0, 0, 0, 0], ["1", "2", "2", None, "2"]),
    "i2": ([1, 1, 1, 1, 1], ["5", "5", "5", "5", "5"]),
    "i3": ([0, 1, 0, 0, 0], ["4", "3", "4", "4", "6"]),
}


def frame() -> pd.DataFrame:
    rows = [{"instance_id": i, "repeat": r, "correct": bool(c), "parsed_answer": a}
            for i, (cs, answers) in TABLE.items() for r, (c, a) in enumerate(zip(cs, answers, strict=True))]
    return pd.DataFrame(rows)


def brute_pass(cs: list[int], k: int) -> float:
    """The share of all k-subsets of the samples that hold a correct one."""
    subsets = list(itertools.combinations(cs, k))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_pass_at_k_is_the_brute_force_count_of_k_subsets(k):
    df = frame()
    got = per_instance(df, "pass", k)
    for i, (cs, _) in TABLE.items():
        assert got[i] == pytest.approx(brute_pass(cs, k))
        assert pass_at_k(len(cs), sum(cs), k) == pytest.approx(brute_pass(cs, k))
    want = sum(brute_pass(cs, k) for cs, _ in TABLE.values()) / len(TABLE)
    value, lo, hi = estimate(df, "pass", k)
    assert value == pytest.approx(want) and lo <= value <= hi


def test_pass_at_k_edges():
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(5, 2, 4) == 1.0  # any 4 of 5 hold one of the 2 correct
    assert math.isnan(pass_at_k(3, 1, 4))
    assert pass_at_k(200, 3, 100) == pytest.approx(1 - math.comb(197, 100) / math.comb(200, 100))


def test_mean_and_maj_read_the_first_k_repeats():
    df = frame()
    assert per_instance(df, "mean", 2).to_dict() == {"i0": 0.5, "i1": 0.0, "i2": 1.0, "i3": 0.5}
    # i0: 7 (right) vs 8 tie at k=2 -> smallest string "7"; at k=5: 7,8 tie 2-2 -> "7"
    # i3: 4 wins (wrong) at k=5; at k=2 "3" (right) and "4" tie -> "3"
    assert per_instance(df, "maj", 5).to_dict() == {"i0": 1.0, "i1": 0.0, "i2": 1.0, "i3": 0.0}
    assert per_instance(df, "maj", 2).to_dict() == {"i0": 1.0, "i1": 0.0, "i2": 1.0, "i3": 1.0}
    assert majority([None, None]) is None and majority(["b", "a", "b"]) == "b"
    value, lo, hi = estimate(df, "maj", 5)
    assert value == 0.5 and 0 < lo < 0.5 < hi < 1  # Wilson over 4 instances


def test_metric_names_and_report_ks():
    assert parse_metric("pass@8") == ("pass", 8) and parse_metric("avg@4") == ("mean", 4)
    assert parse_metric("cons@2") == ("maj", 2)
    assert parse_metric("pass@0") is None and parse_metric("pass8") is None and parse_metric("gen_tokens") is None
    assert report_ks(8) == [1, 2, 4, 8] and report_ks(6) == [1, 2, 4, 6] and report_ks(1) == [1]


@pytest.fixture
def repeated(tmp_path):
    rows = [{"instance_id": i, "repeat": r, "correct": bool(c), "parsed_answer": a or None, "task": "toy"}
            for i, (cs, answers) in TABLE.items() for r, (c, a) in enumerate(zip(cs, answers, strict=True))]
    return synthetic_run(tmp_path / "runs", "toy-k", rows, manifest={"config": {"repeats": 5}})


def test_report_has_the_metrics_only_with_repeats(repeated, tmp_path):
    s = summarize(load_samples([repeated])).iloc[0]
    assert s["repeats"] == 5
    assert s["pass@1"] == pytest.approx(8 / 20) and s["mean@5"] == pytest.approx(8 / 20)
    assert s["pass@5"] == pytest.approx(0.75) and s["maj@5"] == 0.5
    assert s["pass@2_lo"] <= s["pass@2"] <= s["pass@2_hi"]
    single = synthetic_run(tmp_path / "one", "toy-1", [{}, {}])
    assert "repeats" not in summarize(load_samples([single])).columns
    r = invoke("report", str(repeated))
    assert r.returncode == 0
    for head in ("pass@1", "pass@5", "mean@5", "maj@5"):
        assert head in r.stdout
    rows = json.loads(invoke("report", str(repeated), "-f", "json").stdout)
    assert rows[0]["pass@4"] == pytest.approx(sum(brute_pass(cs, 4) for cs, _ in TABLE.values()) / 4)


def test_check_rules_name_them(repeated, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("- pass@5: {min: 0.75}\n  maj@5: {max: 0.5}\n  avg@5: {min: 0.35}\n- pass@6: {min: 0}\n")
    result = evaluate(load_samples([repeated]), load_spec(spec))
    assert result.set_index("metric")["passed"].to_dict() == {"pass@5": True, "maj@5": True, "avg@5": True,
                                                              "pass@6": False}  # 6 > the repeats: fails
    r = invoke("check", str(repeated), "--spec", str(spec))
    assert r.returncode == 1 and "pass@6" in r.stdout


def test_compare_pairs_instances(repeated, tmp_path):
    a = load_samples([repeated])
    b = a.copy()
    b["correct"] = True
    r = compare_frames(a, b, ["pass@1", "maj@5", "correct"]).set_index("metric")
    assert r.loc["pass@1", "n_pairs"] == 4 and r.loc["correct", "n_pairs"] == 20
    assert r.loc["maj@5", "mean_a"] == 0.5 and r.loc["maj@5", "mean_b"] == 1.0
    assert r.loc["pass@1", "verdict"] in ("better", "~")


def test_compare_speedup_is_mean_latency_a_over_b(tmp_path):
    a = synthetic_run(tmp_path / "a", "toy-a", [{"critical_path_tokens": 600.0}] * 3)
    b = synthetic_run(tmp_path / "b", "toy-b", [{"critical_path_tokens": 300.0}, {"critical_path_tokens": 400.0},
                                                 {"critical_path_tokens": 500.0}])
    r = compare_frames(load_samples([a]), load_samples([b]), ["speedup"]).iloc[0]
    assert r["speedup"] == pytest.approx(1.5) and r["speedup_lo"] <= 1.5 <= r["speedup_hi"]
    assert r["verdict"] == "faster"


def test_the_api_and_the_done_when_command(tmp_path):
    from mplm_bench import run

    result = run("multiply", "threadweaver", backend="scripted", n=10, repeats=4, out=tmp_path,
                 backend_options={"error_rate": 0.5, "error_model": "step"})
    table = result.sampling_metrics()
    assert sorted(table["metric"]) == sorted(f"{m}@{k}" for m in ("pass", "mean", "maj") for k in range(1, 5))
    got = table.set_index("metric")
    assert got.loc["pass@1", "value"] == pytest.approx(result.samples()["correct"].mean())
    assert got.loc["pass@1", "value"] <= got.loc["pass@4", "value"]
    assert result.report().iloc[0]["pass@4"] == got.loc["pass@4", "value"]
    r = invoke("report", str(result.dir))
    for head in ("pass@1", "pass@4", "mean@4", "maj@4"):
        assert head in r.stdout


def test_system_metrics_and_old_names(tmp_path):
    """An adaptive run from before the renames reads under today's names, with ThreadWeaver's
    acceleration ratio derived; the report and check show each system's rate."""
    old = [{"token_latency": 300.0, "total_tokens": 600, "acceleration": 2.0, "parallel_ratio": 0.4,
            "activated": i != 0} for i in range(4)]
    run = synthetic_run(tmp_path / "runs", "toy-old", old)
    df = load_samples([run])
    assert {"avg_parallelism", "thread_token_share"} <= set(df.columns)
    assert not {"acceleration", "parallel_ratio"} & set(df.columns)
    assert (df["acceleration_ratio"] == 0.5).all()
    s = summarize(df).iloc[0]
    assert s["activation_ratio"] == 0.75 and s["acceleration_ratio_mean"] == 0.5
    assert s["avg_parallelism_mean"] == 2.0 and s["token_latency_mean"] == 300.0
    spec = tmp_path / "spec.yaml"
    spec.write_text("- activation_ratio: {min: 0.7}\n  acceleration_ratio: {min: 0.5}\n"
                    "  emergent_correctness_rate: {min: 0}\n")
    passed = evaluate(df, load_spec(spec)).set_index("metric")["passed"].to_dict()
    assert passed == {"activation_ratio": True, "acceleration_ratio": True, "emergent_correctness_rate": False}


def test_emergent_correctness_counts_synthesis_over_all_wrong_inputs():
    from mplm_bench.strategies.pacore import emergent

    class T:
        def __init__(self, id_):
            self.id = id_

    rounds = [[T("a"), T("b")], [T("c")]]
    assert emergent([[], ["a", "b"]], rounds, {"a": False, "b": False, "c": True}) == \
        {"emergent_trials": 1, "emergent_correct": 1}
    assert emergent([[], ["a", "b"]], rounds, {"a": True, "b": False, "c": True}) == \
        {"emergent_trials": 0, "emergent_correct": 0}


def test_apr_token_counts_follow_eval_apr():
    from mplm_bench.runtime.accounting import CallRecord
    from mplm_bench.strategies.apr_columns import apr_columns

    def call(thread, step, p, c):
        return CallRecord(call=0, thread_id=thread, parent_id=None, step=step, round=0, prompt_tokens=p,
                          completion_tokens=c)
    calls = [call("0", 0, 50, 800), call("1", 0, 60, 900), call("2", 0, 60, 1000), call("0", 1, 1000, 300)]
    # sequences 850, 960, 1060, 1300; root calls 0 and 1 share the first one's 850
    got = apr_columns(calls)
    assert got == {"token_count": 850 + 960 + 1060 + 1300 - 850, "longest_seq_token_count": 1300,
                   "avg_seq_token_count": round(3320 / 3, 3)}
    assert apr_columns(calls[:1]) == {"token_count": 850, "longest_seq_token_count": 850, "avg_seq_token_count": 850}


def test_plots_of_the_sampling_metrics_and_of_each_systems_efficiency(tmp_path):
    from mplm_bench import run

    for strategy in ("cot", "threadweaver"):
        run("multiply", strategy, backend="scripted", n=6, repeats=4, out=tmp_path / "runs",
            backend_options={"error_rate": 0.4, "error_model": "step"})
    r = invoke("plot", str(tmp_path / "runs"), "-k", "sampling", "-o", str(tmp_path / "s.svg"))
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "s.svg").read_text()
    assert "pass@k" in svg and "maj@k" in svg and "mean@k" in svg
    r = invoke("plot", str(tmp_path / "runs"), "-k", "accuracy-compute", "--x", "accel", "-o", str(tmp_path / "a.svg"))
    assert r.returncode == 0, r.stderr
    assert "acceleration ratio" in (tmp_path / "a.svg").read_text()
    single = run("multiply", "cot", backend="scripted", n=2, out=tmp_path / "one")
    r = invoke("plot", str(single.dir), "-k", "sampling", "-o", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "--repeats" in r.stderr


def test_two_runs_in_one_row_are_two_sets_of_instances(tmp_path):
    rows = [{"instance_id": i, "repeat": r, "correct": bool(c), "parsed_answer": a}
            for i, (cs, answers) in TABLE.items() for r, (c, a) in enumerate(zip(cs, answers, strict=True))]
    synthetic_run(tmp_path / "runs", "toy-k1", rows)
    synthetic_run(tmp_path / "runs", "toy-k2", rows)
    s = summarize(load_samples([tmp_path / "runs"])).iloc[0]
    assert s["repeats"] == 5 and "pass@10" not in s  # not 10 repeats of 4 instances
    assert s["pass@5"] == pytest.approx(0.75)
