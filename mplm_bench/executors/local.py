"""The local executor: every sample in this process on one backend, `--concurrency` at a time."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from mplm_bench.executors.base import Emit, run_one
from mplm_bench.strategies.base import RunContext

if TYPE_CHECKING:
    from mplm_bench.plan import Plan
    from mplm_bench.runtime.backend import Backend


class LocalExecutor:
    name = "local"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend  # owned by the caller, which closes it (a sweep reuses it)

    async def prepare(self, p: Plan) -> dict[str, Any]:
        return self.backend.describe()

    async def run(self, p: Plan, emit: Emit) -> None:
        ctx = RunContext(self.backend, p.caps, p.sampling, p.latency, p.cfg.log_prompts)
        gate = asyncio.Semaphore(p.cfg.concurrency)

        async def one(instance: Any, repeat: int) -> None:
            async with gate:
                done = await run_one(p, ctx, instance, repeat)
            emit(done)

        # all samples at once (bounded by the gate), so the engine sees one batch
        await asyncio.gather(*(one(i, r) for i, r in p.todo))

    def layout(self) -> dict[str, Any]:
        return {"executor": self.name}

    async def aclose(self) -> None:
        return None
