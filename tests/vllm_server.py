"""A real `vllm serve` on 127.0.0.1 for the tests: start, wait until it answers, stop.

The server runs as `python -m vllm.entrypoints.openai.api_server` (the CPU build's `vllm` console
script looks up its version under the wrong distribution name and fails), in its own session, so
teardown signals its whole process group (API server, engine core, worker).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

READY_TIMEOUT_S = 300  # ~50 s alone; longer when it boots next to an in-process engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(model_dir: str, log: Path, *extra: str, max_model_len: int = 8192) -> tuple[subprocess.Popen[bytes], str]:
    from mplm_bench.backends.vllm_cpu import cpu_dtype

    port = free_port()
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model_dir, "--host", "127.0.0.1", "--port", str(port),
        "--enforce-eager", "--dtype", cpu_dtype(),  # the in-process backend's default here
        "--max-model-len", str(max_model_len),
        "--kv-cache-memory-bytes", str(512 << 20), "--seed", "0", "--enable-prefix-caching",
        "--enable-prompt-tokens-details",  # else usage has no cached_tokens
        "--uvicorn-log-level", "warning", *extra,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}/v1"


def wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path, timeout_s: float = READY_TIMEOUT_S) -> str:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the vLLM server exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return base_url
        time.sleep(1)
    pytest.fail(f"the vLLM server was not ready within {timeout_s} s:\n{tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def tail(log: Path, n: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
