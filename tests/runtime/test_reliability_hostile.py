"""Hostile model output: the runtime never crashes or hangs, ends such samples with the right
status, keeps its memory bounded, and what it records can always be written.

Responses come from a scripted policy keyed by thread (the scripted backend: instant, virtual
time, one token per character), so every example runs the real World and schedulers.
"""

from __future__ import annotations

import tracemalloc

import pytest
from hostile_helpers import assert_well_ended, run, write_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.world import World

# -- generated responses -------------------------------------------------------------------
IDS = st.sampled_from(["1", "2", "1,2", "0", "{self}", "1.0", "..", "../x", "/etc", "a/../b", "999",
                       "1, 1, 1", "", ",", "1,,2", "x" * 70, "\x00", "0,1,2,3,4,5,6,7,8,9"])
BODY = st.one_of(st.text(max_size=20), st.sampled_from(["", "\x00\x00", "\ufffd", "\ud800", "<recv>",
                                                        "<stop>x</stop>", "{{ 7*7 }}", "$(touch pwned)"]))
FRAGMENTS = st.one_of(
    st.sampled_from(["<spawn [", "</spawn>", "<send [", "</send>", "<recv>", "<recv [", "<stop>",
                     "</stop>", "]>", "<", ">", "[", "\n", "\x00", "\ufffd", "</recv>", "<STOP >"]),
    st.builds("<spawn [{}]>{}</spawn>".format, IDS, BODY),
    st.builds("<spawn [{}]>{}".format, IDS, BODY),  # unclosed
    st.builds("<spawn [{}]><spawn [{}]>{}</spawn></spawn>".format, IDS, IDS, BODY),  # nested
    st.builds("<send [{}]>{}</send>".format, IDS, BODY),
    st.builds("<send [{}]><send [{}]>{}</send></send>".format, IDS, IDS, BODY),
    st.builds("<recv [{}]>".format, IDS),
    st.builds("<stop>{}</stop>".format, BODY),
    st.integers(20, 400).map(lambda k: "<spawn [" + ",".join(map(str, range(1, k))) + "]>go</spawn>"),
    st.integers(1_000, 200_000).map(lambda k: "<send [0,1,2,{self}]>" + "x" * k + "</send>"),
    st.binary(max_size=40).map(lambda b: b.decode("utf-8", errors="replace")),
)
# most responses end with a terminal directive, so samples get past the master's first step
TERMINALS = st.sampled_from(["", "<recv>", "<recv>", "<recv [1]>", "<recv [1,2]>", "<recv [{self}]>",
                             "<stop>", "<stop>answer</stop>"])
RESPONSE = st.tuples(st.lists(FRAGMENTS, max_size=6), TERMINALS).map(lambda t: "".join(t[0]) + t[1])
SCRIPT = st.dictionaries(st.sampled_from(["0", "1", "2", "1.0", ".."]), st.lists(RESPONSE, min_size=1, max_size=4),
                         min_size=1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCRIPT, st.lists(RESPONSE, min_size=1, max_size=3), st.sampled_from(["sync", "async"]))
def test_any_hostile_output_ends_the_sample_cleanly_and_can_be_written(script, default, kind):
    world = run(script, kind, default=default)
    assert_well_ended(world)
    table = write_rows(world)
    assert table.num_rows == len(world.calls)


# -- each hostile pattern ends with its own status -----------------------------------------
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("script,status,detail", [
    ({"0": ["<spawn [1]>b</spawn><recv [1]>"], "1": ["<send [{self}]>me</send><recv>"]},
     "cap_exceeded", "steps"),  # a thread that feeds itself forever
    ({"0": ["<spawn [" + ",".join(map(str, range(1, 5000))) + "]>b</spawn><recv>"]},
     "cap_exceeded", "threads"),  # spawn storm
    ({"0": ["<spawn [1]>b</spawn><recv [1]>"], "*": ["<spawn [{self}.0]>b</spawn><recv>"]},
     "cap_exceeded", "deeper"),  # every child spawns a grandchild
    ({"0": ["<spawn [1]>never closed"]}, "protocol_error", "neither"),
    ({"0": ["<recv [42]>"]}, "deadlock", "wait forever"),  # an id nobody will ever be
    ({"0": ["<spawn [../x,/etc]>b</spawn><recv [../x]>"]}, "deadlock", "wait forever"),  # path ids are no ids
    ({"0": ["<spawn [" + ",".join(map(str, range(1, 60))) + "]>b</spawn><recv [1]>"],
      **{str(i): ["<send [" + ",".join(map(str, range(60))) + "]>" + "x" * 50_000 + "</send><recv>"]
         for i in range(1, 60)}}, "cap_exceeded", "characters"),  # huge payloads to everyone
])
def test_each_hostile_pattern_ends_with_its_status(script, status, detail, kind):
    world = run(script, kind)
    assert world.metrics.status == status and detail in world.metrics.detail, world.metrics.detail
    assert_well_ended(world)


def test_nul_bytes_replacement_chars_and_lone_surrogates_survive_into_parquet():
    world = run({"0": ["<spawn [..]>\x00</spawn><recv [..]>", "<stop>\x00\ufffd\ud800 ok</stop>"],
                 "..": ["<send [0]>\x00 from ..</send><stop>"]})
    assert world.metrics.status == "ok" and world.metrics.answer.startswith("\x00\ufffd\ud800")
    assert ".." in world.threads  # a dotted id is just a thread id: it names no file
    calls = write_rows(world).to_pylist()
    assert calls[-1]["response"].startswith("<stop>\x00\ufffd\ufffd")  # the surrogate, replaced


def test_model_output_is_data_only_never_a_template_or_a_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = "{{ 7*7 }}{% for x in range(3) %}x{% endfor %}$(touch pwned)`touch pwned2`__import__('os')"
    world = run({"0": ["<spawn [1]>" + evil + "</spawn><recv [1]>", "<stop>" + evil + "</stop>"],
                 "1": ["<send [0]>" + evil + "</send><stop>"]})
    assert world.metrics.answer == evil
    assert world.threads["1"].prompt == "Your id is: 1.\n" + evil
    assert world.threads["0"].prompt.count(evil) == 2  # the spawn it wrote and the message it got
    assert not list(tmp_path.iterdir())


# -- memory --------------------------------------------------------------------------------
def broadcast_storm(payload: int) -> dict[str, list[str]]:
    """The master spawns 40 workers; each sends a large payload to everyone and waits again:
    every resume copies every payload into every prompt."""
    ids = ",".join(map(str, range(41)))
    worker = [f"<send [{ids}]>" + "y" * payload + "</send><recv>"]
    return {"0": ["<spawn [" + ids[2:] + "]>b</spawn><recv [1]>"], **{str(i): worker for i in range(1, 41)}}


def peak_bytes(cap: int) -> tuple[int, World]:
    caps = Caps(max_sample_chars=cap)  # every other cap at its default
    tracemalloc.start()
    try:
        world = run(broadcast_storm(20_000), "sync", caps)
        return tracemalloc.get_traced_memory()[1], world
    finally:
        tracemalloc.stop()


def test_logged_prompts_count_against_the_character_cap():
    """--log-prompts keeps a copy of every prompt: a long ping-pong holds far more then."""
    ping_pong = {"0": ["<spawn [1]>w</spawn><recv [1]>"] + ["<send [1]>p</send><recv [1]>"] * 30
                 + ["<stop>x</stop>"], "1": ["<send [0]>q</send><recv [0]>"]}
    caps = Caps(max_sample_chars=30_000)
    assert run(ping_pong, caps=caps, prompt="go " * 500).metrics.status == "ok"
    logged = run(ping_pong, caps=caps, prompt="go " * 500, log_prompts=True)
    assert logged.metrics.status == "cap_exceeded" and "characters" in logged.metrics.detail


def test_the_character_cap_bounds_a_samples_memory():
    small, w1 = peak_bytes(2_000_000)
    large, w2 = peak_bytes(16_000_000)
    for w in (w1, w2):
        assert w.metrics.status == "cap_exceeded" and "characters" in w.metrics.detail
    # generous bounds: the strings held are about the cap; objects and the tokenizer add little
    assert small < 40 * 2**20 and large < 120 * 2**20
    assert large > 3 * small  # and it is the cap that bounds it, not some other limit
