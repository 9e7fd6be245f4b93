"""The shipped protocol models (mplm_bench/models/protocol/): found by name, the vLLM backend's
default for the task, strategy and size they were trained on, and checked against the run's
instances for training overlap. No engine here; tests/engine/test_engine_protocol_models.py runs them."""

from __future__ import annotations

import json

import pytest

from mplm_bench.config import RunConfig
from mplm_bench.models.protocol_models import (
    SHIPPED_DIR,
    default_model,
    shipped_model,
    shipped_models,
)
from mplm_bench.plan import plan, with_default_model
from mplm_bench.tasks.sudoku.task import SudokuOptions

SHIPPED = ("sudoku-4x4-mplm", "sudoku-4x4-fj", "sudoku-4x4-serial")


def test_each_shipped_model_is_a_small_complete_folder():
    assert {m.name for m in shipped_models()} >= set(SHIPPED)
    for name in SHIPPED:
        folder = SHIPPED_DIR / name
        card = json.loads((folder / "card.json").read_text())
        assert card["task"] == "sudoku" and card["task_options"] == {"size": 4}
        assert (folder / "model.safetensors").stat().st_size < 10 << 20  # a few MB, in the repo
        config = json.loads((folder / "config.json").read_text())
        assert config["architectures"] == ["LlamaForCausalLM"]
        assert card["commit"] and card["steps"] > 0  # the card names the code that trained it
        assert (folder / "README.md").read_text().count("mplm-bench train") >= 1
        assert card["tokens_seen"] > 0 and card["options"]["batch_tokens"] > 0  # the budget the README states


@pytest.mark.parametrize(("strategy", "size", "expected"), [
    ("mplm", 4, "sudoku-4x4-mplm"), ("fj", 4, "sudoku-4x4-fj"), ("cot", 4, "sudoku-4x4-serial"), ("sc", 4, "sudoku-4x4-serial"),
    ("pacore", 4, None), ("mplm", 9, None),
])
def test_default_model_matches_task_strategy_and_size(strategy, size, expected):
    found = default_model("sudoku", strategy, SudokuOptions(size=size))
    assert (found.name if found else None) == expected


def test_plan_names_the_default_in_the_config_so_runs_keep_their_own_ids(tmp_path):
    base = dict(task="sudoku", strategy="mplm", task_options={"size": 4}, n=3, out=tmp_path)
    p = plan(RunConfig(backend="vllm", **base))
    assert p.cfg.model == "sudoku-4x4-mplm"
    assert p.backend_options["model"] == "sudoku-4x4-mplm"
    embedded = plan(RunConfig(backend="vllm", model="smollm2", **base))
    assert embedded.cfg.model == "smollm2" and embedded.training_overlap is None
    assert embedded.cfg.run_id() != p.cfg.run_id()
    # a server serves what it serves: no default (plan asks the server, so the rule alone here)
    openai = RunConfig(backend="openai", backend_options={"base_url": "http://127.0.0.1:1"}, **base)
    assert with_default_model(openai, p.task).model is None
    assert plan(RunConfig(backend="vllm", **(base | {"task_options": {"size": 9}}))).cfg.model is None


def test_run_reports_how_many_instances_the_card_trained_on(tmp_path):
    base = dict(task="sudoku", strategy="mplm", task_options={"size": 4}, backend="vllm", out=tmp_path)
    held_out = plan(RunConfig(n=50, **base)).training_overlap
    assert held_out == {"model": "sudoku-4x4-mplm", "checked": 50, "in_training": held_out["in_training"],
                        "in_training_ids": held_out["in_training_ids"]}
    assert held_out["in_training"] <= 3  # 4×4 puzzles collide by chance across seed streams, rarely
    # the training stream itself (seed −1, only export-sft uses it): nearly all were trained on
    trained = plan(RunConfig(n=50, seed=-1, **base)).training_overlap
    assert trained["in_training"] >= 45 and len(trained["in_training_ids"]) == trained["in_training"]


def test_the_summary_reads_accuracy_on_held_out_instances_alone():
    import pandas as pd

    from mplm_bench.cli_run import held_out_line

    df = pd.DataFrame({"instance_id": ["a", "b", "c", "d"], "correct": [True, True, False, True]})
    overlap = {"model": "m", "checked": 4, "in_training": 2, "in_training_ids": ["a", "b"]}
    assert held_out_line({"training_overlap": overlap}, df) == "held out (not in model m's training set): 50% of 2 instances"
    assert held_out_line({"training_overlap": overlap | {"in_training": 0}}, df) is None


def test_shipped_names_resolve_for_the_engine_and_the_token_counter():
    from mplm_bench.models.embedded import resolve_model
    from mplm_bench.models.tokenizer import load_token_counter

    assert resolve_model("sudoku-4x4-mplm") == str(shipped_model("sudoku-4x4-mplm").path)
    counter = load_token_counter("sudoku-4x4-mplm")
    assert counter.count(" (0,1)") == 1 and counter.render_chat("x").startswith("<|im_start|>")


def test_model_list_names_each_shipped_model_and_what_it_is_the_default_for():
    from cli_helpers import invoke_cli

    r = invoke_cli("model", "list")
    assert r.returncode == 0
    for name in SHIPPED:
        assert name in r.stdout
    assert "-t sudoku -T size=4 -s mplm" in r.stdout and "smollm2" in r.stdout
