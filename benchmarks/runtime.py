"""Runtime cost of the harness itself, measured side by side in one run.

Runs scripted Sudoku samples and splits the wall time into what the reference policy took, what
token counting took, and what is left: the runtime's own overhead (parsing directives, routing
messages, scheduling, accounting). Targets (issue 2): <= 2 s per 25x25 MPLM sample and
<= 0.1 ms runtime overhead per step.

    python benchmarks/runtime.py [--size 25] [--n 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from mplm_bench.backends.base import Sampling
from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.registry import strategies, tasks
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.strategies.base import RunContext


class Timed:
    """Wraps a callable and accumulates the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *a):
        t = time.perf_counter()
        try:
            return self.fn(*a)
        finally:
            self.seconds += time.perf_counter() - t


def measure(size: int, strategy_name: str, n: int) -> dict:
    task_cls = tasks.get("sudoku")
    task = task_cls(task_cls.Options(size=size))
    strategy = strategies.get(strategy_name)()
    policy = Timed(task.policy(strategy.protocol))
    backend = ScriptedBackend(policy)
    backend.counter.count = count = Timed(backend.counter.count)  # type: ignore[method-assign]
    ctx = RunContext(backend, Caps(), Sampling(max_tokens=1_000_000), LatencyModel())
    instances = task.generate(n, seed=0)
    t0 = time.perf_counter()
    steps = correct = 0
    for inst in instances:
        result = asyncio.run(strategy.run_sample(task, inst, f"bench/{inst.id}", ctx))
        steps += result.world.metrics.n_calls
        correct += result.score.correct
    total = time.perf_counter() - t0
    runtime = total - policy.seconds - count.seconds
    return {
        "size": size, "strategy": strategy_name, "n": n, "correct": correct, "steps": steps,
        "s_per_sample": total / n, "policy_s": policy.seconds / n, "count_s": count.seconds / n,
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
