"""`report`: its numbers equal pandas computations on the Parquet; loading; the four formats."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from analysis_data import cli, invoke, scripted_root, synthetic_run

from mplm_bench.analysis.load import find_runs, load_samples, select
from mplm_bench.analysis.report import group_keys, summarize
from mplm_bench.analysis.stats import wilson
from mplm_bench.config import ConfigError

MEANS = {"gen_tokens_mean": "gen_tokens", "critical_path_tokens_mean": "critical_path_tokens",
         "peak_context_tokens_mean": "peak_context_tokens", "n_calls_mean": "n_calls",
         "n_messages_mean": "n_messages", "n_preempted_mean": "n_preempted", "rounds_mean": "rounds",
         "wall_s_mean": "wall_s"}


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    return scripted_root(tmp_path_factory)


def raw_samples(root):
    """The Parquet read directly, without the loader."""
    return pd.concat([pd.read_parquet(m.parent / "samples") for m in root.rglob("manifest.json")],
                     ignore_index=True)


def test_find_runs_and_settings_columns(root):
    runs = find_runs([root])
    assert len(runs) == 9 and find_runs([runs[0].dir]) == [runs[0]]
    df = load_samples([root])
    assert len(df) == 36 and df["run_dir"].nunique() == 9
    assert {"seed", "p", "hard", "vars", "ratio", "temperature"} <= set(df.attrs["settings"])
    assert (df.loc[df["task"] == "sat", "vars"] == 6).all()
    assert (df.loc[df["task"] == "sudoku", "size"].isin([4, 9])).all()  # not overwritten
    assert len(select(df, {"strategy": ["fj", "mplm"], "size": 4})) == 8
    with pytest.raises(ConfigError, match="unknown column 'sise'"):
        select(df, {"sise": 4})
    (root / "empty").mkdir(exist_ok=True)
    with pytest.raises(ConfigError, match="no runs here"):
        find_runs([root / "empty"])
    # `vars` is fixed by size for sat, `seed` pools: neither splits the rows
    assert group_keys(df) == ["task", "size", "strategy"]


def test_report_numbers_equal_pandas_on_the_parquet(root):
    raw = raw_samples(root)
    summary = summarize(load_samples([root])).set_index(["task", "size", "strategy"])
    groups = raw.groupby(["task", "size", "strategy"])
    assert len(summary) == groups.ngroups == 9
    for key, g in groups:
        row = summary.loc[key]
        assert row["n"] == len(g)
        assert row["accuracy"] == g["correct"].mean()
        assert (row["accuracy_lo"], row["accuracy_hi"]) == wilson(int(g["correct"].sum()), len(g))
        assert row["gen_tokens_median"] == g["gen_tokens"].median()
        for col, src in MEANS.items():
            assert row[col] == pytest.approx(g[src].mean(), rel=1e-12), col
        assert row["statuses"] == g["status"].value_counts().to_dict()


def test_report_formats_through_the_cli(root):
    raw = raw_samples(root)
    r = cli("report", str(root), "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    mplm9 = next(x for x in rows if x["task"] == "sudoku" and x["size"] == 9 and x["strategy"] == "mplm")
    g = raw[(raw["task"] == "sudoku") & (raw["size"] == 9) & (raw["strategy"] == "mplm")]
    assert mplm9["critical_path_tokens_mean"] == pytest.approx(g["critical_path_tokens"].mean())
    assert mplm9["statuses"] == {"ok": 4}

    r = invoke("report", str(root), "-f", "csv", "--where", "task=sat", "--by", "label")
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(io.StringIO(r.stdout))
    assert list(csv.columns[:4]) == ["task", "size", "strategy", "label"] and len(csv) == 6
    assert set(csv["label"]) == {"SAT", "UNSAT"} and (csv["statuses"] == "ok:2").all()

    r = invoke("report", str(root), "-f", "markdown", "-w", "strategy=mplm")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == 2 + 3 and lines[0].startswith("| task | size | strategy |")
    assert "100% [" in lines[2]

    r = cli("report", str(root))
    assert r.returncode == 0 and "critical path" in r.stdout and "Wilson" in r.stdout


def test_report_groups_by_a_setting_that_varies(tmp_path):
    synthetic_run(tmp_path, "toy-a", [{"gen_tokens": 10}] * 2,
                  {"run_id": "toy-a", "config": {"seed": 0}, "task_options": {"level": "low"}})
    synthetic_run(tmp_path, "toy-b", [{"gen_tokens": 30}] * 2,
                  {"run_id": "toy-b", "config": {"seed": 0}, "task_options": {"level": "high"}})
    s = summarize(load_samples([tmp_path]))
    assert s.attrs["keys"] == ["task", "size", "strategy", "level"]
    assert dict(zip(s["level"], s["gen_tokens_mean"], strict=True)) == {"high": 30, "low": 10}


@pytest.mark.parametrize("args,needle", [
    (["/no/such/folder"], "no such file"),
    (["{root}", "--format", "xml"], "--format"),
    (["{root}", "--where", "sise=4"], "unknown column 'sise'"),
    (["{root}", "--where", "size=7"], "no samples match"),
    (["{root}", "--by", "colour"], "colour"),
])
def test_report_errors_are_one_line_exit_2(root, args, needle):
    r = invoke("report", *[a.format(root=root) for a in args])
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_analysis_help_imports_nothing_heavy():
    import subprocess
    import sys

    from analysis_data import ENV

    code = ("import sys; from typer.testing import CliRunner; from mplm_bench.cli import app\n"
            "for cmd in ('sweep', 'report', 'plot', 'compare', 'check'):\n"
            "    r = CliRunner().invoke(app, [cmd, '--help']); assert r.exit_code == 0, r.output\n"
            "heavy = [m for m in ('pandas', 'pyarrow', 'matplotlib', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr


def test_a_strategy_option_named_like_a_sampling_parameter_keeps_its_own_column():
    from mplm_bench.analysis.load import settings_of

    manifest = {"config": {"seed": 0}, "strategy_options": {"temperature": 0.8, "k": 4},
                "sampling": {"temperature": 0.0, "seed": 1}}
    s = settings_of(manifest)
    assert s["strategy_temperature"] == 0.8 and s["temperature"] == 0.0
    assert s["k"] == 4 and s["sampling_seed"] == 1


def test_a_setting_named_like_a_different_sample_column_gets_its_own_column(tmp_path):
    import json as _json

    import pandas as pd

    from mplm_bench.analysis.load import load_samples

    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    pd.DataFrame({"instance_id": ["a", "b"], "repeat": [0, 0], "size": [9, 9], "length": ["short", "long"]}).to_parquet(
        run / "samples" / "a__r0.parquet")
    (run / "manifest.json").write_text(_json.dumps({"config": {"seed": 0}, "task_options": {"length": 32000, "size": 9},
                                                    "sampling": {"temperature": 0.0}}))
    df = load_samples([run])
    assert list(df["length"]) == ["short", "long"] and (df["length_setting"] == 32000).all()
    assert "size_setting" not in df.columns  # the same information is not repeated


def test_a_column_only_later_parts_have_is_kept(tmp_path):
    """pyarrow reads a list of parts with the first part's schema; the loader unifies them, so a
    column that some samples lack (or that a newer harness added before a resume) is not lost."""
    from mplm_bench.analysis.load import load_samples

    run = synthetic_run(tmp_path, "toy-mplm-scripted-abcdef", [{}, {}, {"needle_kind": "chain"}])
    df = load_samples([run]).set_index("instance_id")
    assert df.loc["toy-002", "needle_kind"] == "chain" and df["needle_kind"].isna().sum() == 2


def test_an_unreadable_part_is_skipped_and_the_rest_keep_all_their_columns(tmp_path, caplog):
    from mplm_bench.results.read import read_files

    run = synthetic_run(tmp_path, "toy-mplm-scripted-abcdef", [{}, {"needle_kind": "chain"}])
    parts = sorted((run / "samples").glob("*.parquet"))
    bad = run / "samples" / "toy-999__r0.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")  # the magic at both ends, no footer inside
    df = read_files([bad, *parts])
    assert sorted(df["instance_id"]) == ["toy-000", "toy-001"] and list(df["needle_kind"].dropna()) == ["chain"]
    assert "unreadable Parquet part skipped" in caplog.text
