"""Security: secrets never reach what a run writes or prints; ids never escape the run folder;
model output is data only (never executed, never a template, never a path)."""

from __future__ import annotations

import ast
import json

import pandas as pd
import pytest
from cli_helpers import REPO as ROOT
from cli_helpers import run_cli as cli
from fake_openai import SECRET, FakeOpenAI, assert_no_secret, free_port

from mplm_bench.config import RunConfig, public_options
from mplm_bench.runtime.backend import Request
from mplm_bench.runtime.synthesis import render_synthesis


@pytest.mark.parametrize("how", ["option", "env"])
def test_api_keys_never_reach_manifest_parquet_or_output(how, fake_server, tmp_path):
    key = ["-M", f"api_key={SECRET}"] if how == "option" else []
    env = {"OPENAI_API_KEY": SECRET} if how == "env" else {}
    r = cli("run", "-t", "sudoku", "-s", "cot", "-b", "openai", "-T", "size=4", "-n", "2",
            "-M", f"base_url={fake_server}", "-M", "tokenizer=smollm2", *key, "--out", str(tmp_path / "out"),
            env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert FakeOpenAI.seen and set(FakeOpenAI.seen) == {f"Bearer {SECRET}"}  # it was used
    (run_dir,) = (tmp_path / "out").iterdir()
    assert len(pd.read_parquet(run_dir / "samples")) == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    if how == "option":
        assert manifest["config"]["backend_options"]["api_key"] == "***"
    assert_no_secret(r, tmp_path)


@pytest.mark.parametrize("where", ["option", "env", "url"])
def test_api_keys_never_reach_the_error_of_a_closed_port(where, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    opts = {"option": ["-M", f"base_url={url}", "-M", f"api_key={SECRET}"],
            "env": ["-M", f"base_url={url}"],
            "url": ["-M", f"base_url=http://user:{SECRET}@{url.removeprefix('http://')}/v1?key={SECRET}"]}[where]
    env = {"OPENAI_API_KEY": SECRET, "HF_TOKEN": SECRET} if where == "env" else {}
    r = cli("run", "-t", "sudoku", "-s", "cot", "-b", "openai", *opts, "--out", str(tmp_path / "out"),
            env=env, cwd=tmp_path)
    assert r.returncode == 2 and "cannot reach" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
    assert_no_secret(r, tmp_path)


def test_secret_options_are_masked_and_do_not_change_the_run_id():
    masked = public_options({"api_key": SECRET, "hf_token": SECRET, "password": SECRET, "model": "m"})
    assert masked == {"api_key": "***", "hf_token": "***", "password": "***", "model": "m"}
    a = RunConfig(task="sudoku", strategy="cot", backend="openai", backend_options={"api_key": "a"})
    b = RunConfig(task="sudoku", strategy="cot", backend="openai", backend_options={"api_key": "b"})
    assert a.run_id() == b.run_id() and SECRET not in json.dumps(a.identity())


def test_settings_named_like_tokens_are_not_secrets_and_key_the_run():
    assert public_options({"max_tokens": 64, "auth_token": "t"}) == {"max_tokens": 64, "auth_token": "***"}
    a = RunConfig(task="sudoku", strategy="cot", backend="scripted", backend_options={"max_tokens": 64})
    b = RunConfig(task="sudoku", strategy="cot", backend="scripted", backend_options={"max_tokens": 128})
    assert a.run_id() != b.run_id()


HOSTILE_IDS = ["../../etc/passwd", "/etc/shadow", "..", ".", "a/../../b", "_hidden", ".dotted",
               "C:\\Windows\\x", "nul\x00byte", "spaces and\nnewline", "x" * 300, "ok-id",
               "Case-ID", "case-id"]
GRID4 = {"puzzle": [[0, 0, 3, 4], [0, 4, 0, 0], [0, 1, 4, 0], [0, 0, 2, 1]],  # unique
         "solution": [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]}


def test_instance_ids_with_path_characters_stay_inside_the_run_folder(tmp_path):
    data = tmp_path / "data" / "puzzles.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps({**GRID4, "id": i}) + "\n" for i in HOSTILE_IDS))
    work = tmp_path / "work"
    work.mkdir()
    args = ["run", "-t", "sudoku", "-s", "fj", "-b", "scripted", "--data", str(data),
            "-n", str(len(HOSTILE_IDS)), "--out", "out", "-q"]
    r = cli(*args, cwd=work)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (work / "out").iterdir()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != data]
    assert written and all(p.resolve().is_relative_to(run_dir.resolve()) for p in written)
    names = [p.name for p in (run_dir / "samples").iterdir()]
    assert all(not n.startswith((".", "_")) and len(n) < 200 and "/" not in n for n in names)
    assert len({n.lower() for n in names}) == len(names)  # apart on case-insensitive file systems too
    s = pd.read_parquet(run_dir / "samples")  # every part visible to a plain Parquet reader
    assert sorted(s["instance_id"]) == sorted(HOSTILE_IDS) and s["status"].notna().all()
    again = cli(*args, cwd=work)
    assert again.returncode == 0 and "nothing to do" in again.stderr  # names are stable


def test_model_text_is_never_template_source():
    evil = "{{ 7*7 }}{% for x in range(3) %}x{% endfor %}{{ ''.__class__ }}"
    text = render_synthesis(evil, [evil, "ok"])
    assert text.count(evil) == 2 and "49" not in text
    from mplm_bench.backends.engine_common import counter_renderer

    rendered = counter_renderer(None).text(Request("k/0", "0", (evil,), "You are a helpful assistant."))
    assert evil in rendered and "49" not in rendered


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "os.system", "os.popen", "pickle.load",
                   "pickle.loads", "marshal.loads", "yaml.load", "yaml.unsafe_load", "shelve.open"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def test_nothing_in_the_package_executes_text_or_runs_a_shell():
    found = []
    for path in sorted((ROOT / "mplm_bench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            where = f"{path.relative_to(ROOT)}:{node.lineno} {name}"
            if name in FORBIDDEN_CALLS:
                found.append(where)
            if name.startswith("subprocess.") or name in ("Popen", "run"):
                shell = any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                            for k in node.keywords)
                literal = node.args and isinstance(node.args[0], ast.List | ast.Tuple)
                if shell or (name.startswith("subprocess.") and not literal):
                    found.append(where + " (shell, or a command not written as a list)")
    assert not found, found
