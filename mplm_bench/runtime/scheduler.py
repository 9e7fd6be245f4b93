"""Schedulers: synchronous rounds and asynchronous event-driven, over one World.

Two clocks, one set of rules (docs/architecture.md §7). With a virtual-time backend (scripted) a step
that starts at t ends at t + its latency-model duration (with an engine profile: when the batch
clock of runtime/latency.py says, steps in flight together sharing decode iterations), and
completions are processed in (end time, thread id) order, so async runs and their preemptions
repeat bit for bit. With an engine, completions are processed in the order the engine finishes
them.

A thread the World holds (its piece of a streamed input has not arrived, docs/streaming.md)
begins when the run's clock reaches its release time: the virtual clock jumps there when nothing
else would happen first; on an engine the scheduler waits for it, in seconds since the sample
began, while the steps in flight go on.
"""

from __future__ import annotations

import asyncio
import math
import time

from mplm_bench.runtime.accounting import CallRecord, Status
from mplm_bench.runtime.backend import Backend, Completion
from mplm_bench.runtime.latency import LatencyModel  # defined there; imported from here too
from mplm_bench.runtime.protocol import SchedulerKind, thread_sort_key
from mplm_bench.runtime.world import Ticket, World, checked_usage


async def _call(backend: Backend, ticket: Ticket) -> Completion:
    """Run one request; an exception from the backend becomes an `error` completion, and so do
    impossible token counts (`checked_usage`), before the latency model or the World reads them."""
    try:
        return checked_usage(await backend.generate(ticket.request))
    except asyncio.CancelledError:
        raise
    except Exception as e:  # the sample records engine_error; the run goes on
        return Completion("", 0, 0, "error", error=f"{type(e).__name__}: {e}"[:500])


class Scheduler:
    def __init__(self, backend: Backend, latency: LatencyModel | None = None) -> None:
        self.backend = backend
        self.latency = latency or LatencyModel()
        self.now_v = 0.0
        # with an engine profile, virtual time is seconds and in-flight steps share the batch
        self.clock = self.latency.clock() if backend.virtual_time else None
        self.t0 = time.perf_counter()  # the sample's start: an engine run's clock origin
        self.t0_wall = time.time()
        self.first_token_v: dict[int, float] = {}  # call -> virtual time of its first token

    def now(self) -> float:
        """The run's clock: virtual time, or seconds since the sample began on an engine."""
        return self.now_v if self.backend.virtual_time else time.perf_counter() - self.t0

    def first_token_at(self, rec: CallRecord) -> float | None:
        """When a call's first output token came, on the run's clock; None if it made none.

        Virtual: the batch clock's prefill end, or start + per-request + uncached prefill + one
        decode step for independent steps. Engine: its measured time to first token."""
        if rec.completion_tokens < 1:
            return None
        if not self.backend.virtual_time:
            return None if rec.ttft_s is None else rec.start_wall - self.t0_wall + rec.ttft_s
        if self.clock is not None:
            return self.first_token_v.get(rec.call)
        return rec.start_v + self.latency.duration(
            Completion("", rec.prompt_tokens, 1, "stop", rec.cached_prompt_tokens))

    async def _until_release(self, world: World) -> bool:
        """Nothing runs and nothing is in flight: move the clock to the next held thread's
        release (False: none is held, the sample is stuck)."""
        release = world.next_release()
        if release is None:
            return False
        if self.backend.virtual_time:
            self.now_v = max(self.now_v, release)
        else:
            await asyncio.sleep(max(0.0, release - self.now()))
        return True

    async def run(self, world: World, kind: SchedulerKind) -> World:
        self.t0, self.t0_wall = time.perf_counter(), time.time()
        t0 = self.t0
        try:
            coro = self._sync(world) if kind == "sync" else self._async(world)
            await asyncio.wait_for(coro, timeout=world.caps.max_wall_s)
        except TimeoutError:
            world.finish(Status.TIMEOUT, f"sample exceeded {world.caps.max_wall_s} s wall clock")
        world.metrics.wall_s = time.perf_counter() - t0
        world.metrics.virtual_time = self.now_v
        return world

    def _begin(self, world: World) -> list[Ticket]:
        tickets = []
        for t in world.runnable(self.now()):
            tk = world.begin(t, self.now_v, time.time())
            if tk is None:
                break
            tickets.append(tk)
        return tickets

    async def _sync(self, world: World) -> None:
        """Every runnable thread steps; the round ends at its slowest step; then effects apply."""
        while not world.done:
            tickets = self._begin(world)
            if world.done:
                return
            if not tickets:
                if await self._until_release(world):
                    continue
                world.deadlock()
                return
            if self.backend.virtual_time:
                # an instant backend never suspends: awaiting each call in turn gives the same
                # results as gather without one asyncio task per step (a third of the runtime)
                comps = [await _call(self.backend, tk) for tk in tickets]
            else:
                comps = await asyncio.gather(*(_call(self.backend, tk) for tk in tickets))
            end_wall = time.time()
            ends = self._round_ends(tickets, comps)
            for tk, c, e in zip(tickets, comps, ends, strict=True):
                world.complete(tk, c, e, end_wall, wake=False)
            world.wake()  # messages are delivered at the barrier, after every step of the round
            self.now_v = max(ends)

    def _round_ends(self, tickets: list[Ticket], comps: list[Completion]) -> list[float]:
        """Virtual end of each step of a round that starts now (all together)."""
        if self.clock is None:
            return [self.now_v + self.latency.duration(c) for c in comps]
        for tk, c in zip(tickets, comps, strict=True):
            self.clock.add(tk.call, self.now_v, c)
        ends = self.clock.run()
        self.first_token_v.update(self.clock.first_tokens)
        return [ends[tk.call] for tk in tickets]

    async def _async(self, world: World) -> None:
        inflight: dict[int, tuple[Ticket, asyncio.Task[Completion]]] = {}
        try:
            while not world.done:
                for tk in self._begin(world):
                    inflight[tk.call] = (tk, asyncio.ensure_future(_call(self.backend, tk)))
                if world.done:
                    return
                if not inflight:
                    if await self._until_release(world):
                        continue
                    world.deadlock()
                    return
                # completions that end together are applied together, then threads wake: a
                # parent whose two children answer at once sees both answers (as with an engine)
                for tk, comp, end_v in await self._next_done(inflight, world.next_release()):
                    del inflight[tk.call]
                    self.now_v = max(self.now_v, end_v)
                    world.complete(tk, comp, end_v, time.time(), wake=False)
                world.wake()
                await self._abort_stale(world, inflight)
        finally:
            # the sample is over (or timed out): nothing it started may keep running
            for tk, task in list(inflight.values()):
                await self._abort(world, tk, task)

    async def _next_done(
        self, inflight: dict[int, tuple[Ticket, asyncio.Task[Completion]]], release: float | None = None
    ) -> list[tuple[Ticket, Completion, float]]:
        """The completions that come next; none when a held thread's release (`release`)
        comes first: the clock is then at the release and the caller begins that thread."""
        if self.backend.virtual_time:
            # scripted steps complete instantly in wall time; the earliest in virtual time wins
            await asyncio.gather(*(task for _, task in inflight.values()))
            if self.clock is not None:
                return self._clock_next(inflight, release)
            ends = sorted(
                (tk.record.start_v + self.latency.duration(task.result()), thread_sort_key(tk.thread_id), tk.call)
                for tk, task in inflight.values()
            )
            first = ends[0][0]
            if release is not None and release < first:
                self.now_v = max(self.now_v, release)
                return []
            return [(inflight[c][0], inflight[c][1].result(), e) for e, _, c in ends if e == first]
        timeout = None if release is None else max(0.0, release - self.now())
        done, _ = await asyncio.wait([t for _, t in inflight.values()], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        out = [(tk, task.result(), self.now_v) for tk, task in inflight.values() if task in done]
        out.sort(key=lambda x: thread_sort_key(x[0].thread_id))
        return out

    def _clock_next(self, inflight: dict[int, tuple[Ticket, asyncio.Task[Completion]]],
                    release: float | None = None) -> list[tuple[Ticket, Completion, float]]:
        """The next completions on the batch clock (steps begun since the last call join it);
        none if `release` comes first (the clock stops there)."""
        assert self.clock is not None
        for call, (tk, task) in inflight.items():
            if call not in self.clock:
                self.clock.add(call, tk.record.start_v, task.result())
        end, calls = self.clock.next_done(math.inf if release is None else release)
        self.first_token_v.update(self.clock.first_tokens)
        if not calls:
            self.now_v = max(self.now_v, end)
            return []
        out = [(inflight[c][0], inflight[c][1].result(), end) for c in calls]
        out.sort(key=lambda x: (thread_sort_key(x[0].thread_id), x[0].call))
        return out

    async def _abort_stale(self, world: World, inflight: dict[int, tuple[Ticket, asyncio.Task[Completion]]]) -> None:
        for call, (tk, task) in list(inflight.items()):
            if world.is_stale(tk):
                del inflight[call]
                await self._abort(world, tk, task)

    async def _abort(self, world: World, tk: Ticket, task: asyncio.Task[Completion]) -> None:
        """Abort an in-flight step and record what it had generated by then."""
        if self.backend.virtual_time:
            comp = await task
            if self.clock is not None:  # a step not on the clock yet started just now
                n = self.clock.remove(tk.call) if tk.call in self.clock else 0
            else:
                n = self.latency.tokens_by(self.now_v - tk.record.start_v, comp)
            # the virtual step is cut at the preemption time with the tokens it had produced
            comp = Completion("", comp.prompt_tokens, n, "abort", comp.cached_prompt_tokens)
            end_v = self.now_v
        else:
            await self.backend.abort(tk.request.request_id)
            try:
                comp = await asyncio.wait_for(task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                comp = Completion("", 0, 0, "abort", error="abort did not return")
            end_v = self.now_v
        world.record(tk, comp, end_v, time.time(), "preempted")
