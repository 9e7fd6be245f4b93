"""The `math` task: MATH-500/AIME/GSM8K-style problems with `\\boxed{}` answers."""

from mplm_bench.tasks.mathqa.task import MathTask

__all__ = ["MathTask"]
