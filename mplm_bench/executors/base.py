"""What an executor is: something that runs a Plan's samples and hands each finished one back.

The driver (`runner.execute_with`) is the only writer: an executor never touches the run
directory, it returns `Outcome`s (a sample row and its call rows, built where the sample ran) and
the driver writes each with `RunStore.write_sample`. So every executor produces the same Parquet
layout with the same resume keys, and a run started by one resumes under another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mplm_bench.results.rows import call_rows, sample_row
from mplm_bench.runtime.accounting import SampleMetrics, Status
from mplm_bench.strategies.base import Ensemble, RunContext, SampleResult

if TYPE_CHECKING:
    from mplm_bench.plan import Plan
    from mplm_bench.tasks.base import Instance


@dataclass(slots=True)
class Outcome:
    """One finished sample, ready to write: its key, its samples row and its calls rows."""

    instance_id: str
    repeat: int
    row: dict[str, Any]
    calls: list[dict[str, Any]]


Emit = Callable[[Outcome], None]


class Executor(Protocol):
    name: str

    async def prepare(self, p: Plan) -> dict[str, Any]:
        """Get a backend ready for `p` (reusing one when it fits); return its `describe()`."""
        ...

    async def run(self, p: Plan, emit: Emit) -> None:
        """Run every sample of `p.todo`, calling `emit` once per sample as it finishes."""
        ...

    def layout(self) -> dict[str, Any]:
        """Where the samples ran, for the manifest (JSON-able)."""
        ...

    async def aclose(self) -> None: ...


def sample_key(p: Plan, instance: Instance, repeat: int) -> str:
    return f"{p.cfg.config_hash()}/{instance.id}/{repeat}"


async def run_one(p: Plan, ctx: RunContext, instance: Instance, repeat: int) -> Outcome:
    """Run one sample (all its threads) on `ctx.backend` and build its rows."""
    result = await p.strategy.run_sample(p.task, instance, sample_key(p, instance, repeat), ctx)
    return outcome(p, instance, repeat, result)


def outcome(p: Plan, instance: Instance, repeat: int, result: SampleResult) -> Outcome:
    return Outcome(instance.id, repeat, sample_row(p.cfg, p, instance, repeat, result),
                   call_rows(p.cfg, instance, repeat, result))


def lost_outcome(p: Plan, instance: Instance, repeat: int, detail: str) -> Outcome:
    """A sample whose worker was lost too often: recorded `engine_error`, no calls, never dropped."""
    metrics = SampleMetrics(status=Status.ENGINE_ERROR, detail=detail)
    result = SampleResult(Ensemble(sample_key(p, instance, repeat), [], metrics),
                          p.task.score(instance, None))
    return outcome(p, instance, repeat, result)
