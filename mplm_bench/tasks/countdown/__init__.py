"""Countdown (APR, arXiv 2504.15466): instances, SoS+ and APR traces, reference policies.

Importing the package registers the task as `countdown` (see `mplm_bench.registry`).
"""

from mplm_bench.tasks.countdown.task import CountdownOptions, CountdownTask

__all__ = ["CountdownOptions", "CountdownTask"]
