"""Issue 39.3: what changes the measurement keys the run (options ending in `_token`, option
defaults, task/strategy versions); a password in a URL never reaches what a run writes."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke_cli
from cli_helpers import run_cli as cli  # noqa: F401
from fake_openai import SECRET, FakeOpenAI, assert_no_secret  # noqa: F401

from mplm_bench import registry
from mplm_bench.config import RunConfig, is_secret, public_options
from mplm_bench.plan import plan


@pytest.mark.parametrize("key,secret", [
    ("api_key", True), ("key", True), ("token", True), ("password", True), ("secret", True),
    ("hf_token", True), ("auth_token", True), ("api_token", True), ("access_token", True),
    ("openai_api_key", True), ("client_secret", True), ("db_password", True), ("HF_TOKEN", True),
    ("decode_per_token", False), ("prefill_per_token", False), ("max_tokens", False),
    ("per_token", False), ("tokenizer", False), ("base_url", False), ("model", False)])
def test_which_option_names_are_secrets(key, secret):
    assert is_secret(key) is secret


def scripted(tmp_path, **backend_options):
    return RunConfig(task="sudoku", strategy="mplm", backend="scripted", task_options={"size": 4},
                     backend_options=backend_options, n=2, out=tmp_path)


def test_decode_per_token_keys_the_run(tmp_path):
    a, b = plan(scripted(tmp_path, decode_per_token=2)), plan(scripted(tmp_path, decode_per_token=5))
    assert a.cfg.run_id() != b.cfg.run_id()
    assert a.cfg.identity()["backend_options"] == {"decode_per_token": 2}


def test_a_url_password_is_masked_everywhere_and_does_not_key_the_run():
    url = f"http://user:{SECRET}@127.0.0.1:9/v1"
    masked = public_options({"base_url": url, "urls": [url]})
    assert masked == {"base_url": "http://user:***@127.0.0.1:9/v1", "urls": ["http://user:***@127.0.0.1:9/v1"]}
    a = RunConfig(task="sudoku", strategy="cot", backend="openai", backend_options={"base_url": url})
    b = RunConfig(task="sudoku", strategy="cot", backend="openai",
                  backend_options={"base_url": url.replace(SECRET, "other")})
    assert a.run_id() == b.run_id() and SECRET not in json.dumps(a.identity())


def test_a_url_password_never_reaches_the_manifest(fake_server, tmp_path):  # noqa: F811
    url = fake_server.replace("http://", f"http://user:{SECRET}@")
    r = cli("run", "-t", "sudoku", "-s", "cot", "-b", "openai", "-T", "size=4", "-n", "1",
            "-M", f"base_url={url}", "-M", "tokenizer=smollm2", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp_path / "out").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["backend_options"]["base_url"].startswith("http://user:***@")
    assert_no_secret(r, tmp_path)


def test_run_ids_of_unchanged_configs_stay_as_they_were(tmp_path):
    # ids written before defaults were keyed (issue 39.3): the same command resumes them
    assert plan(scripted(tmp_path)).cfg.run_id() == "sudoku-mplm-scripted-168fa89bf3b4"
    assert plan(scripted(tmp_path)).cfg.defaults is None


def test_a_changed_default_or_version_starts_a_new_run(tmp_path, monkeypatch):
    before = plan(scripted(tmp_path)).cfg.run_id()
    task_cls = registry.tasks.get("sudoku")
    changed = type("Options", (task_cls.Options,), {"__annotations__": {"hard": bool}, "hard": True})
    monkeypatch.setattr(task_cls, "Options", changed)
    p = plan(scripted(tmp_path))
    assert p.cfg.defaults == {"task:sudoku": {"hard": True}} and p.cfg.run_id() != before
    assert plan(scripted(tmp_path)).cfg.run_id() == p.cfg.run_id()  # stable while it stays so
    monkeypatch.undo()
    monkeypatch.setattr(task_cls, "version", 2)
    p = plan(scripted(tmp_path))
    assert p.cfg.defaults == {"task version": 2} and p.cfg.run_id() != before


def test_a_changed_default_does_not_resume_the_old_folder(tmp_path, monkeypatch):
    args = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4", "-n", "2", "-q",
            "--out", tmp_path]
    assert invoke_cli(*args).returncode == 0
    task_cls = registry.tasks.get("sudoku")
    changed = type("Options", (task_cls.Options,), {"__annotations__": {"hard": bool}, "hard": True})
    monkeypatch.setattr(task_cls, "Options", changed)
    r = invoke_cli(*args)
    assert r.returncode == 0 and "nothing to do" not in r.stdout + r.stderr
    assert len(list(tmp_path.iterdir())) == 2
