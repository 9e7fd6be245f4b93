"""Issue 39 (done when): a hypothesis fuzz over `--data` records and over server responses (usage
numbers, tag storms, sizes) finds no traceback and no sample over its memory cap. Bounded
examples with a deadline: a few seconds in all."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
import tracemalloc
from pathlib import Path

from hostile_helpers import assert_well_ended, thread_of, write_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toys import CharCounter

from mplm_bench import registry
from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World
from mplm_bench.tasks.base import TaskError

# -- --data records ------------------------------------------------------------------------------
NUMBERS = st.one_of(st.integers(-3, 40), st.integers(), st.sampled_from([10**9, -(10**9), 10**30, 2**63, 0]),
                    st.floats(allow_nan=True), st.booleans())
LEAVES = st.one_of(NUMBERS, st.none(), st.text(max_size=8), st.sampled_from(["SAT", "unsat.", "1,2", "[["]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                      st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=25)
FIELDS = ["id", "clauses", "label", "n_vars", "num_vars", "nums", "target", "solution", "puzzle", "question",
          "answer", "problem", "context"]
SHAPED = {  # values shaped like each task's fields, so records get past the first checks
    "clauses": st.lists(st.lists(st.one_of(st.integers(-8, 8), NUMBERS), max_size=4), max_size=6),
    "nums": st.lists(st.one_of(st.integers(1, 30), NUMBERS), max_size=8),
    "target": st.one_of(st.integers(0, 200), NUMBERS),
    "puzzle": st.lists(st.lists(st.integers(0, 4), min_size=4, max_size=4), min_size=4, max_size=4),
}
RECORD = st.fixed_dictionaries({}, optional={k: SHAPED.get(k, VALUES) for k in FIELDS})
NESTED = st.integers(50, 3000).map(lambda d: "[" * d + "]" * d)
LINE = st.one_of(RECORD.map(json.dumps), VALUES.map(json.dumps), NESTED, st.text(max_size=20))
TASKS = [("sat", "cot"), ("countdown", "sos"), ("sudoku", "cot"), ("longqa", "cot"), ("math", "cot")]


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TASKS), st.lists(LINE, min_size=1, max_size=4), st.sampled_from([".jsonl", ".json"]))
def test_any_data_record_is_loaded_or_one_task_error(task, lines, suffix):
    name, _ = task
    t = registry.tasks.get(name)()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d{suffix}"
        path.write_text("\n".join(lines) if suffix == ".jsonl" else "[" + ",".join(lines) + "]")
        try:
            instances = t.load(str(path), None)
        except TaskError as e:
            assert str(e) and "\n" not in str(e)[:2000]
            return
        except (UnicodeDecodeError, OSError):  # plan.py makes these one line
            return
    for inst in instances:  # what loaded can be prompted
        t.prompt(inst, t.protocols[0])


# -- server responses ----------------------------------------------------------------------------
USAGE = st.one_of(st.integers(0, 5000), st.integers(), st.sampled_from([10**30, -1, 2**63, 2**40 + 1]),
                  st.floats(), st.booleans(), st.none())
UNITS = ["<stop>", "<spawn [1]>", "<send [{self}]>x</send>", "<send [1,2]>", "<recv [", "< stop >", "x",
         "<spawn [{self}.0]>b</spawn>", "</send>", "</spawn>", "<recv>", "\ufffd", "\x00"]
STORM = st.tuples(st.sampled_from(UNITS), st.integers(0, 6000)).map(lambda t: t[0] * t[1])
RESPONSE = st.lists(st.one_of(STORM, st.sampled_from(["<recv>", "<stop>ok</stop>", "<spawn [1,2]>w</spawn>"])),
                    min_size=1, max_size=4).map("".join)
CAP = 400_000


class Hostile(ScriptedBackend):
    def __init__(self, policy, usage: dict) -> None:
        super().__init__(policy, counter=CharCounter())
        self.usage = usage

    async def generate(self, request):
        return dataclasses.replace(await super().generate(request), **self.usage)


@settings(max_examples=40, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "cached_prompt_tokens",
                                        "discarded_tokens"]), USAGE, max_size=2),
       st.lists(RESPONSE, min_size=1, max_size=3), st.sampled_from(["sync", "async"]))
def test_any_server_response_ends_its_sample_within_its_caps(usage, responses, kind):
    def policy(prompt: str) -> str:
        return responses[min(prompt.count("</recv>"), len(responses) - 1)].replace("{self}", thread_of(prompt))

    caps = Caps(max_steps=200, max_threads=64, max_sample_chars=CAP, max_wall_s=30)
    world = World("cfg/inst/0", "go", caps, Sampling())
    tracemalloc.start()
    try:
        asyncio.run(Scheduler(Hostile(policy, usage)).run(world, kind))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if not usage:  # a lying server's counts are refused, so they need not add up
        assert_well_ended(world)
    assert world.done and world.metrics.status != "timeout"
    # over the cap only by what the last step added before the check ended the sample
    last = max((len(c.response) for c in world.calls), default=0)
    assert world.chars <= CAP + 2 * last + 64 * caps.max_step_messages
    assert peak < 64 * 2**20, peak  # the strings held are about the cap
    assert write_rows(world).num_rows == len(world.calls)
