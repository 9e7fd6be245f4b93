"""The `multiply` task: a × b with `-T digits=4` digit factors, seeded; exact integer answers."""

from __future__ import annotations

import random

from pydantic import Field

from mplm_bench.registry import tasks
from mplm_bench.tasks.base import Instance, Protocol, TaskError, TaskOptions
from mplm_bench.tasks.boxed.task import BoxedTask, instance
from mplm_bench.tasks.multiply.traces import PROBLEM, trace


class MultiplyOptions(TaskOptions):
    digits: int = Field(4, ge=1, le=60, description="digits of each factor")
    digits_b: int | None = Field(None, ge=1, le=60, description="digits of the second factor (default: digits)")


@tasks.register("multiply", options=MultiplyOptions)
class MultiplyTask(BoxedTask):
    options: MultiplyOptions

    def generate(self, n: int, seed: int) -> list[Instance]:
        o = self.options
        db = o.digits_b or o.digits
        rng = random.Random(f"multiply/{o.digits}/{db}/{seed}")
        out = []
        for i in range(n):
            a = rng.randrange(10 ** (o.digits - 1), 10**o.digits)
            b = rng.randrange(10 ** (db - 1), 10**db)
            out.append(instance(f"mul{o.digits}x{db}-s{seed}-{i:05d}", o.digits, PROBLEM.format(a=a, b=b),
                                a * b, a=str(a), b=str(b)))
        return out

    def load(self, source: str, n: int | None) -> list[Instance]:
        raise TaskError("multiply: instances are generated (-T digits=4 --seed S); it reads no --data")

    def grade(self, gold: str, answer: str) -> bool:
        """Exact: the digits of the product (thousands separators and spaces allowed)."""
        digits = answer.replace(",", "").replace("\\,", "").replace("{,}", "").replace(" ", "")
        return digits == gold

    def trace(self, protocol: Protocol, problem: str) -> str:
        return trace(protocol, problem)
