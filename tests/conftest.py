"""What many test modules share: the command line as a user runs it (a subprocess, this checkout
first on the path), the same in-process (fast), and fixtures for a scripted run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    return run_cli


@pytest.fixture
def scripted_run(tmp_path: Path) -> Path:
    """The folder of a finished scripted run (MPLM Sudoku 4×4, 3 samples) under tmp_path/out."""
    r = invoke_cli(*SCRIPTED_RUN, "-n", "3", "--out", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = (tmp_path / "out").iterdir()
    return run


def pytest_terminal_summary(terminalreporter) -> None:
    """Say loudly when the browser tests were skipped for want of Chromium (a fresh machine's
    `make test`: only .ci/run installs it), not only in `-rs`'s list (issue 39.9)."""
    from mplm_bench.view import headless

    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "test_view_browser" in r.nodeid]
    if skipped and (why := headless.missing()) is not None:
        terminalreporter.write_sep("!", f"{len(skipped)} browser tests SKIPPED: {why}", red=True, bold=True)


@pytest.fixture(autouse=True)
def _forget_test_registrations() -> Iterator[None]:
    """Names a test registers (toy tasks, strategies, backends) are forgotten after it, so no
    test sees another's toys (`list`'s matrix, registry listings) whatever the order. Built-ins
    (imported before the snapshot) and plugins loaded meanwhile stay: their modules are imported
    once and would not register again."""
    from mplm_bench import registry

    regs = (registry.tasks, registry.strategies, registry.backends)
    for r in regs:
        r.import_builtins()
    before = [set(r._items) for r in regs]
    yield
    for r, known in zip(regs, before, strict=True):
        for name in set(r._items) - known:
            if not _from_entry_point(r, name):
                del r._items[name]


def _from_entry_point(reg: object, name: str) -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == name for ep in entry_points(group=f"mplm_bench.{reg.kind}s"))  # type: ignore[attr-defined]
