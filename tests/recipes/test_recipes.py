"""Reproduction recipes (configs/recipes/): each loads, plans what it fetches and runs, reads a
local copy of its split's shape, and runs offline on the scripted backend with the paper's figures
printed beside the measured ones."""

from __future__ import annotations

import json

import pytest
from analysis_data import invoke

from mplm_bench.config import ConfigError
from mplm_bench.recipes.run import configs, figures
from mplm_bench.recipes.schema import RECIPES, load_recipe, recipe_files

NAMES = [p.stem for p in recipe_files()]


def test_there_is_a_recipe_per_system_and_the_list_shows_their_sources():
    assert {"threadweaver-multiply", "threadweaver-aime24", "parallel-r1-aime25", "pacore-hmmt25-low",
            "apr-countdown", "multiverse-aime24"} <= set(NAMES)
    r = invoke("recipe", "list")
    assert r.returncode == 0
    for name in NAMES:
        recipe = load_recipe(name)
        assert recipe.name in r.stdout and recipe.source.url in r.stdout


@pytest.mark.parametrize("name", NAMES)
def test_plan_names_what_it_fetches(name, tmp_path):
    recipe = load_recipe(name)
    args = ["recipe", "run", name, "--dry-run", "--out", str(tmp_path)]
    if recipe.model is None:  # not released: the plan refuses without --model
        r = invoke(*args)
        assert r.returncode == 2 and "--model" in r.stderr
        args += ["--model", "some/model"]
    r = invoke(*args)
    assert r.returncode == 0, r.stderr
    assert "fetch: model" in r.stderr and f"-s {recipe.run.strategy}" in r.stderr
    if recipe.dataset.id and recipe.run.task != "countdown":
        assert f"dataset {recipe.dataset.id}" in r.stderr and f"--data {recipe.dataset.id}" in r.stderr
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


@pytest.mark.parametrize("name", NAMES)
def test_it_runs_offline_and_prints_the_papers_figures(name, tmp_path):
    recipe = load_recipe(name)
    r = invoke("recipe", "run", name, "-b", "scripted", "--out", str(tmp_path), "-n", "3", "-f", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["metric"] for row in rows] == [f.metric for f in recipe.reported]
    assert [row["paper"] for row in rows] == [f.value for f in recipe.reported]
    assert all(row["measured"] is not None for row in rows), rows
    assert "fetch: nothing" in r.stderr


@pytest.mark.parametrize("name", [n for n in NAMES if load_recipe(n).dataset.example])
def test_its_data_loads_from_a_local_copy_of_the_split(name, tmp_path):
    recipe = load_recipe(name)
    local = tmp_path / "split.jsonl"
    local.write_text("".join(json.dumps(recipe.dataset.example) + "\n" for _ in range(3)))
    main, base = configs(recipe, "scripted", None, str(local), 3, tmp_path / "out")
    assert main.data == str(local) and main.task_options == recipe.run.task_options
    r = invoke("recipe", "run", name, "-b", "scripted", "--data", str(local), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "paper" in r.stdout and "measured" in r.stdout


def test_a_bad_recipe_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntitle: t\nsource: {paper: p, where: w, url: u}\n"
                   "run: {task: multiply, strategy: cot}\nreported: [{metric: accuracy, value: 1}]\n")
    with pytest.raises(ConfigError, match="give tol or rel_tol"):
        load_recipe(str(bad))
    with pytest.raises(ConfigError, match="no such recipe"):
        load_recipe("nope")
    assert RECIPES.is_dir()


def test_measured_figures_and_tolerance():
    import pandas as pd

    recipe = load_recipe("threadweaver-multiply")
    df = pd.DataFrame({"instance_id": ["a", "b"], "repeat": [0, 0], "correct": [True, True],
                       "token_latency": [2600.0, 2700.0], "critical_path_tokens": [2600.0, 2700.0]})
    base = df.assign(critical_path_tokens=[3300.0, 3340.0])
    got = figures(recipe, df, base).set_index("metric")
    assert got.loc["token_latency.mean", "measured"] == 2650 and got.loc["token_latency.mean", "within"]
    assert got.loc["speedup", "measured"] == pytest.approx(6640 / 5300)
    assert bool(got.loc["accuracy", "within"])
