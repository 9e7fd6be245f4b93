"""The Ray actor that runs samples: one backend per actor, built inside it and reused.

An actor holds one backend (for vLLM: one engine, on the GPUs Ray assigned to the actor) and runs
many samples at once on its event loop (an async actor), so its engine sees one batch, as in a
local run. A sample and all its threads stay on the actor that started it: MPLM, fork-join and
PaCoRe are stateful multi-step programs. The actor builds the rows of each finished sample and
returns them; it never writes (the driver does, executors/base.py).

vLLM inside the actor: the actor is not created in a placement group, so for
`tensor_parallel_size > 1` vLLM picks its own multiprocessing executor on the actor's GPUs
rather than Ray (vllm/config/parallel.py: Ray only inside a placement group); a nested Ray
placement group would wait for GPUs the actor already holds. `VLLM_DP_*` variables a launcher
may have left in the worker's environment are cleared, or the engine would join a data-parallel
group that does not exist.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray

from mplm_bench.executors.base import Outcome, run_one
from mplm_bench.strategies.base import RunContext

if TYPE_CHECKING:
    from mplm_bench.plan import Plan
    from mplm_bench.runtime.backend import Backend
    from mplm_bench.tasks.base import Instance


@dataclass(frozen=True)
class PortablePlan:
    """A Plan as shipped to an actor: its task and strategy travel as (class, options) and are
    built again there (a task may hold what does not pickle, e.g. a tokenizer's counting closure),
    and its instances stay behind (each sample carries its own)."""

    fields: dict[str, Any]
    task: tuple[type, Any]
    strategy: tuple[type, Any, Any]  # class, options, input stream

    @classmethod
    def of(cls, p: Plan) -> PortablePlan:
        rest = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)
                if f.name not in ("task", "strategy", "instances", "todo")}
        return cls(rest, (type(p.task), p.task.options), (type(p.strategy), p.strategy.options,
                                                          p.strategy.input_stream))

    def plan(self) -> Plan:
        from mplm_bench.instances import Instances
        from mplm_bench.plan import Plan

        (task_cls, task_opts), (strat_cls, strat_opts, stream) = self.task, self.strategy
        return Plan(task=task_cls(task_opts), strategy=strat_cls(strat_opts, stream),
                    instances=Instances(items=[]), **self.fields)


def clear_leaked_vllm_env() -> list[str]:
    leaked = [k for k in os.environ if k.startswith("VLLM_DP_")]
    for k in leaked:
        del os.environ[k]
    return leaked


class SampleWorker:
    """Methods are async: Ray runs them concurrently on the actor's one event loop (the loop a
    vLLM engine binds to on its first request, so it must stay the same)."""

    def __init__(self) -> None:
        self.cleared_env = clear_leaked_vllm_env()
        self._backend: Backend | None = None
        self._backend_key: str | None = None
        self._plan: Plan | None = None
        self._ctx: RunContext | None = None

    async def ping(self) -> None:
        """Answers as soon as Ray has placed and started the actor (before any backend is built)."""

    async def load(self, portable: PortablePlan, backend_key: str) -> dict[str, Any]:
        """Take a run's plan; build a backend unless the current one fits."""
        from mplm_bench.plan import build_backend, model_label

        plan = portable.plan()
        if backend_key != self._backend_key:
            await self.aclose()
            self._backend = build_backend(plan)  # blocks the loop while an engine starts: idle anyway
            self._backend_key = backend_key
        assert self._backend is not None
        described = self._backend.describe()
        plan.model_label = model_label(plan.cfg, described)  # as the driver computes it
        self._plan = plan
        self._ctx = RunContext(self._backend, plan.caps, plan.sampling, plan.latency, plan.cfg.log_prompts)
        return {"backend": described, **self.placement()}

    def placement(self) -> dict[str, Any]:
        ctx = ray.get_runtime_context()
        return {"actor_id": ctx.get_actor_id(), "node_id": ctx.get_node_id(),
                "hostname": socket.gethostname(), "pid": os.getpid(),
                "resources": ctx.get_assigned_resources(), "cleared_env": self.cleared_env}

    async def run_sample(self, instance: Instance, repeat: int) -> Outcome:
        if self._plan is None or self._ctx is None:
            raise RuntimeError("run_sample before load")
        return await run_one(self._plan, self._ctx, instance, repeat)

    async def aclose(self) -> None:
        if self._backend is not None:
            backend, self._backend, self._backend_key = self._backend, None, None
            await backend.aclose()


RemoteSampleWorker = ray.remote(SampleWorker)
