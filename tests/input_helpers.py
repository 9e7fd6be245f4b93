"""Bad input through the console script in-process: its exit code and stderr, and the one
`error:` line it must be (test_reliability_input, the hardening tests)."""

from __future__ import annotations

import sys

import pytest

from mplm_bench.cli import main


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["mplm-bench", *args])
    with pytest.raises(SystemExit) as done:  # anything else (a traceback) fails the test
        main()
    return done.value.code, capsys.readouterr().err


def assert_one_error_line(code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
