"""Issue 39.5: hostile model output ends only its own sample, within its caps, in time linear in
its size: impossible usage numbers (`World.record` refuses them: the sample ends engine_error and
its rows can be written), storms of unclosed tags (`parse_response` is linear), a step delivering
thousands of messages (`Caps.max_step_messages`)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from hostile_helpers import assert_well_ended, run, write_rows
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.protocol import parse_response
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World


class LyingUsage(ScriptedBackend):
    """A server whose usage numbers are whatever the test says."""

    def __init__(self, policy, **usage) -> None:
        super().__init__(policy, counter=CharCounter())
        self.usage = usage

    async def generate(self, request):
        return dataclasses.replace(await super().generate(request), **self.usage)


def lying_world(**usage) -> World:
    backend = LyingUsage(lambda prompt: "<stop>42</stop>", **usage)
    world = World("cfg/inst/0", "go", Caps(max_wall_s=60), Sampling())
    asyncio.run(Scheduler(backend).run(world, "sync"))
    return world


@pytest.mark.parametrize("usage", [{"completion_tokens": 10**30}, {"prompt_tokens": 10**30},
                                   {"cached_prompt_tokens": -5}, {"completion_tokens": 2.5},
                                   {"prompt_tokens": True}, {"discarded_tokens": 2**70}])
def test_impossible_usage_numbers_end_only_their_sample_and_can_be_written(usage):
    world = lying_world(**usage)
    assert world.metrics.status == "engine_error" and "usage" in world.metrics.detail, world.metrics.detail
    assert all(abs(v) < 2**53 for v in (world.metrics.gen_tokens, world.metrics.prompt_tokens))
    assert write_rows(world).num_rows == len(world.calls) == 1


@pytest.mark.parametrize("unit", ["<stop>", "<spawn [1]>", "<send [1]>", "<spawn [1]><send [2]>x",
                                  "<recv [", "<send [1]>a</send", "< stop >"])
def test_parsing_is_linear_in_unclosed_tags(unit):
    def took(n: int) -> float:
        text = "x" + unit * n
        t0 = time.perf_counter()
        parse_response(text)
        return time.perf_counter() - t0

    took(1000)
    assert took(40_000) < 0.5  # quadratic: tens of seconds; 100k `<stop>` (600 KB) took ~330 s


def test_a_closed_stop_after_unclosed_ones_still_wins():
    step = parse_response("<spawn [1]>a</spawn>" + "<stop>" * 5 + "body</stop>")
    assert step.terminal.body == "<stop><stop><stop><stop>body" and len(step.spawns) == 1
    step = parse_response("<send [1]>a<send [2]>b</send></send><stop>")
    assert [s.payload for s in step.sends] == ["a<send [2]>b"] and step.terminal.body is None


def test_a_step_delivering_thousands_of_messages_meets_a_cap():
    sends = "<send [{self}]>x</send>" * 5000
    world = run({"0": ["<spawn [1]>b</spawn><recv [1]>"], "1": [sends + "<recv>"]})
    assert world.metrics.status == "cap_exceeded" and "messages in one step" in world.metrics.detail
    assert world.metrics.n_messages == 0  # refused before a single Message was made
    assert_well_ended(world)
    assert Caps().max_step_messages >= 4096  # every thread once: 100x a 25x25 MPLM cell's 72
