"""Long-context QA (docs/protocols.md §4): LongBench-v2, local files, an offline generated set."""

from mplm_bench.tasks.longqa.task import LongQATask

__all__ = ["LongQATask"]
