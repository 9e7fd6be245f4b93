"""The `math` task: generated arithmetic offline, or MATH-500/AIME/GSM8K/HMMT via `--data`.

Graded by the last `\\boxed{}` of the final trace against the reference with math-verify; the
extracted answer and the verdict are sample columns. Generated problems (no `--data`) are signed
sums of two-digit products (`-T terms=3`), optionally divided, with exact answers; their scripted
reference policy writes a serial trace and one per parallel dialect. Loaded problems have no
scripted trace (a scripted run on them answers nothing): run them on an engine.
"""

from __future__ import annotations

import random

from pydantic import Field

from mplm_bench.registry import tasks
from mplm_bench.tasks.base import Instance, Protocol, TaskOptions
from mplm_bench.tasks.boxed.task import BoxedTask, instance
from mplm_bench.tasks.mathqa.data import load_math
from mplm_bench.tasks.mathqa.generator import latex, problem, trace


class MathOptions(TaskOptions):
    terms: int = Field(3, ge=1, le=12, description="generated: products in each problem")
    problem_key: str | None = None  # --data: the problem column (None: problem, question)
    answer_key: str | None = None  # --data: the answer column (None: answer, final_answer, solution's box)
    config: str | None = None  # a hub dataset's configuration name
    split: str = "test"  # a hub dataset's split (or owner/name:split)


@tasks.register("math", options=MathOptions)
class MathTask(BoxedTask):
    options: MathOptions

    def generate(self, n: int, seed: int) -> list[Instance]:
        rng = random.Random(f"math/{self.options.terms}/{seed}")
        out = []
        for i in range(n):
            text, answer = problem(rng, self.options.terms)
            out.append(instance(f"math{self.options.terms}-s{seed}-{i:05d}", self.options.terms, text,
                                latex(answer), subject="arithmetic", level=self.options.terms))
        return out

    def load(self, source: str, n: int | None) -> list[Instance]:
        o = self.options
        return load_math(source, n, o.problem_key, o.answer_key, o.config, o.split)

    def trace(self, protocol: Protocol, problem: str) -> str:
        return trace(protocol, problem)
