"""Hostile model output through the real World and schedulers: a scripted policy keyed by
thread, and what every such sample must end as (test_reliability_hostile, the hardening
tests)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.results.schema import CALL_SCHEMA
from mplm_bench.results.store import RunStore, part_name
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World

NEVER = {"engine_error", "timeout"}  # a pure policy cannot fail, and nothing may hang
PREFIX = "Your id is: "


def thread_of(prompt: str) -> str:
    return prompt[len(PREFIX):].split("\n", 1)[0][:-1] if prompt.startswith(PREFIX) else "0"


def run(responses: dict[str, list[str]], kind: str = "sync", caps: Caps | None = None,
        default: list[str] | None = None, prompt: str = "go", log_prompts: bool = False) -> World:
    """Thread t's k-th step (k = recvs completed so far) answers responses[t][k] (the last one
    again once they run out); `{self}` becomes the thread's own id."""

    def policy(prompt: str) -> str:
        tid = thread_of(prompt)
        options = responses.get(tid) or default or responses.get("*") or ["<stop>"]
        return options[min(prompt.count("</recv>"), len(options) - 1)].replace("{self}", tid)

    backend = ScriptedBackend(policy, counter=CharCounter())
    caps = caps or Caps(max_steps=300, max_threads=300, max_depth=8, max_sample_chars=3_000_000,
                        max_wall_s=60)
    world = World("cfg/inst/0", prompt, caps, Sampling(), log_prompts=log_prompts)
    asyncio.run(Scheduler(backend).run(world, kind))
    return world


def assert_well_ended(world: World) -> None:
    assert world.done and world.metrics.status not in NEVER, (world.metrics.status, world.metrics.detail)
    assert world.metrics.gen_tokens == sum(c.completion_tokens for c in world.calls)
    assert len(world.threads) <= world.caps.max_threads and all(c.status for c in world.calls)


def write_rows(world: World) -> pa.Table:
    """What the runner writes for this sample, through the store (lone surrogates included)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "run")
        store.create()
        rows = [{"run_id": "r", "instance_id": "../../etc/passwd", "repeat": 0} | c.to_row() for c in world.calls]
        sample = {"status": str(world.metrics.status), "answer": world.metrics.answer}
        store.write_sample(part_name("../../etc/passwd", 0), sample, rows,
                           pa.schema([("status", pa.string()), ("answer", pa.string())]), CALL_SCHEMA)
        files = [p for p in Path(tmp).rglob("*") if p.is_file()]
        assert all(p.is_relative_to(store.dir) for p in files) and len(files) == 2
        return pq.read_table(store.calls_dir)
