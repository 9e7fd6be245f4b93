"""The command line as a user runs it (a subprocess, this checkout first on the path), the same
in-process (fast), and where the checkout and the tests' data are. Importable from every test
folder (`pythonpath = ["tests"]` in pyproject.toml); conftest.py keeps only fixtures and hooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"  # files the tests read by path
CLI = [sys.executable, "-m", "mplm_bench.cli"]
ENV = os.environ | {"PYTHONPATH": str(REPO)}
SCRIPTED_RUN = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4"]


def run_cli(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """`mplm-bench ARGS` in a fresh interpreter (what a user's shell does), output captured."""
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=ENV | (env or {}), timeout=timeout)


def invoke_cli(*args: str | Path) -> subprocess.CompletedProcess:
    """The CLI in-process (fast), in the same shape as `run_cli`; an uncaught exception (not an
    exit) is raised, so a traceback fails the test."""
    from typer.testing import CliRunner

    from mplm_bench.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess(list(args), r.exit_code, r.stdout, r.stderr)


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: str | Path) -> tuple[int, str, str]:
    """The console script's entry point in-process, usage errors included: (exit code, stdout,
    stderr); anything but a SystemExit (a traceback) fails the test."""
    from mplm_bench.cli import main

    monkeypatch.setattr(sys, "argv", ["mplm-bench", *map(str, args)])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    return done.value.code, out, err  # type: ignore[return-value]
