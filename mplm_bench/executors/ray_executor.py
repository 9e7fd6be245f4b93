"""`--executor ray`: a run's samples sharded over Ray actors, results streamed back to the driver.

Each actor (ray_actors.py) holds one backend and runs up to `--concurrency` samples at once; the
driver hands the next sample of one queue to the least busy actor with room, so samples spread
evenly and a faster actor takes more of them. Each finished sample comes back as its rows and is
written by the driver at once (runner.execute_with), exactly as a local run writes it.

Failure: actors are created with `max_restarts=0` and their calls with `max_task_retries=0`
(at-most-once), so Ray never re-runs a sample behind our back. When an actor dies, the driver
kills what is left of it, puts its unfinished samples back at the front of the queue for any live
actor, and starts a replacement (at most `--max-retries` per actor slot). A sample whose actor
died under it more than `--max-retries` times is recorded `engine_error` with a detail saying so;
finished samples are never re-run. The manifest records the cluster and every actor.

One executor serves a whole sweep: its actors stay up across cells and rebuild their backend only
when the cell's backend key changes (sweep_run.backend_key), so one engine per actor serves every
cell with the same engine settings. Actors are recreated only when the resources they need change.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from mplm_bench.config import ConfigError
from mplm_bench.executors import ray_cluster
from mplm_bench.executors.base import Emit, Outcome, lost_outcome
from mplm_bench.executors.options import ExecutorOptions
from mplm_bench.executors.ray_actors import PortablePlan, RemoteSampleWorker

if TYPE_CHECKING:
    from mplm_bench.plan import Plan
    from mplm_bench.tasks.base import Instance

CONTROL_CALLS = 4  # actor concurrency kept free of samples: ping, load, aclose


class ActorNotStarted(RuntimeError):
    """Ray could not place an actor in time: handled like an actor that died."""


@dataclass
class Slot:
    """One actor position in the pool; a dead actor's replacement takes the same slot."""

    index: int
    handle: Any
    resources: dict[str, float]
    ready: bool = False
    inflight: int = 0
    replacements: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # actors that died in this slot
    samples: int = 0


@dataclass
class _Stats:
    retried: int = 0  # sample attempts lost with their actor and queued again
    lost: int = 0  # samples recorded engine_error after too many lost attempts
    actors_died: int = 0


class RayExecutor:
    name = "ray"

    def __init__(self, opts: ExecutorOptions) -> None:
        self.opts = opts
        self.slots: list[Slot] = []
        self._owns_ray = False
        self._connected = False
        self._resources: dict[str, float] | None = None
        self._plan_ref: Any = None
        self._backend_key: str | None = None
        self._concurrency = 1
        self._stats = _Stats()

    def connect(self) -> None:
        """Join (or start) the Ray cluster; a bad address is one ConfigError line."""
        if not self._connected:
            self._owns_ray = ray_cluster.connect(self.opts.ray_address)
            self._connected = True

    # -- pool ----------------------------------------------------------------------------
    def _new_actor(self) -> Any:
        assert self._resources is not None
        return RemoteSampleWorker.options(
            max_restarts=0, max_task_retries=0, max_concurrency=self._concurrency + CONTROL_CALLS,
            **self._resources).remote()

    async def prepare(self, p: Plan) -> dict[str, Any]:
        from mplm_bench.plan import backend_key

        self.connect()
        resources = ray_cluster.actor_resources(p, self.opts)
        if resources != self._resources or self._concurrency != p.cfg.concurrency or not self._live():
            await self._drop_pool()
            n = ray_cluster.actor_count(p, self.opts, resources)
            self._resources, self._concurrency = resources, p.cfg.concurrency
            self.slots = [Slot(i, self._new_actor(), resources) for i in range(n)]
        self._backend_key = backend_key(p)
        self._plan_ref = ray.put(PortablePlan.of(p))  # small, shipped once per run
        self._stats = _Stats()  # the manifest's layout is per run: counts start again
        for s in self.slots:
            s.samples, s.history = 0, []
        live = self._live()
        results = await asyncio.gather(*(self._load(s) for s in live), return_exceptions=True)
        described = None
        for slot, res in zip(live, results, strict=True):
            if isinstance(res, RayTaskError):  # the backend failed to build: the user's to fix
                raise ConfigError(_cause_line(res)) from None
            if isinstance(res, RayActorError | ActorNotStarted):  # a replacement loads once the run starts
                self._actor_lost(slot, res, replace=True)
            elif isinstance(res, BaseException):
                raise res
            else:
                described = described or res["backend"]
        if described is None:
            raise ConfigError("no Ray actor could start (see the Ray logs); nothing was run")
        return described

    async def _load(self, slot: Slot) -> dict[str, Any]:
        slot.ready = False
        # placement first, under a timeout; building the backend (an engine start: minutes) is not
        try:
            await asyncio.wait_for(_awaitable(slot.handle.ping.remote()), self.opts.ray_start_timeout_s)
        except TimeoutError:
            raise ActorNotStarted(f"Ray did not place and start the actor within "
                                  f"--ray-start-timeout={self.opts.ray_start_timeout_s:g} s "
                                  f"(resources asked: {slot.resources})") from None
        info = await slot.handle.load.remote(self._plan_ref, self._backend_key)
        slot.info, slot.ready = info, True
        return info

    def _live(self) -> list[Slot]:
        return [s for s in self.slots if s.handle is not None]

    def _actor_lost(self, slot: Slot, error: BaseException, replace: bool) -> None:
        """The actor in `slot` died: record it, make sure it is gone, maybe start a replacement."""
        self._stats.actors_died += 1
        slot.history.append(_actor_record(slot, "died", _first_line(error)))
        with contextlib.suppress(Exception):  # already gone
            ray.kill(slot.handle, no_restart=True)  # a half-dead actor must not finish a sample later
        slot.ready, slot.inflight, slot.info, slot.samples = False, 0, {}, 0
        if replace and slot.replacements < self.opts.max_retries:
            slot.replacements += 1
            slot.handle = self._new_actor()
        else:
            slot.handle = None

    async def _drop_pool(self) -> None:
        live = self._live()
        if live:
            # a loaded actor closes its backend (an engine shuts down cleanly); one that never
            # loaded, perhaps never placed, is only killed
            await asyncio.gather(*(asyncio.wait_for(_awaitable(s.handle.aclose.remote()), 60)
                                   for s in live if s.ready), return_exceptions=True)
            for s in live:
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(s.handle, no_restart=True)
        self.slots = []

    # -- running -------------------------------------------------------------------------
    async def run(self, p: Plan, emit: Emit) -> None:
        cap = self._concurrency
        queue = _Queue(iter(p.todo))  # lazy: an instance is built when an actor has room for it
        attempts: Counter[tuple[str, int]] = Counter()
        # asyncio future -> (slot, the actor it went to, the sample or None for a load, its ref)
        tasks: dict[asyncio.Future[Any], tuple[Slot, Any, tuple[Instance, int] | None, Any]] = {}
        try:
            while queue or tasks:
                while queue:  # the least busy ready actor takes the next sample
                    free = [s for s in self._live() if s.ready and s.inflight < cap]
                    if not free:
                        break
                    slot = min(free, key=lambda s: (s.inflight, s.index))
                    todo = queue.popleft()
                    ref = slot.handle.run_sample.remote(*todo)
                    tasks[_awaitable(ref)] = (slot, slot.handle, todo, ref)
                    slot.inflight += 1
                for slot in self._live():  # a replacement actor: load the run's plan first
                    if not slot.ready and not any(s is slot and it is None for s, _, it, _ in tasks.values()):
                        tasks[asyncio.ensure_future(self._load(slot))] = (slot, slot.handle, None, None)
                if not tasks:  # samples left and no actor alive to run them
                    for inst, r in queue:
                        self._stats.lost += 1
                        emit(lost_outcome(p, inst, r, "no Ray actor left to run this sample: every actor "
                                          f"died and was replaced --max-retries={self.opts.max_retries} times"))
                    break
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    slot, handle, item, _ = tasks.pop(t)
                    self._finished(p, t, slot, handle, item, queue, attempts, emit)
        finally:
            for t, (_, _, _, ref) in tasks.items():  # interrupted: nothing may go on running
                t.cancel()
                if ref is not None:
                    with contextlib.suppress(Exception):  # its actor is gone already
                        ray.cancel(ref)

    def _finished(self, p: Plan, t: asyncio.Future[Any], slot: Slot, handle: Any,
                  item: tuple[Instance, int] | None, queue: _Queue,
                  attempts: Counter[tuple[str, int]], emit: Emit) -> None:
        error = t.exception()
        if item is None:  # a replacement actor is up, or failed to start (then: as if it died)
            if error is not None and slot.handle is handle:
                self._actor_lost(slot, error, replace=True)
            return
        if error is not None and not isinstance(error, RayActorError):
            raise error  # a bug in a sample's code: as in a local run, the run stops
        if slot.handle is handle:
            slot.inflight -= 1
        if error is None:
            result: Outcome = t.result()
            slot.samples += 1
            emit(result)
            return
        if slot.handle is handle:  # the first of its samples to report the death
            self._actor_lost(slot, error, replace=True)
        instance, repeat = item
        attempts[(instance.id, repeat)] += 1
        if attempts[(instance.id, repeat)] > self.opts.max_retries:
            self._stats.lost += 1
            emit(lost_outcome(p, instance, repeat, "the Ray actor running this sample died, on "
                              f"attempt {attempts[(instance.id, repeat)]} of {self.opts.max_retries + 1}"
                              f" (--max-retries): {_first_line(error)}"))
        else:
            self._stats.retried += 1
            queue.appendleft(item)  # next free slot on any live actor, new or surviving

    # -- manifest ------------------------------------------------------------------------
    def layout(self) -> dict[str, Any]:
        actors = []
        for s in self.slots:
            actors.extend(s.history)
            if s.handle is not None and s.info:
                actors.append(_actor_record(s, "alive"))
        return {
            "executor": self.name,
            "ray_version": ray.__version__,
            "address": ray_cluster.address(),
            "requested_address": self.opts.ray_address or os.environ.get("RAY_ADDRESS") or "local",
            "nodes": ray_cluster.nodes(),
            "actor_resources": self._resources,
            "concurrency_per_actor": self._concurrency,
            "actors": actors,
            "max_retries": self.opts.max_retries,
            "retried_samples": self._stats.retried,
            "lost_samples": self._stats.lost,
            "actors_died": self._stats.actors_died,
        }

    async def aclose(self) -> None:
        if self._connected:
            await self._drop_pool()
            if self._owns_ray:
                ray.shutdown()
            self._connected = False


class _Queue:
    """Samples retried after their actor died (first), then the rest of the run, lazily."""

    def __init__(self, rest: Iterator[tuple[Instance, int]]) -> None:
        self.retried: deque[tuple[Instance, int]] = deque()
        self.rest = rest
        self._next: tuple[Instance, int] | None = next(rest, None)

    def __bool__(self) -> bool:
        return bool(self.retried) or self._next is not None

    def popleft(self) -> tuple[Instance, int]:
        if self.retried:
            return self.retried.popleft()
        item, self._next = self._next, next(self.rest, None)
        assert item is not None
        return item

    def appendleft(self, item: tuple[Instance, int]) -> None:
        self.retried.appendleft(item)

    def __iter__(self) -> Iterator[tuple[Instance, int]]:
        while self:
            yield self.popleft()


def _awaitable(ref: Any) -> asyncio.Future[Any]:
    return asyncio.wrap_future(ref.future())


def _actor_record(slot: Slot, status: str, error: str | None = None) -> dict[str, Any]:
    info = slot.info
    actor_id = info.get("actor_id") or getattr(getattr(slot.handle, "_actor_id", None), "hex", lambda: None)()
    rec = {"slot": slot.index, "status": status, "actor_id": actor_id,
           "node_id": info.get("node_id"), "hostname": info.get("hostname"), "pid": info.get("pid"),
           "resources": info.get("resources") or slot.resources, "samples": slot.samples}
    if error:
        rec["error"] = error
    return rec


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def _cause_line(error: RayTaskError) -> str:
    cause = getattr(error, "cause", None)
    return _first_line(cause) if isinstance(cause, BaseException) else _first_line(error)
