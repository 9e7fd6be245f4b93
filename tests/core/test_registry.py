"""One way to plug things in: the decorator (name, options, protocols given once) declares
built-ins and plugins alike, the old attribute form is one line saying what to write instead, a
task loaded from a file (`-t path.py:Class`), and a task without a scripted reference policy
(real models only)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cli_helpers import REPO, invoke_cli, run_cli
from pydantic import BaseModel

from mplm_bench import registry
from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.registry import BackendSpec, RegistrationError, UnknownName
from mplm_bench.runtime.backend import Completion, Request
from mplm_bench.strategies.base import Strategy, StrategyOptions
from mplm_bench.tasks.base import Task, TaskOptions

EXAMPLE = REPO / "examples" / "plugin" / "mplm_addition.py"
ENV = os.environ | {"PYTHONPATH": str(REPO)}

# A task for real models only: no `policy`. Written to a file for the file-loading tests.
NO_POLICY_TASK = '''
from mplm_bench.tasks.base import Instance, Score, Task, TaskOptions


class EchoOptions(TaskOptions):
    word: str = "42"


class EchoTask(Task):
    protocols = ("serial",)
    Options = EchoOptions

    def generate(self, n, seed):
        return [Instance(id=f"echo-{seed}-{i}", size=1, data={}) for i in range(n)]

    def load(self, source, n):
        raise NotImplementedError

    def prompt(self, instance, protocol):
        return "Say " + self.options.word

    def score(self, instance, answer):
        return Score(correct=answer == self.options.word, score=1.0, parsed=answer)


NOT_A_TASK = 3
'''


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd)


def test_typed_registration_gives_name_options_and_protocols_once():
    class Opts(TaskOptions):
        k: int = 1

    @registry.tasks.register("typed-toy", options=Opts, protocols=("serial",))
    class Toy(Task):
        generate = load = prompt = score = None  # type: ignore[assignment]

    assert registry.tasks.get("typed-toy") is Toy
    assert (Toy.name, Toy.Options, Toy.protocols) == ("typed-toy", Opts, ("serial",))

    @registry.strategies.register("typed-strategy", options=StrategyOptions, protocol="fj")
    class S(Strategy):
        pass

    assert (S.name, S.protocol, S.Options) == ("typed-strategy", "fj", StrategyOptions)
    with pytest.raises(RegistrationError, match="takes no protocl"):
        registry.strategies.register("bad", protocol="fj", protocl="x")(type("X", (Strategy,), {}))


def test_the_old_attribute_form_is_one_line_saying_what_to_write():
    class MyOptions(StrategyOptions):
        k: int = 1

    with pytest.raises(RegistrationError) as e:
        @registry.strategies.register("old-form")
        class Old(Strategy):
            name = "old-form"
            protocol = "serial"
            Options = MyOptions

    assert str(e.value) == ("strategy 'old-form': Old uses the old attribute form (name, Options, protocol set "
                            "on it): write @strategies.register(\"old-form\", options=MyOptions, protocol=\"serial\") "
                            "above it instead")
    assert "old-form" not in registry.strategies._items

    class M(BaseModel):
        x: int = 0

    def factory(policy: Any, options: dict[str, Any]) -> Any:
        return ("built", options)

    factory.options_model = M  # type: ignore[attr-defined]  # 0.1 glued these onto the factory
    with pytest.raises(RegistrationError, match=r'write @backends.register\("old-backend", options=M\) above'):
        registry.backends.register("old-backend")(factory)
    del factory.options_model  # type: ignore[attr-defined]
    spec = registry.backends.register("old-backend", options=M)(factory) and registry.backends.get("old-backend")
    assert isinstance(spec, BackendSpec) and spec.options is M and not hasattr(spec, "options_model")
    assert spec(None, {"x": 1}) == ("built", {"x": 1}) and spec.check_sampling is None


# Every name the hand-kept built-ins map listed before the decorator alone declared them.
FORMER_BUILTINS = {
    "tasks": {"sudoku", "sat", "longqa", "multiply", "math", "countdown"},
    "strategies": {"cot", "fj", "mplm", "pacore", "sc", "deepconf", "threadweaver", "parallel-r1",
                   "multiverse", "sos", "apr"},
    "backends": {"scripted", "vllm", "openai"},
}


@pytest.mark.parametrize("plural", sorted(FORMER_BUILTINS))
def test_every_builtin_is_found_by_its_decorator_alone(plural):
    reg = getattr(registry, plural)
    assert FORMER_BUILTINS[plural] <= set(reg.names())
    for name in FORMER_BUILTINS[plural]:
        assert reg.get(name).name == name


def test_a_new_module_in_the_package_is_found_with_no_other_edit(tmp_path):
    """A decorated task in a new module of `mplm_bench.tasks` (here a folder added to the
    package's path, as a new file there would be) is listed and runs: nothing else names it."""
    (tmp_path / "chain_toy.py").write_text(NO_POLICY_TASK.replace(
        "class EchoTask(Task):\n    protocols = (\"serial\",)\n    Options = EchoOptions\n",
        "@tasks.register(\"chain-toy\", options=EchoOptions, protocols=(\"serial\",))\nclass EchoTask(Task):\n",
    ).replace("from mplm_bench.tasks.base", "from mplm_bench.registry import tasks\nfrom mplm_bench.tasks.base"))
    code = ("import sys, mplm_bench.tasks; mplm_bench.tasks.__path__.append(sys.argv[1]); "
            "from mplm_bench.cli import main; sys.argv[1:] = ['list']; main()")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "chain-toy" in r.stdout and "Say" not in r.stderr


def test_importing_every_builtin_module_imports_no_engine():
    """Discovery imports every module under tasks/, strategies/ and backends/: heavy libraries
    stay deferred to when a backend is built."""
    code = ("import sys; from mplm_bench import registry\n"
            "for r in (registry.tasks, registry.strategies, registry.backends): r.names()\n"
            "print(sorted(m for m in ('torch', 'vllm', 'transformers', 'ray', 'pandas', 'pyarrow') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_a_task_registered_by_the_decorator_alone_is_listed(monkeypatch):
    @registry.tasks.register("decorated-toy", options=TaskOptions, protocols=("serial",))
    class Toy(Task):
        """A toy registered by its decorator alone."""

        generate = load = prompt = score = None  # type: ignore[assignment]

    assert registry.tasks.get("decorated-toy") is Toy and "decorated-toy" in registry.tasks.names()
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps a long name in a narrow table
    r = invoke_cli("list")
    assert r.returncode == 0 and "decorated-toy" in r.stdout, r.stdout


def test_builtin_backends_are_typed_specs():
    scripted = registry.backends.get("scripted")
    assert scripted.options is not None and "tokenizer" in scripted.options.model_fields
    assert registry.tasks.get("sudoku").name == "sudoku"


def test_a_task_from_a_file_runs_from_the_cli(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "my_task.py")
    r = cli("run", "-t", "./my_task.py:AdditionTask", "-s", "fj", "-b", "scripted", "-T", "size=6",
            "-n", "3", "--out", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "out").iterdir()
    assert run.name.startswith("my_task.AdditionTask-fj-scripted-")  # one folder, no path in it
    samples = pd.read_parquet(run / "samples")
    assert len(samples) == 3 and samples["correct"].all() and (samples["n_threads"] == 3).all()
    assert json.loads((run / "manifest.json").read_text())["config"]["task"] == "./my_task.py:AdditionTask"
    # a path elsewhere works too, and the same command resumes (nothing left to do)
    r = cli("run", "-t", f"{EXAMPLE}:AdditionTask", "-s", "cot", "-b", "scripted", "-n", "2",
            "--out", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "out").iterdir())) == 2


@pytest.mark.parametrize(("ref", "needle"), [
    ("./missing.py:Task", "no such file ./missing.py"),
    ("./tasks.py:Nope", "tasks.py has no 'Nope'"),
    ("./tasks.py:NOT_A_TASK", "NOT_A_TASK is not a subclass of mplm_bench.tasks.base.Task"),
    ("./broken.py:X", "broken.py failed to import: ZeroDivisionError"),
])
def test_a_bad_task_file_is_one_line(tmp_path, ref, needle):
    (tmp_path / "tasks.py").write_text(NO_POLICY_TASK)
    (tmp_path / "broken.py").write_text("1 / 0\n")
    r = cli("run", "-t", ref, "-s", "cot", "-b", "scripted", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "out").exists()


def test_a_task_without_a_policy_is_refused_by_scripted_in_one_line(tmp_path):
    (tmp_path / "tasks.py").write_text(NO_POLICY_TASK)
    r = cli("run", "-t", "./tasks.py:EchoTask", "-s", "cot", "-b", "scripted", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "has no scripted reference policy for the 'serial' protocol" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    with pytest.raises(Exception, match="scripted backend needs the task's reference policy"):
        registry.backends.get("scripted")(None, {})


class EchoModel:
    """A stand-in engine below the Backend interface: answers every prompt `<stop>WORD</stop>`
    with the last word of the prompt, as a model that follows the instruction would."""

    name, virtual_time = "echo-model", True

    async def generate(self, request: Request) -> Completion:
        word = request.prompt.split()[-1]
        return Completion(f"<stop>{word}</stop>", len(request.prompt), 3, "stop")

    async def abort(self, request_id: str) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"model": "echo"}

    async def aclose(self) -> None:
        return None


registry.backends.register("echo-model")(lambda policy, options: EchoModel())


def test_a_task_without_a_policy_runs_on_a_model(tmp_path):
    from mplm_bench.runner import build_backend, execute, plan

    (tmp_path / "tasks.py").write_text(NO_POLICY_TASK)
    cfg = RunConfig(task=f"{tmp_path / 'tasks.py'}:EchoTask", strategy="cot", backend="echo-model",
                    task_options={"word": "seven"}, n=2, out=tmp_path / "out")
    p = plan(cfg)
    backend = build_backend(p)
    manifest = asyncio.run(execute(p, backend))
    assert manifest["status"] == "complete"
    samples = pd.read_parquet(p.store.dir / "samples")
    assert samples["correct"].all() and (samples["answer"] == "seven").all()


def test_unknown_names_still_list_what_is_known():
    with pytest.raises(UnknownName, match="unknown task 'nope' \\(known: .*sudoku"):
        registry.tasks.get("nope")
    with pytest.raises(ConfigError):
        from mplm_bench.plan import plan

        plan(RunConfig(task="sudoku", strategy="cot", backend="scripted", backend_options={"nope": 1}))
