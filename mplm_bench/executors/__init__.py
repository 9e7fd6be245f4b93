"""Where a run's samples execute: `local` (this process, one backend) or `ray` (Ray actors, each
with its own backend, on one machine or a cluster). Either way the driver writes the results
(executors/base.py), so the run directory is the same and a run resumes under either."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from mplm_bench.config import ConfigError
from mplm_bench.executors.options import ExecutorOptions, executor_options  # noqa: F401

if TYPE_CHECKING:
    from mplm_bench.executors.ray_executor import RayExecutor

RAY_HINT = "pip install 'mplm-bench[ray]' (or: pip install ray)"


def open_ray_executor(opts: ExecutorOptions) -> RayExecutor:
    """The Ray executor, connected; or one ConfigError line naming the extra when Ray is not
    installed, or the address when the cluster cannot be reached."""
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_HINT}")
    from mplm_bench.executors.ray_executor import RayExecutor

    executor = RayExecutor(opts)
    executor.connect()  # before any progress display: a bad address fails first
    return executor
