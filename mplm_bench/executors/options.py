"""The executor's settings (`--executor`, `--ray-*`, `--max-retries`, or `-X key=value`), apart
from the executors themselves so that an executor never imports a command to read them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mplm_bench.config import ConfigError


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


def executor_options(x_keys: frozenset[str] = frozenset(), **values: object) -> ExecutorOptions:
    """Validated options; a bad value or a Ray option without `--executor ray` is one ConfigError.
    `x_keys`: the keys given as `-X key=value`, named so in errors (the others by their flag)."""

    def flag(key: str) -> str:
        if key in x_keys:
            return f"-X {key}"
        name = "--" + key.replace("_", "-")
        return {"--kind": "--executor", "--ray-start-timeout-s": "--ray-start-timeout"}.get(name, name)

    try:
        opts = ExecutorOptions(**values)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"{flag('.'.join(str(x) for x in err['loc']))}: {err['msg']}") from None
    if opts.kind == "local":
        given = [f for f in ("ray_address", "ray_actors", "ray_gpus_per_actor") if getattr(opts, f) is not None]
        if given:
            raise ConfigError(f"{flag(given[0])} needs --executor ray")
    return opts
