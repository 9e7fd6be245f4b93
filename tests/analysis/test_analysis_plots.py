"""`plot`: every kind renders to PNG, PDF and SVG, and the files open as images."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from analysis_data import cli, invoke, scripted_root

from mplm_bench.analysis.load import load_calls, load_samples
from mplm_bench.analysis.plots import plot
from mplm_bench.analysis.timeline import arrows

pytest.importorskip("matplotlib")


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    return scripted_root(tmp_path_factory)


def assert_png(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert float(np.std(img[..., :3])) > 0.01  # not a blank canvas


def assert_svg(path, *texts):
    tree = ET.parse(path)
    assert tree.getroot().tag.endswith("svg")
    body = path.read_text()
    for t in texts:  # text stays text (svg.fonttype none): searchable, editable
        assert t in body, t


def assert_pdf(path):
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and len(data) > 2000


KINDS = [
    ("scaling", {"where": {"task": "sudoku"}}, ["critical path (tokens)", "cells N²", "α ="]),
    ("accuracy-compute", {}, ["accuracy", "generated tokens", "sudoku", "sat"]),
    ("accuracy-compute", {"x": "critical-path", "where": {"task": "sat"}}, ["critical path"]),
    ("timeline", {"where": {"task": "sudoku", "strategy": "mplm", "size": 4}}, ["virtual time (tokens)", "spawn", "message"]),
    ("timeline", {"where": {"task": "sat", "strategy": "fj"}, "x": "wall"}, ["wall time (s)"]),
    ("diversity", {"where": {"task": "sudoku"}}, ["accuracy", "conformity", "MPLM"]),
]


@pytest.mark.parametrize("kind,kw,texts", KINDS)
def test_every_kind_renders_to_png_pdf_svg(root, tmp_path, kind, kw, texts):
    outs = [tmp_path / f"fig.{ext}" for ext in ("png", "pdf", "svg")]
    assert plot([str(root)], kind, outs, **kw) == outs
    assert_png(outs[0])
    assert_pdf(outs[1])
    assert_svg(outs[2], *texts)


def test_plot_through_the_cli(root, tmp_path):
    out = tmp_path / "figs" / "scaling.svg"
    r = cli("plot", str(root), "--kind", "scaling", "-w", "task=sudoku", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and "MPLM: critical_path_tokens ∝ x^" in r.stderr
    assert_svg(out, "MPLM")


def test_vector_output_is_reproducible(root, tmp_path):
    for ext in ("svg", "pdf"):
        a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
        plot([str(root)], "scaling", [a], where={"task": "sudoku"})
        plot([str(root)], "scaling", [b], where={"task": "sudoku"})
        assert a.read_bytes() == b.read_bytes(), ext


def test_timeline_arrows_follow_spawns_and_messages(root):
    df = load_samples([root])
    run = df[(df["task"] == "sudoku") & (df["strategy"] == "fj") & (df["size"] == 4)]["run_dir"].iloc[0]
    iid = sorted(df.loc[df["run_dir"] == run, "instance_id"])[0]
    calls = load_calls(run, iid, 0)
    found = arrows(calls, "start_v", "end_v")
    spawns = [a for a in found if a[4] == "spawn"]
    messages = [a for a in found if a[4] == "message"]
    workers = set(calls.loc[calls["thread_id"] != "0", "thread_id"])
    assert {a[2] for a in spawns} == workers and all(a[0] == "0" for a in spawns)
    # every worker's answer goes back to the master; an arrow never points back in time
    assert {a[0] for a in messages} == workers and all(a[2] == "0" for a in messages)
    assert all(t_src <= t_dst for _, t_src, _, t_dst, _ in found)


@pytest.mark.parametrize("args,needle", [
    (["--kind", "pie", "--out", "x.png"], "--kind 'pie'"),
    (["--kind", "scaling", "--out", "x.jpg"], "must end in"),
    (["--kind", "scaling", "--out", "x.png"], "one task per figure"),
    (["--kind", "scaling", "-w", "task=sat", "--metric", "nope", "--out", "x.png"], "unknown column 'nope'"),
    (["--kind", "timeline", "--out", "x.png"], "one run at a time"),
    (["--kind", "timeline", "-w", "strategy=mplm", "-w", "task=sat", "--instance", "zz", "--out", "x.png"], "no sample zz"),
])
def test_plot_errors_are_one_line_exit_2(root, tmp_path, args, needle):
    r = invoke("plot", str(root), *[a if not a.startswith("x.") else str(tmp_path / a) for a in args])
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert not list(tmp_path.iterdir())


def test_scaling_fit_matches_the_table(root):
    from mplm_bench.analysis.stats import fit_power_law

    df = load_samples([root])
    mplm = df[(df["task"] == "sudoku") & (df["strategy"] == "mplm")]
    means = mplm.groupby("n_cells")["critical_path_tokens"].mean()
    fit = fit_power_law(means.index.to_numpy(), means.to_numpy())
    expected = np.log(means.iloc[1] / means.iloc[0]) / np.log(81 / 16)  # two sizes: the exact slope
    assert fit.exponent == pytest.approx(expected)
    assert isinstance(means, pd.Series)
