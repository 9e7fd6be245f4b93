"""A scripted run from a RunConfig, in-process, returning its samples and manifest
(test_noise, test_conformity)."""

from __future__ import annotations

import asyncio

import pandas as pd

from mplm_bench.config import RunConfig
from mplm_bench.runner import build_backend, execute, plan


def run_all(tmp_path, task, task_options, strategy, n, backend_options, strategy_options=None):
    cfg = RunConfig(task=task, strategy=strategy, task_options=task_options, n=n, backend="scripted",
                    backend_options=backend_options, strategy_options=strategy_options or {},
                    out=tmp_path)

    async def go():
        p = plan(cfg)
        backend = build_backend(p)
        try:
            manifest = await execute(p, backend)
        finally:
            await backend.aclose()
        return p, manifest

    p, manifest = asyncio.run(go())
    return pd.read_parquet(p.store.dir / "samples"), manifest
