"""Third-party plugins: a task installed as its own package is found through its entry point and
runs like a built-in one (examples/plugin/, made visible as an installed distribution would be:
a `*.dist-info` folder with `entry_points.txt` on the path), and a broken one is one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import REPO

EXAMPLE = REPO / "examples" / "plugin"


def installed(tmp_path: Path, entry: str) -> dict[str, str]:
    """An environment in which `entry` (name = module:attr) is a `mplm_bench.tasks` entry point."""
    site = tmp_path / "site"
    info = site / "mplm_addition_task-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mplm-addition-task\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[mplm_bench.tasks]\n{entry}\n")
    path = os.pathsep.join([str(site), str(EXAMPLE), str(EXAMPLE.parents[1])])
    return os.environ | {"PYTHONPATH": path}


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mplm_bench.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


@pytest.mark.parametrize("strategy", ["cot", "fj", "pacore"])
def test_an_installed_task_runs_like_a_builtin(tmp_path, strategy):
    env = installed(tmp_path, "addition = mplm_addition:AdditionTask")
    listed = cli(env, "list", cwd=tmp_path)
    assert listed.returncode == 0 and "addition" in listed.stdout
    r = cli(env, "run", "-t", "addition", "-s", strategy, "-b", "scripted", "-T", "size=6", "-n", "5",
            "--out", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (run,) = (tmp_path / "out").iterdir()
    samples = pd.read_parquet(run / "samples")
    assert len(samples) == 5 and samples["correct"].all() and (samples["status"] == "ok").all()
    assert json.loads((run / "manifest.json").read_text())["task_options"] == {"size": 6}
    if strategy == "fj":
        assert (samples["n_threads"] == 3).all()  # the master and its two workers


def test_a_broken_plugin_is_one_line(tmp_path):
    env = installed(tmp_path, "addition = mplm_addition:NoSuchTask")
    r = cli(env, "run", "-t", "addition", "-s", "cot", "-b", "scripted", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "task 'addition' (entry point mplm_addition:NoSuchTask) failed to load" in r.stderr
    assert not (tmp_path / "out").exists()


OLD_FORM = '''
from mplm_addition import AdditionOptions, AdditionTask


class OldAddition(AdditionTask):  # the 0.1 form: attributes on the class, no decorator
    name = "old-addition"
    protocols = ("serial",)
    Options = AdditionOptions
'''


def test_a_plugin_in_the_old_attribute_form_is_one_line_saying_what_to_write(tmp_path):
    env = installed(tmp_path, "old-addition = old_addition:OldAddition")
    (tmp_path / "site" / "old_addition.py").write_text(OLD_FORM)
    r = cli(env, "run", "-t", "old-addition", "-s", "cot", "-b", "scripted", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ("task 'old-addition' (entry point old_addition:OldAddition) failed to load: OldAddition uses the old "
            "attribute form (name, Options, protocols set on it): write @tasks.register(\"old-addition\", "
            "options=AdditionOptions, protocols=(\"serial\",)) above it instead") in r.stderr


def test_an_entry_point_may_name_the_module_its_decorator_registers_in(tmp_path):
    env = installed(tmp_path, "addition = mplm_addition")
    r = cli(env, "run", "-t", "addition", "-s", "cot", "-b", "scripted", "-n", "2", "--out", "out", "-q",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
