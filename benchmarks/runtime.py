"""Runtime cost of the harness itself, measured side by side in one run.

Each scripted Sudoku sample runs twice through the same strategy and scheduler:

1. with the scripted backend (reference policy + real tokenizer): the end-to-end cost per sample;
2. with a backend that answers every request from the completions recorded in (1): no policy and
   no token counting, so what remains is the runtime's own work per step (parsing directives,
   routing messages, waking threads, scheduling, accounting).

The policy's share is timed separately over the recorded prompts; token counting is the rest.
Nothing wraps the hot calls in timers (at ~100k calls per sample the timers would be a third of
what they measure). Targets (issue 2): <= 2 s per 25x25 MPLM sample and <= 0.1 ms runtime
overhead per step.

    python benchmarks/runtime.py [--size 25] [--n 3] [--strategies mplm,fj,cot]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.config import RunConfig
from mplm_bench.plan import plan
from mplm_bench.runtime.backend import Completion, Request, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.strategies.base import RunContext


class Recording:
    """Wraps the scripted backend and keeps every completion and prompt by request id."""

    name, virtual_time = "recording", True

    def __init__(self, inner: ScriptedBackend) -> None:
        self.inner = inner
        self.completions: dict[str, Completion] = {}
        self.prompts: list[str] = []

    async def generate(self, request: Request) -> Completion:
        c = await self.inner.generate(request)
        self.completions[request.request_id] = c
        self.prompts.append(request.prompt)
        return c

    async def abort(self, request_id: str) -> None: ...
    def describe(self) -> dict[str, Any]: return {}
    async def aclose(self) -> None: ...


class Table:
    """Answers from a recording: the runtime alone."""

    name, virtual_time = "table", True

    def __init__(self, completions: dict[str, Completion]) -> None:
        self.completions = completions

    async def generate(self, request: Request) -> Completion:
        return self.completions[request.request_id]

    async def abort(self, request_id: str) -> None: ...
    def describe(self) -> dict[str, Any]: return {}
    async def aclose(self) -> None: ...


def measure(size: int, strategy_name: str, n: int) -> dict:
    # the task, strategy and instances exactly as `mplm_bench.run` plans them (nothing is written:
    # this measures below the API on purpose, the runtime's own work without Parquet or manifest)
    with tempfile.TemporaryDirectory() as out:
        p = plan(RunConfig(task="sudoku", strategy=strategy_name, backend="scripted",
                           task_options={"size": size}, n=n, out=Path(out)))
    task, strategy, instances = p.task, p.strategy, p.instances
    policy = task.policy(strategy.protocol)
    sampling, caps, latency = Sampling(max_tokens=1_000_000), Caps(), LatencyModel()
    scripted = ScriptedBackend(policy)
    total = runtime = policy_s = 0.0
    steps = correct = 0
    for inst in instances:
        key = f"bench/{inst.id}"
        rec = Recording(ScriptedBackend(policy, counter=scripted.counter))  # a warm tokenizer
        t = time.perf_counter()
        result = asyncio.run(strategy.run_sample(task, inst, key, RunContext(rec, caps, sampling, latency)))
        total += time.perf_counter() - t
        steps += result.world.metrics.n_calls
        correct += result.score.correct
        table = Table(rec.completions)
        t = time.perf_counter()
        again = asyncio.run(strategy.run_sample(task, inst, key, RunContext(table, caps, sampling, latency)))
        runtime += time.perf_counter() - t
        assert again.world.metrics.n_calls == result.world.metrics.n_calls
        t = time.perf_counter()
        for prompt in rec.prompts:
            policy(prompt)
        policy_s += time.perf_counter() - t
    return {
        "size": size, "strategy": strategy_name, "n": n, "correct": correct, "steps": steps,
        "s_per_sample": total / n, "policy_s": policy_s / n,
        "count_s": max(0.0, total - runtime - policy_s) / n,
        "runtime_ms_per_step": 1000 * runtime / max(steps, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=25)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--strategies", default="mplm,fj,cot")
    args = ap.parse_args()
    print(f"{'size':>4} {'strategy':>8} {'ok':>5} {'steps/sample':>12} {'s/sample':>9} "
          f"{'policy s':>9} {'count s':>8} {'runtime ms/step':>15}")
    for name in args.strategies.split(","):
        r = measure(args.size, name, args.n)
        print(f"{r['size']:>4} {r['strategy']:>8} {r['correct']:>2}/{r['n']:<2} {r['steps'] / r['n']:>12.0f} "
              f"{r['s_per_sample']:>9.3f} {r['policy_s']:>9.3f} {r['count_s']:>8.3f} "
              f"{r['runtime_ms_per_step']:>15.4f}")
    print("targets: 25x25 mplm <= 2 s/sample; runtime overhead <= 0.1 ms/step")


if __name__ == "__main__":
    main()
