"""The runtime's semantics with toy policies on the scripted backend (virtual time)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_helpers import scripted, thread_of  # noqa: F401
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel, Scheduler
from mplm_bench.runtime.world import World


def run(script, kind="sync", caps: Caps | None = None, latency: LatencyModel | None = None,
        master_prompt="go", max_tokens=10_000) -> World:
    backend = ScriptedBackend(scripted(script), counter=CharCounter())
    world = World("k", master_prompt, caps or Caps(), Sampling(max_tokens=max_tokens))
    asyncio.run(Scheduler(backend, latency).run(world, kind))
    return world


def prompts_of(world: World, tid: str) -> list[str]:
    return ["".join(c.response) for c in world.calls if c.thread_id == tid]


def test_fork_join_recv_set_orders_by_sender_and_resumes_exactly():
    script = {
        ("0", 0): "<spawn [2,1]>B</spawn>\n<recv [1,2]>",
        ("1", 0): "<send [0]>{ From 1 }</send><stop>",
        ("2", 0): "<send [0]>{ From 2 }</send><stop>",
        ("0", 1): "<stop>done</stop>",
    }
    w = run(script)
    assert w.metrics.status == "ok" and w.metrics.answer == "done"
    master = w.threads["0"].prompt
    assert master == "go\n<spawn [2,1]>B</spawn>\n<recv [1,2]>\n{ From 1 }\n{ From 2 }\n</recv>"
    assert w.threads["1"].prompt == "Your id is: 1.\nB"
    assert w.metrics.rounds == 3 and w.metrics.n_threads == 3 and w.metrics.n_messages == 2


def test_critical_path_follows_dependencies_not_sums():
    script = {
        ("0", 0): "<spawn [1,2]>B</spawn><recv [1,2]>",
        ("1", 0): "<send [0]>a</send><stop>",
        ("2", 0): "xxxxxxxxxx<send [0]>b</send><stop>",  # the slower worker
        ("0", 1): "<stop>z</stop>",
    }
    n = {k: len(v) for k, v in script.items()}
    w = run(script)
    assert w.metrics.critical_path_tokens == n["0", 0] + n["2", 0] + n["0", 1]
    assert w.metrics.gen_tokens == sum(n.values())
    assert w.metrics.peak_context_tokens == max(len(c.response) + c.prompt_tokens for c in w.calls)


def test_recv_any_consumes_everything_available():
    script = {
        ("0", 0): "<spawn [1,2]>B</spawn><recv>",
        ("1", 0): "<send [0]>a</send><stop>",
        ("2", 0): "<send [0]>b</send><stop>",
        ("0", 1): "<stop>ok</stop>",
    }
    w = run(script)
    assert w.threads["0"].prompt.endswith("<recv>\na\nb\n</recv>")


def test_messages_to_stopped_or_unknown_threads_are_dropped():
    script = {
        ("0", 0): "<spawn [1]>B</spawn><recv [1]>",
        ("1", 0): "<send [0,1,99]>m</send><stop>",  # to itself (stopping now) and to nobody
        ("0", 1): "<stop>ok</stop>",
    }
    w = run(script)
    assert w.metrics.n_messages == 2  # to 0, and to 1 which was still live when the send landed
    assert w.metrics.n_dropped_messages == 1


def test_deadlock_is_detected_and_named():
    w = run({("0", 0): "<recv [5]>"})
    assert w.metrics.status == "deadlock" and "wait forever" in w.metrics.detail


def test_master_without_terminal_is_a_protocol_error():
    w = run({("0", 0): "I think it is 4."})
    assert w.metrics.status == "protocol_error"


def test_truncated_master_is_truncated():
    w = run({("0", 0): "x" * 50 + "<stop>a</stop>"}, max_tokens=20)
    assert w.metrics.status == "truncated" and w.calls[0].finish_reason == "length"


def test_spawn_resets_a_thread():
    script = {
        ("0", 0): "<spawn [1]>first</spawn><recv [1]>",
        ("1", 0): "<send [0]>a</send><stop>",
        ("0", 1): "<spawn [1]>second</spawn><recv [1]>",
        ("0", 2): "<stop>ok</stop>",
    }
    w = run(script)
    assert w.metrics.status == "ok"
    assert w.threads["1"].prompt == "Your id is: 1.\nsecond" and w.threads["1"].generation == 1


def test_stop_preempts_the_subtree_and_counts_partial_tokens_once():
    # async, virtual time: thread 1 spawns a long-running child 1.1 and a quick one 1.0; 1.0
    # answers, 1 stops at once: 1.1 is preempted mid-step and only its generated part counts
    long = "y" * 1000 + "<send [1]>late</send><stop>"
    script = {
        ("0", 0): "<spawn [1]>B</spawn><recv [1]>",
        ("1", 0): "<spawn [1.0,1.1]>F</spawn><recv>",
        ("1.0", 0): "<send [1]>fast</send><stop>",
        ("1.1", 0): long,
        ("1", 1): "<send [0]>SAT</send><stop>",
        ("0", 1): "<stop>SAT</stop>",
    }
    w = run(script, kind="async")
    assert w.metrics.status == "ok"
    pre = [c for c in w.calls if c.status == "preempted"]
    assert [c.thread_id for c in pre] == ["1.1"]
    assert 0 < pre[0].completion_tokens < len(long)
    stop_of_1 = next(c for c in w.calls if c.thread_id == "1" and c.step == 1)
    assert pre[0].end_v == pytest.approx(stop_of_1.end_v)  # cut when thread 1 stopped
    assert w.metrics.gen_tokens == sum(c.completion_tokens for c in w.calls)
    assert w.threads["1.1"].state == "preempted"


def test_async_runs_repeat_bit_for_bit():
    script = {
        ("0", 0): "<spawn [1,2,3]>B</spawn><recv [1,2,3]>",
        ("1", 0): "aaaa<send [0]>1</send><stop>",
        ("2", 0): "a<send [0]>2</send><stop>",
        ("3", 0): "aa<send [0]>3</send><stop>",
        ("0", 1): "<stop>ok</stop>",
    }
    a, b = run(script, "async"), run(script, "async")
    key = lambda w: [(c.thread_id, c.start_v, c.end_v, c.completion_tokens) for c in w.calls]  # noqa: E731
    assert key(a) == key(b)
    assert [c.thread_id for c in sorted(a.calls, key=lambda c: c.end_v)][1:4] == ["2", "3", "1"]


@pytest.mark.parametrize(
    "caps,script,detail",
    [
        (Caps(max_threads=2), {("0", 0): "<spawn [1,2]>B</spawn><recv>"}, "threads"),
        (Caps(max_depth=1), {("0", 0): "<spawn [1]>B</spawn><recv>", ("1", 0): "<spawn [1.0]>B</spawn><recv>"}, "deeper"),
        (Caps(max_steps=1), {("0", 0): "<spawn [1]>B</spawn><recv>"}, "steps"),
        (Caps(max_total_tokens=5), {("0", 0): "<spawn [1]>B</spawn><recv>"}, "generated tokens"),
    ],
)
def test_caps_end_the_sample(caps, script, detail):
    w = run(script, caps=caps)
    assert w.metrics.status == "cap_exceeded" and detail in w.metrics.detail


def test_wall_clock_timeout():
    class Slow(ScriptedBackend):
        async def generate(self, request):
            await asyncio.sleep(5)

    backend = Slow(lambda p: "", counter=CharCounter())
    world = World("k", "go", Caps(max_wall_s=0.05), Sampling())
    asyncio.run(Scheduler(backend).run(world, "sync"))
    assert world.metrics.status == "timeout"


def test_engine_error_ends_the_sample():
    def boom(prompt: str) -> str:
        raise RuntimeError("engine died")

    backend = ScriptedBackend(boom, counter=CharCounter())
    world = World("k", "go", Caps(), Sampling())
    asyncio.run(Scheduler(backend).run(world, "async"))
    assert world.metrics.status == "engine_error" and "engine died" in world.metrics.detail


def test_prompt_longer_than_window_is_truncated():
    from mplm_bench.backends.scripted import ScriptedOptions

    backend = ScriptedBackend(lambda p: "<stop>x</stop>", ScriptedOptions(max_model_len=3), counter=CharCounter())
    world = World("k", "a long prompt", Caps(), Sampling())
    asyncio.run(Scheduler(backend).run(world, "sync"))
    assert world.metrics.status == "truncated" and "max_model_len" in world.metrics.detail


_soup = st.lists(st.sampled_from([
    "<spawn [1,2]>b</spawn>", "<spawn [0]>x</spawn>", "<spawn [1.0]>y</spawn>", "<send [0]>m</send>",
    "<send [1,2,0]>n</send>", "<send [../x]>p</send>", "<recv>", "<recv [1]>", "<recv [2,9]>", "<stop>",
    "<stop>ans</stop>", "<spawn [", "junk", "\n",
]), max_size=8).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["0", "1", "2", "1.0"]), _soup, min_size=1), st.sampled_from(["sync", "async"]))
def test_arbitrary_responses_never_crash_or_hang(responses, kind):
    def policy(prompt: str) -> str:
        return responses.get(thread_of(prompt), "")

    backend = ScriptedBackend(policy, counter=CharCounter())
    world = World("k", "go", Caps(max_steps=200, max_threads=50), Sampling())
    asyncio.run(Scheduler(backend).run(world, kind))
    assert world.done and world.metrics.status in {
        "ok", "truncated", "protocol_error", "deadlock", "cap_exceeded"}
    assert world.metrics.gen_tokens == sum(c.completion_tokens for c in world.calls)
