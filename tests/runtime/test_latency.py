"""The batch clock's arithmetic on hand-made cases, and the schedulers on it (pure, fast)."""

from __future__ import annotations

import asyncio

import pytest
from runtime_helpers import scripted
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import Completion, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.latency import BatchClock, EngineCosts, LatencyModel
from mplm_bench.runtime.scheduler import LatencyModel as FromScheduler
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World

# round numbers: a decode iteration takes 1 s + 0.5 s per sequence in the batch
COSTS = EngineCosts(per_request=0.5, prefill_per_token=0.01, decode_base=1.0, decode_per_seq=0.5)


def step(prompt: int, out: int, cached: int = 0) -> Completion:
    return Completion("", prompt, out, "stop", cached_prompt_tokens=cached)


def test_latency_model_still_importable_from_the_scheduler():
    assert FromScheduler is LatencyModel and LatencyModel().clock() is None


def test_one_step_alone():
    clock = BatchClock(COSTS)
    clock.add("a", 0.0, step(100, 10))
    # 0.5 overhead + 100 x 0.01 prefill (its first token) + 9 iterations of 1.5 s
    assert clock.next_done() == (pytest.approx(15.0), ["a"])
    assert COSTS.alone(step(100, 10)) == pytest.approx(15.0)


def test_steps_in_flight_share_iterations_and_prefill_stalls_the_batch():
    clock = BatchClock(COSTS)
    clock.add("a", 0.0, step(100, 10))
    clock.add("b", 0.0, step(100, 4, cached=50))
    # both arrive at 0.5; a prefills to 1.5, b (50 uncached) to 2.0; then 9 and 3 tokens left
    # at 2 s per iteration (batch 2): b ends at 8; a's last 6 at 1.5 s each: 17
    assert clock.run() == {"b": pytest.approx(8.0), "a": pytest.approx(17.0)}


def test_a_prefill_arriving_mid_decode_delays_everyone():
    clock = BatchClock(COSTS)
    clock.add("a", 0.0, step(0, 5))  # arrives 0.5, first token at once, 4 iterations of 1.5
    t, done = clock.next_done()
    assert (t, done) == (pytest.approx(6.5), ["a"])
    clock.add("b", t, step(0, 3))
    clock.add("c", t, step(200, 3))  # its 2 s prefill stalls b's decoding
    # b, c arrive at 7.0; c prefills 7.0..9.0; then 2 iterations each at 2 s: both end at 13
    t, done = clock.next_done()
    assert t == pytest.approx(13.0) and done == ["b", "c"]  # one iteration: ends together


def test_cached_tokens_round_down_to_whole_blocks():
    costs = EngineCosts(0.0, 1.0, 0.0, 0.0, block_size=32)
    assert costs.uncached(step(100, 1, cached=70)) == 100 - 64
    clock = BatchClock(costs)
    clock.add(0, 0.0, step(100, 1, cached=70))
    assert clock.next_done() == (pytest.approx(36.0), [0])


def test_measured_decode_points_are_interpolated_and_extended_by_the_slope():
    costs = EngineCosts(0.0, 0.0, 9.0, 0.5, decode_points=((1, 1.0), (2, 3.0), (8, 6.0)))
    assert [costs.iteration(b) for b in (1, 2, 4, 8, 10)] == [1.0, 3.0, 4.0, 6.0, 7.0]
    assert EngineCosts(0.0, 0.0, 1.0, 0.5).iteration(4) == 3.0  # no points: the line


def test_max_batch_queues_the_rest():
    costs = EngineCosts(0.0, 0.0, 1.0, 0.0, max_batch=2)
    clock = BatchClock(costs)
    for k in "abc":
        clock.add(k, 0.0, step(0, 3))
    # a and b decode (2 iterations after their first token); c waits for a slot
    assert clock.run() == {"a": pytest.approx(2.0), "b": pytest.approx(2.0), "c": pytest.approx(4.0)}


def test_remove_counts_the_tokens_generated_so_far():
    clock = BatchClock(EngineCosts(0.0, 0.0, 1.0, 0.0))
    clock.add("long", 0.0, step(0, 100))
    clock.add("short", 0.0, step(0, 11))
    assert clock.next_done() == (pytest.approx(10.0), ["short"])
    assert clock.remove("long") == 11  # 1 with the prefill + 10 iterations
    assert len(clock) == 0
    clock.add("queued", clock.now + 5, step(0, 10))
    assert clock.remove("queued") == 0


def test_bad_use_is_refused():
    clock = BatchClock(COSTS)
    with pytest.raises(ValueError, match="no step"):
        clock.next_done()
    clock.add("a", 1.0, step(1, 1))
    with pytest.raises(ValueError, match="already"):
        clock.add("a", 1.0, step(1, 1))
    clock.next_done()
    with pytest.raises(ValueError, match="before the clock"):
        clock.add("b", 0.0, step(1, 1))


FJ = {
    ("0", 0): "<spawn [1,2]>B</spawn><recv [1,2]>",
    ("1", 0): "<send [0]>a</send><stop>",
    ("2", 0): "xxxxxxxxxx<send [0]>b</send><stop>",
    ("0", 1): "<stop>z</stop>",
}


def run(script, kind: str, latency: LatencyModel) -> World:
    backend = ScriptedBackend(scripted(script), counter=CharCounter())
    world = World("k", "go", Caps(), Sampling(max_tokens=10_000))
    asyncio.run(Scheduler(backend, latency).run(world, kind))
    return world


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_schedulers_on_the_batch_clock(kind):
    costs = EngineCosts(per_request=0.0, prefill_per_token=0.0, decode_base=1.0, decode_per_seq=1.0)
    w = run(FJ, kind, LatencyModel(batch=costs))
    assert w.metrics.status == "ok"
    by = {(c.thread_id, c.step): c for c in w.calls}
    n = {k: len(v) for k, v in FJ.items()}
    t0 = (n["0", 0] - 1) * 2.0  # the master alone: 2 s per iteration
    assert by["0", 0].end_v == pytest.approx(t0)
    short, long_ = n["1", 0], n["2", 0]
    # the workers share iterations at 3 s while both decode, then the longer one runs alone
    assert by["1", 0].end_v == pytest.approx(t0 + (short - 1) * 3.0)
    assert by["2", 0].end_v == pytest.approx(t0 + (short - 1) * 3.0 + (long_ - short) * 2.0)
    assert w.metrics.virtual_time == pytest.approx(by["2", 0].end_v + (n["0", 1] - 1) * 2.0)
    assert w.metrics.critical_path_tokens == n["0", 0] + long_ + n["0", 1]  # tokens, as ever


def test_async_preemption_on_the_batch_clock_repeats_and_counts_partial_tokens():
    long = "y" * 1000 + "<send [1]>late</send><stop>"
    script = {
        ("0", 0): "<spawn [1]>B</spawn><recv [1]>",
        ("1", 0): "<spawn [1.0,1.1]>F</spawn><recv>",
        ("1.0", 0): "<send [1]>fast</send><stop>",
        ("1.1", 0): long,
        ("1", 1): "<send [0]>SAT</send><stop>",
        ("0", 1): "<stop>SAT</stop>",
    }
    latency = LatencyModel(batch=COSTS)
    a, b = run(script, "async", latency), run(script, "async", latency)
    key = lambda w: [(c.thread_id, c.start_v, c.end_v, c.completion_tokens, c.status) for c in w.calls]  # noqa: E731
    assert key(a) == key(b) and a.metrics.status == "ok"
    pre = [c for c in a.calls if c.status == "preempted"]
    assert [c.thread_id for c in pre] == ["1.1"] and 0 < pre[0].completion_tokens < len(long)
    stop_of_1 = next(c for c in a.calls if c.thread_id == "1" and c.step == 1)
    assert pre[0].end_v == pytest.approx(stop_of_1.end_v)


def test_describe_says_what_the_clock_is():
    assert LatencyModel().describe() == {"decode_per_token": 1.0, "prefill_per_token": 0.0, "per_request": 0.0}
    d = LatencyModel(batch=COSTS).describe()
    assert d["unit"] == "seconds" and "alone" in d["scope"] and d["engine_costs"]["decode_base"] == 1.0
