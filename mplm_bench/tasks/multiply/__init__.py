"""Multi-digit multiplication, ThreadWeaver's public reproduction task."""

from mplm_bench.tasks.multiply.task import MultiplyTask

__all__ = ["MultiplyTask"]
