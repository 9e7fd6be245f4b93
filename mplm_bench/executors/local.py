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
        todo = iter(p.todo)  # lazy: an instance is built when a worker takes it

        async def worker() -> None:
            for instance, repeat in todo:
                emit(await run_one(p, ctx, instance, repeat))
                # a backend that never suspends (scripted) must still let the loop run: the
                # commit timer, a Ctrl-C's cancellation, the other workers
                await asyncio.sleep(0)
                me = asyncio.current_task()
                if me is not None and me.cancelling():  # a cancel the sample's own code absorbed
                    raise asyncio.CancelledError

        # `--concurrency` samples at once, so the engine sees one batch; memory stays that of
        # the samples in flight, however many are left (not one coroutine per sample)
        workers = [asyncio.ensure_future(worker()) for _ in range(p.cfg.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:  # one failed (a bug, a full disk): the others stop too
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def layout(self) -> dict[str, Any]:
        return {"executor": self.name}

    async def aclose(self) -> None:
        return None
