"""`check RUN --spec`: exit 1 and a table on a violated threshold, 0 otherwise, 2 on a bad spec."""

from __future__ import annotations

import json

import pytest
from analysis_data import invoke, scripted_root, synthetic_run

from mplm_bench.analysis.check import evaluate, load_spec
from mplm_bench.analysis.load import load_samples


@pytest.fixture
def run(tmp_path):
    rows = [{"critical_path_tokens": 100.0 * (i + 1), "correct": i != 3,
             "status": "deadlock" if i == 3 else "ok"} for i in range(5)]
    return synthetic_run(tmp_path / "runs", "toy-a", rows)


def spec(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_passing_spec_exits_0(run, tmp_path):
    s = spec(tmp_path, """
- where: {task: toy, strategy: mplm, size: 4}
  n: {min: 5}
  accuracy: {min: 0.8}
  critical_path_tokens: {max: 300}           # mean: 300
  critical_path_tokens.max: {min: 500, max: 500}
  gen_tokens.median: {max: 1000}
  status: {only: [ok, deadlock]}
- accuracy: {max: 0.8}                       # no where: every group
""")
    r = invoke("check", str(run), "--spec", str(s))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all 7 checks passed" in r.stderr


def test_violations_exit_1_with_a_table(run, tmp_path):
    s = spec(tmp_path, """
- name: toy gate
  where: {strategy: mplm}
  accuracy: {min: 1.0}
  critical_path_tokens: {max: 299.5}
  status: {only: [ok]}
- where: {strategy: fj}
  accuracy: {min: 0}
""")
    r = invoke("check", str(run), "--spec", str(s))
    assert r.returncode == 1
    for text in ("violations", "toy gate", "accuracy", "80.0%", "≥ 100.0%", "critical_path_tokens",
                 "≤ 299.5", "deadlock:1", "only ok", "no samples", "FAIL"):
        assert text in r.stdout, text
    assert "4 of 4 checks failed" in r.stderr
    r = invoke("check", str(run), "--spec", str(s), "-f", "json")
    rows = json.loads(r.stdout)
    assert r.returncode == 1 and len(rows) == 4 and not any(x["passed"] for x in rows)
    assert next(x for x in rows if x["metric"] == "critical_path_tokens")["value"] == 300.0


def test_rules_apply_per_group(tmp_path_factory, tmp_path):
    root = scripted_root(tmp_path_factory)
    df = load_samples([root])
    cp9 = df[(df["task"] == "sudoku") & (df["size"] == 9) & (df["strategy"] == "mplm")]["critical_path_tokens"].mean()
    rules = load_spec(spec(tmp_path, f"- where: {{strategy: mplm}}\n  critical_path_tokens: {{max: {cp9}}}\n"))
    result = evaluate(df, rules)
    assert list(result["group"]) == ["sat 6 mplm", "sudoku 4 mplm", "sudoku 9 mplm"]
    assert result["passed"].all()  # 9×9 is the largest; each group is held to the bound on its own
    rules = load_spec(spec(tmp_path, f"- where: {{strategy: mplm}}\n  critical_path_tokens: {{max: {cp9 - 1}}}\n"))
    assert list(evaluate(df, rules)["passed"]) == [True, True, False]


def test_suggest_writes_a_spec_that_passes(tmp_path_factory, tmp_path):
    root = scripted_root(tmp_path_factory)
    r = invoke("check", str(root), "--suggest", "0.05")
    assert r.returncode == 0 and r.stdout.startswith("# thresholds")
    s = spec(tmp_path, r.stdout)
    assert len(load_spec(s)) == 9
    assert invoke("check", str(root), "--spec", str(s)).returncode == 0
    tight = spec(tmp_path, r.stdout.replace("{max: ", "{max: 0.5*").replace("0.5*", ""))
    assert invoke("check", str(root), "--spec", str(tight)).returncode == 0


@pytest.mark.parametrize("text,needle", [
    ("- where: {task: toy}\n  acuracy: {min: 1}\n", "unknown metric 'acuracy'"),
    ("- where: {task: toy}\n  accuracy: {mn: 1}\n", "accuracy.mn: Extra inputs"),
    ("- where: {task: toy}\n  accuracy: {}\n", "give min, max or both"),
    ("- where: {tsk: toy}\n  accuracy: {min: 1}\n", "unknown column 'tsk'"),
    ("- where: {task: toy}\n", "no metric to check"),
    ("- where: {task: toy}\n  status: {only: []}\n", "status.only"),
    ("- where: {task: toy}\n  answer: {max: 1}\n", "not numeric"),
    ("{}", "non-empty list of rules"),
    ("- [unclosed\n", "not valid YAML"),
])
def test_bad_specs_exit_2(run, tmp_path, text, needle):
    r = invoke("check", str(run), "--spec", str(spec(tmp_path, text)))
    assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_spec_is_required(run):
    r = invoke("check", str(run))
    assert r.returncode == 2 and "--spec" in r.stderr


def test_suggest_with_settings_some_runs_lack(tmp_path):
    """A setting only one strategy has (sc's k) is missing elsewhere: `where` matches it as null."""
    synthetic_run(tmp_path, "sc-a", [{"strategy": "sc"}] * 2,
                  {"run_id": "sc-a", "config": {"seed": 0}, "strategy_options": {"k": 4}})
    synthetic_run(tmp_path, "sc-b", [{"strategy": "sc", "gen_tokens": 2000}] * 2,
                  {"run_id": "sc-b", "config": {"seed": 0}, "strategy_options": {"k": 8}})
    synthetic_run(tmp_path, "cot", [{"strategy": "cot"}] * 2)
    r = invoke("check", str(tmp_path), "--suggest", "0")
    assert "k: null" in r.stdout and "k: 4" in r.stdout and "4.0" not in r.stdout
    s = spec(tmp_path, r.stdout)
    r = invoke("check", str(tmp_path), "--spec", str(s), "--all")
    assert r.returncode == 0 and "toy 4 sc 8" in r.stdout and "toy 4 cot" in r.stdout
