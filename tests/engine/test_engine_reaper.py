"""`kill -9` of a vllm run takes its engine processes with it (issue 39.7; backends/engine_reaper.py)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import ENV

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]


def test_kill_9_of_a_vllm_run_leaves_no_engine_behind(tmp_path):
    import psutil

    cmd = [sys.executable, "-m", "mplm_bench.cli", "run", "-t", "sudoku", "-s", "mplm", "-T", "size=4",
           "-n", "400", "-M", "kv_cache_space_gb=0.5", "--out", str(tmp_path), "-q"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = psutil.Process(proc.pid)
        deadline = time.monotonic() + 240
        engine: list[psutil.Process] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if list(tmp_path.glob("*/samples/*.parquet")):  # the engine is up and samples are landing
                engine = [c for c in run.children(recursive=True) if "reaper" not in " ".join(c.cmdline())]
                break
            time.sleep(0.5)
        assert engine, "the run wrote no sample in time"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone, alive = psutil.wait_procs(engine, timeout=30)
        assert not alive, f"left running after kill -9: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
