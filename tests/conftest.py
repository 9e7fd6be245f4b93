"""Fixtures and hooks every test folder shares. Helpers a test imports live in modules beside this
one (cli_helpers.py, …), importable from every folder (`pythonpath = ["tests"]`); conftest.py is
not imported by name, so a folder may add its own."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import CLI, ENV, REPO, SCRIPTED_RUN, invoke_cli, run_cli  # noqa: F401  (were here)


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


@pytest.fixture
def fake_server() -> Iterator[str]:
    """The base URL of a fake OpenAI-compatible server (fake_openai.py) for this test."""
    import threading
    from http.server import ThreadingHTTPServer

    from fake_openai import FakeOpenAI

    FakeOpenAI.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
