"""Input that arrives over time (docs/streaming.md): held threads, the clocks that release them,
how mplm / fj / cot use a streamed long-context input, its sample columns, report and plot."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys

import pandas as pd
import pytest
from cli_helpers import ENV

import mplm_bench
from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.runner import build_backend, execute, plan
from mplm_bench.runtime.backend import Completion, Request, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.input_stream import InputStream, ScheduleMismatch
from mplm_bench.runtime.latency import BatchClock, EngineCosts
from mplm_bench.runtime.protocol import SYSTEM_PROMPT
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import Seed, World
from mplm_bench.tasks.longqa.dialect import LongQADialect

TASK = {"length": 6000, "chunk_tokens": 1600}  # four chunks of ~1.5k tokens
RATE = 500.0  # tokens per clock unit: the last chunk arrives near t = 12


def run(tmp_path, strategy, n=4, rate=RATE, schedule=None, strategy_options=None, backend_options=None):
    cfg = RunConfig(task="longqa", strategy=strategy, task_options=TASK, backend="scripted",
                    strategy_options=strategy_options or {}, backend_options=backend_options or {},
                    n=n, out=tmp_path, input_rate=rate, input_schedule=schedule)
    result = mplm_bench.run(cfg)  # the Python API owns the backend's life
    return result.samples(), result.calls()


def first_calls(c: pd.DataFrame, thread: str) -> pd.DataFrame:
    return c[(c["thread_id"] == thread) & (c["step"] == 0)].set_index("instance_id")


# -- the runtime: held threads and the clocks that release them --------------------------------
class Echo:
    """An instant backend below the Backend interface: each step writes `tokens` characters."""

    name = "echo"

    def __init__(self, virtual_time: bool, tokens: int = 10) -> None:
        self.virtual_time = virtual_time
        self.tokens = tokens

    async def generate(self, request: Request) -> Completion:
        return Completion("x" * self.tokens, len(request.prompt), self.tokens, "stop")

    async def abort(self, request_id: str) -> None:
        return None

    def describe(self) -> dict:
        return {"backend": self.name}

    async def aclose(self) -> None:
        return None


FJ = LongQADialect("fj", ("1", "2", "3"), 0, "Question: Q?", False)


def held_world(releases: list[float]) -> World:
    seeds = [Seed(str(i + 1), (f"part {i + 1}",)) for i in range(len(releases))]
    w = World("k", "opening", Caps(), Sampling(max_tokens=64), system=SYSTEM_PROMPT, dialect=FJ, seeds=seeds)
    for i, at in enumerate(releases):
        w.hold(str(i + 1), at, last_piece=i == len(releases) - 1)
    return w


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_held_thread_starts_when_the_virtual_clock_reaches_its_release(kind):
    w = held_world([5.0, 10.0, 30.0])
    asyncio.run(Scheduler(Echo(True)).run(w, kind))
    starts = {c.thread_id: c.start_v for c in w.calls}
    assert w.metrics.status == "ok"
    # async: each at its release; sync: at the first round boundary at or after it
    assert starts["1"] == 5.0 and starts["3"] == 30.0
    assert starts["2"] == (10.0 if kind == "async" else 15.0)
    assert starts["0"] == 40.0 and w.metrics.virtual_time == 50.0
    # after the input's end: the last worker's 10 tokens, then the master's 10
    assert w.cp_after_input() == 20.0


def test_on_an_engine_a_held_thread_waits_for_the_wall_clock():
    w = held_world([0.0, 0.05, 0.1])
    s = Scheduler(Echo(False))
    asyncio.run(s.run(w, "async"))
    starts = {c.thread_id: c.start_wall - s.t0_wall for c in w.calls}
    assert w.metrics.status == "ok"
    assert starts["2"] >= 0.05 - 1e-3 and starts["3"] >= 0.1 - 1e-3  # never before the piece
    assert starts["0"] >= starts["3"]


def test_the_batch_clock_stops_at_an_outside_event_and_records_first_tokens():
    costs = EngineCosts(per_request=0.0, prefill_per_token=0.01, decode_base=1.0, decode_per_seq=0.0)
    clock = BatchClock(costs)
    clock.add("a", 0.0, Completion("", 100, 5, "stop"))  # prefill 1.0, then 4 iterations of 1.0
    assert clock.next_done(until=2.5) == (2.5, [])
    assert clock.first_tokens == {"a": 1.0}
    assert clock.next_done() == (5.0, ["a"])


def test_a_seed_the_master_does_not_wait_on_runs_and_goes_nowhere():
    serial = LongQADialect("serial")
    w = World("k", "the whole prompt", Caps(), Sampling(max_tokens=64), dialect=serial,
              seeds=[Seed("prefill.1", ("the whole",), max_tokens=1, awaited=False, cache_as="0")])
    assert w.threads["0"].waiting_for is None  # the master runs on its own
    tickets = {tk.thread_id: tk for tk in (w.begin(t, 0.0, 0.0) for t in w.runnable())}
    assert tickets["prefill.1"].request.thread_id == "0"  # sent under the thread it warms
    w.complete(tickets["prefill.1"], Completion("x", 3, 1, "length"), 1.0, 0.0)
    assert w.metrics.n_messages == 0 and not w.done


def test_arrivals_follow_the_rate_or_the_schedule():
    assert InputStream(rate=100).arrivals([100, 300, 50]) == [1.0, 4.0, 4.5]
    assert InputStream(schedule=(0, 2, 2)).arrivals([1, 2, 3]) == [0, 2, 2]
    with pytest.raises(ScheduleMismatch, match="3 times but .* 2 pieces"):
        InputStream(schedule=(0, 1, 2)).arrivals([5, 5])


# -- long-context QA on a streamed input -------------------------------------------------------
def test_virtual_time_streamed_runs_repeat_bit_for_bit(tmp_path):
    walls = ["wall_s", "start_wall", "end_wall", "run_dir"]  # clocks, and where each run was written
    a = run(tmp_path / "a", "mplm")
    b = run(tmp_path / "b", "mplm")
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x.drop(columns=[c for c in walls if c in x]),
                                      y.drop(columns=[c for c in walls if c in y]))


def test_an_mplm_reader_starts_on_its_chunk_before_the_input_ends(tmp_path):
    s, c = run(tmp_path, "mplm")
    s = s.set_index("instance_id")
    assert (s["status"] == "ok").all() and s["correct"].all() and (s["scheduler"] == "async").all()
    first, last = first_calls(c, "1"), first_calls(c, str(int(s["n_chunks"].iloc[0])))
    assert (first["start_v"] < s["input_end"]).all()  # reader 1 reads while the rest arrives
    assert (first["start_v"] > 0).all()  # ... once its own chunk has arrived
    assert (last["start_v"] == s["input_end"]).all()  # the last reader: when the input ends
    assert (s["first_token_after_input_start"] < s["input_end"]).all()
    assert (s["latency_after_input"] == s["virtual_time"] - s["input_end"]).all()
    assert (s["cp_tokens_after_input"] > 0).all()
    assert (s["cp_tokens_after_input"] <= s["critical_path_tokens"]).all()


def test_fork_join_workers_start_on_their_chunks_as_they_arrive(tmp_path):
    s, c = run(tmp_path, "fj", n=2)
    s = s.set_index("instance_id")
    arrivals = s["input_end"] * 0  # worker k starts exactly when chunk k has arrived
    for k in range(1, int(s["n_chunks"].iloc[0]) + 1):
        starts = first_calls(c, str(k))["start_v"]
        assert (starts > arrivals).all() and (starts <= s["input_end"]).all()
        arrivals = starts
    assert s["correct"].all()


def test_cot_waits_for_the_last_piece(tmp_path):
    s, c = run(tmp_path, "cot")
    s = s.set_index("instance_id")
    master = first_calls(c, "0")
    assert (s["n_calls"] == 1).all() and s["correct"].all()
    assert (master["start_v"] == s["input_end"]).all()
    # everything CoT generates comes after the input ended
    assert (s["cp_tokens_after_input"] == master["completion_tokens"]).all()
    assert (s["first_token_after_input_start"] > s["input_end"]).all()
    assert (s["prefill_requests"] == 0).all() and (s["final_call_cached_tokens"] == 0).all()


def test_cot_prefilling_while_reading_sends_each_arrived_prefix(tmp_path):
    s, c = run(tmp_path, "cot", strategy_options={"prefill_while_reading": True},
               backend_options={"prefill_per_token": 0.001})
    plain, _ = run(tmp_path / "plain", "cot", backend_options={"prefill_per_token": 0.001})
    s, plain = s.set_index("instance_id"), plain.set_index("instance_id")
    n_chunks = int(s["input_pieces"].iloc[0])
    prefill = c[c["thread_id"].str.startswith("prefill.")]
    master = c[c["thread_id"] == "0"].set_index("instance_id")
    assert (s["prefill_requests"] == n_chunks - 1).all() and len(prefill) == len(s) * (n_chunks - 1)
    assert (prefill["completion_tokens"] == 1).all()
    assert (prefill.groupby("instance_id")["start_v"].max() < s["input_end"]).all()  # before it ended
    assert (master["start_v"] == s["input_end"]).all()
    # the final call finds the last prefix cached, and answers as without prefilling
    last = prefill.sort_values("start_v").groupby("instance_id").last()
    assert (master["cached_prompt_tokens"] == last["prompt_tokens"]).all()
    assert (s["final_call_cached_tokens"] == master["cached_prompt_tokens"]).all()
    assert (s["answer"] == plain["answer"]).all() and s["correct"].all()
    assert (s["latency_after_input"] < plain["latency_after_input"]).all()


def test_a_schedule_releases_each_piece_at_its_time(tmp_path):
    s, c = run(tmp_path, "mplm", n=1, rate=None, schedule=[0, 1, 2, 30])
    assert s["n_chunks"].iloc[0] == 4 and s["input_end"].iloc[0] == 30
    assert [first_calls(c, str(k))["start_v"].iloc[0] for k in (1, 2, 3, 4)] == [0, 1, 2, 30]
    assert math.isnan(s["input_rate"].iloc[0])


def test_streamed_runs_are_other_runs_and_unstreamed_ones_keep_their_ids():
    base = RunConfig(task="longqa", strategy="mplm", backend="scripted")
    assert "input_rate" not in base.identity()
    assert base.model_copy(update={"input_rate": 2000.0}).config_hash() != base.config_hash()


@pytest.mark.parametrize("cfg,needle", [
    ({"task": "sudoku", "strategy": "mplm", "input_rate": 100}, "no input that arrives in pieces"),
    ({"task": "longqa", "strategy": "pacore", "input_rate": 100}, "does not take a streamed input"),
    ({"task": "longqa", "strategy": "cot", "strategy_options": {"prefill_while_reading": True}},
     "needs a streamed input"),
    ({"task": "longqa", "strategy": "cot", "input_rate": 0}, "--input-rate: "),
    ({"task": "longqa", "strategy": "cot", "input_schedule": [3, 1]}, "must not decrease"),
    ({"task": "longqa", "strategy": "cot", "input_rate": 5, "input_schedule": [1]}, "not both"),
])
def test_a_stream_that_cannot_run_is_refused_before_anything_runs(tmp_path, cfg, needle):
    with pytest.raises(ConfigError, match=needle):
        plan(RunConfig(backend="scripted", out=tmp_path, n=1, **cfg))
    assert not any(tmp_path.iterdir())


def test_the_cli_says_so_in_one_line_and_exit_2(tmp_path):
    env = ENV
    r = subprocess.run([sys.executable, "-m", "mplm_bench.cli", "run", "-t", "longqa", "-s", "cot", "-b",
                        "scripted", "--input-schedule", "0,x", "--out", str(tmp_path), "-q"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "--input-schedule '0,x'" in r.stderr and "Traceback" not in r.stderr


def test_report_and_plot_show_the_streaming_numbers(tmp_path):
    from mplm_bench.analysis.plots import plot
    from mplm_bench.analysis.report import report

    for rate in (250.0, 1000.0):
        for strategy in ("mplm", "cot"):
            run(tmp_path / "runs", strategy, n=1, rate=rate)
    text = report([str(tmp_path / "runs")], "markdown", None, {})
    assert "after input" in text and "CP after input" in text and "| input_rate |" in text
    (out,) = plot([str(tmp_path / "runs")], "streaming", [tmp_path / "s.png"])
    assert out.stat().st_size > 1000
    with pytest.raises(ConfigError, match="no 'input_rate'"):
        plain = RunConfig(task="longqa", strategy="cot", backend="scripted", n=1, out=tmp_path / "plain")
        p = plan(plain)
        backend = build_backend(p)
        asyncio.run(execute(p, backend))
        plot([str(tmp_path / "plain")], "streaming", [tmp_path / "t.png"])

