"""Where a run's samples execute: `local` (this process, one backend) or `ray` (Ray actors, each
with its own backend, on one machine or a cluster). Either way the driver writes the results
(executors/base.py), so the run directory is the same and a run resumes under either."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mplm_bench.config import ConfigError

if TYPE_CHECKING:
    from mplm_bench.executors.ray_executor import RayExecutor

RAY_HINT = "pip install 'mplm-bench[ray]' (or: pip install ray)"


class ExecutorOptions(BaseModel):
    """The CLI's `--executor` / `--ray-*` / `--max-retries` options. Not part of the run's
    identity: where samples run changes how a run executes, not what it measures."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # None: $RAY_ADDRESS, else a new local Ray instance
    ray_actors: int | None = Field(None, ge=1)  # None: as many as the cluster's resources hold
    ray_cpus_per_actor: float = Field(1.0, ge=0)
    ray_gpus_per_actor: float | None = Field(None, ge=0)  # None: vllm's tp x dp on a GPU cluster
    max_retries: int = Field(2, ge=0)  # per sample: re-runs after its actor died; per actor: replacements
    # an actor Ray cannot place (its resources held elsewhere) would keep a run waiting forever
    ray_start_timeout_s: float = Field(600.0, gt=0)


def executor_options(**values: object) -> ExecutorOptions:
    """Validated options; a bad value or a Ray option without `--executor ray` is one ConfigError."""
    try:
        opts = ExecutorOptions(**values)
    except ValidationError as e:
        err = e.errors()[0]
        flag = "--" + ".".join(str(x) for x in err["loc"]).replace("_", "-")
        flag = {"--kind": "--executor", "--ray-start-timeout-s": "--ray-start-timeout"}.get(flag, flag)
        raise ConfigError(f"{flag}: {err['msg']}") from None
    if opts.kind == "local":
        given = [f for f in ("ray_address", "ray_actors", "ray_gpus_per_actor") if getattr(opts, f) is not None]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} needs --executor ray")
    return opts


def open_ray_executor(opts: ExecutorOptions) -> RayExecutor:
    """The Ray executor, connected; or one ConfigError line naming the extra when Ray is not
    installed, or the address when the cluster cannot be reached."""
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_HINT}")
    from mplm_bench.executors.ray_executor import RayExecutor

    executor = RayExecutor(opts)
    executor.connect()  # before any progress display: a bad address fails first
    return executor
