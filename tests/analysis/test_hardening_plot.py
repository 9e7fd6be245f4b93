"""`plot --kind accuracy-compute` on groups at 100% (and 0%) accuracy (issue 22, item 7): the
Wilson interval always contains the estimate, so no error bar has a negative length."""

from __future__ import annotations

import pytest
from analysis_data import invoke, synthetic_run

from mplm_bench.analysis.stats import wilson

pytest.importorskip("matplotlib")


def test_the_wilson_interval_contains_the_estimate_at_the_extremes():
    for n in range(1, 400):
        for k in (0, n):
            lo, hi = wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n)
    assert wilson(10, 10)[1] == 1.0 and wilson(0, 7)[0] == 0.0


def test_accuracy_compute_plots_groups_at_100_percent(tmp_path):
    root = tmp_path / "runs"
    # 10/10 and 13/13 correct (floats put the upper bound below 1.0 there), and 0/7
    synthetic_run(root, "toy-a-000001", [{"strategy": "mplm"}] * 10)
    synthetic_run(root, "toy-b-000002", [{"strategy": "cot", "size": 9}] * 13)
    synthetic_run(root, "toy-c-000003", [{"strategy": "fj", "correct": False, "score": 0.0}] * 7)
    out = tmp_path / "acc.png"
    r = invoke("plot", root, "--kind", "accuracy-compute", "--out", out)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000
