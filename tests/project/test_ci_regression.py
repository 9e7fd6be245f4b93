"""CI regression gate: the committed scripted sweep must meet the committed thresholds.

`make test` (what CI runs) fails when a change breaks a protocol's correctness or raises its
cost (critical path, peak context, generated tokens) beyond the margins in
configs/ci_thresholds.yaml. After a deliberate change, re-measure (see that file's header).
"""

from __future__ import annotations

from analysis_data import cli
from cli_helpers import REPO as ROOT


def test_ci_sweep_meets_committed_thresholds(tmp_path):
    r = cli("sweep", str(ROOT / "configs" / "ci_sweep.yaml"), "--out", str(tmp_path), "-q")
    assert r.returncode == 0, r.stderr
    r = cli("check", str(tmp_path), "--spec", str(ROOT / "configs" / "ci_thresholds.yaml"))
    assert r.returncode == 0, "protocol regression:\n" + r.stdout + r.stderr
    assert "all " in r.stderr and "checks passed" in r.stderr


def test_committed_configs_are_valid():
    from mplm_bench.analysis.check import load_spec
    from mplm_bench.sweep_config import expand, load_sweep

    for name, cells in (("sudoku_scaling", 12), ("sat", 15), ("ci_sweep", 12)):
        assert len(expand(load_sweep(ROOT / "configs" / f"{name}.yaml"))) == cells, name
    assert len(load_spec(ROOT / "configs" / "ci_thresholds.yaml")) == 13
