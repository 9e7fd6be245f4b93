"""Options declared once: the executor's settings as `-X key=value` (checked by ExecutorOptions,
errors naming `-X key`), the older per-setting flags still accepted, and one error handler."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mplm_bench.cli import _executor, app
from mplm_bench.config import ConfigError

RUN = ["run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-T", "size=4", "-n", "1", "-q"]


def test_x_and_the_old_flags_give_the_same_options():
    new = _executor("ray", ["ray_actors=2", "max_retries=0", "ray_start_timeout_s=30"])
    old = _executor("ray", None, ray_actors=2, max_retries=0, ray_start_timeout_s=30.0)
    assert new == old and new.ray_actors == 2 and new.ray_cpus_per_actor == 1.0  # defaults kept
    assert _executor("local", None) == _executor("local", [])


@pytest.mark.parametrize(("x", "flags", "needle"), [
    (["ray_actors=2"], {}, "-X ray_actors needs --executor ray"),
    (["nope=1"], {}, "-X nope: Extra inputs are not permitted"),
    (["max_retries=-1"], {}, "-X max_retries: Input should be greater than or equal to 0"),
    (["max_retries=1"], {"max_retries": 1}, "-X max_retries and its flag both given"),
    (["kind=ray"], {}, "-X kind: choose the executor with --executor"),
    ([], {"ray_actors": 2}, "--ray-actors needs --executor ray"),
])
def test_bad_executor_options_name_how_they_were_given(x, flags, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        _executor("local", x, **flags)


def test_x_on_the_command_line_is_one_error_line(tmp_path):
    r = CliRunner().invoke(app, [*RUN, "--out", str(tmp_path), "-X", "ray_actors=2"])
    assert r.exit_code == 2 and "-X ray_actors needs --executor ray" in r.output
    assert not any(tmp_path.iterdir())
    r = CliRunner().invoke(app, [*RUN, "--out", str(tmp_path), "-X", "max_retries=3"])
    assert r.exit_code == 0, r.output  # a valid -X on the local executor is harmless


@pytest.mark.parametrize("command", [
    ["report", "/nonexistent/runs"],
    ["check", "/nonexistent/runs"],
    ["run", "-t", "nope", "-s", "cot", "-b", "scripted"],
    ["sweep", "/nonexistent/sweep.yaml"],
])
def test_every_command_turns_bad_input_into_one_line(command):
    r = CliRunner().invoke(app, command)
    assert r.exit_code == 2 and r.output.count("error:") == 1 and "Traceback" not in r.output, r.output
