"""The Python API: `run` and `sweep` own a backend's whole life (plan -> build -> execute ->
aclose) and return typed results; the CLI, the benchmarks and the tests go through them.

    import mplm_bench
    result = mplm_bench.run("sudoku", "mplm", backend="scripted", task_options={"size": 4}, n=3)
    result.manifest.status          # "complete"; the manifest as a pydantic model
    result.samples()                # one row per sample (pandas, read on demand)
    result.report()                 # the `report` table (with --repeats: pass@k, mean@k, maj@k)
    result.sampling_metrics()       # pass@k / mean@k / maj@k for every k ≤ repeats, with intervals

pandas and pyarrow are imported only when a frame is asked for, engines only when a backend is
built, so `import mplm_bench` stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from mplm_bench.config import ConfigError, RunConfig

if TYPE_CHECKING:
    import pandas as pd

    from mplm_bench.executors.base import Executor
    from mplm_bench.executors.options import ExecutorOptions
    from mplm_bench.plan import Plan
    from mplm_bench.runtime.backend import Backend
    from mplm_bench.sweep_config import SweepConfig

SampleFn = Callable[[dict[str, Any]], None]
PlanFn = Callable[["Plan"], None]
BuildFn = Callable[["Plan"], AbstractContextManager[Any]]


class Manifest(BaseModel):
    """`manifest.json` of a run (results/manifest.py): the fields a caller reads most are typed,
    every other key the writer adds is kept as is (`model_extra`)."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    config_hash: str
    config: dict[str, Any]
    status: str  # running | complete | interrupted
    started_at: str
    finished_at: str | None = None
    n_instances: int = 0
    n_samples_on_disk: int = 0
    resumed: int = 0
    protocol: str = ""
    scheduler: str = ""
    backend: dict[str, Any] = Field(default_factory=dict)
    sessions: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    """One run folder: its manifest, and its sample and call rows read on demand."""

    dir: Path
    manifest: Manifest
    written: int = 0  # samples this call wrote (0: all were on disk already)

    @classmethod
    def read(cls, run_dir: Path | str, written: int = 0) -> RunResult:
        path = Path(run_dir)
        return cls(path, Manifest.model_validate_json((path / "manifest.json").read_text()), written)

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def samples(self) -> pd.DataFrame:
        from mplm_bench.analysis.load import load_samples

        return load_samples([self.dir])

    def calls(self, instance_id: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """Every call row (all columns unless `columns`), optionally of one instance only."""
        from mplm_bench.analysis.load import load_calls

        return load_calls(self.dir, instance_id=instance_id, columns=columns)

    def report(self, by: list[str] | None = None) -> pd.DataFrame:
        """The `mplm-bench report` table, unrounded (analysis/report.py)."""
        return report_frame(self.samples(), by)

    def sampling_metrics(self, ks: list[int] | None = None, by: list[str] | None = None) -> pd.DataFrame:
        """pass@k, mean@k, maj@k per report group for every k ≤ its repeats (or `ks`), each with
        its 95% interval: one row per (group, metric) (analysis/sampling.py)."""
        return sampling_frame(self.samples(), ks, by)


@dataclass(frozen=True)
class SweepResult:
    """Every cell of a sweep, in the sweep's order."""

    runs: list[RunResult] = field(default_factory=list)

    def samples(self) -> pd.DataFrame:
        from mplm_bench.analysis.load import load_samples

        return load_samples([r.dir for r in self.runs])

    def report(self, by: list[str] | None = None) -> pd.DataFrame:
        return report_frame(self.samples(), by)

    def sampling_metrics(self, ks: list[int] | None = None, by: list[str] | None = None) -> pd.DataFrame:
        return sampling_frame(self.samples(), ks, by)


def report_frame(samples: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    from mplm_bench.analysis.report import summarize

    return summarize(samples, by)


def sampling_frame(samples: pd.DataFrame, ks: list[int] | None = None,
                   by: list[str] | None = None) -> pd.DataFrame:
    from mplm_bench.analysis.report import group_keys
    from mplm_bench.analysis.sampling import sampling_table

    return sampling_table(samples, group_keys(samples, by), ks)


def config(task: str, strategy: str, *, backend: str = "vllm", model: str | None = None,
           task_options: dict[str, Any] | None = None, strategy_options: dict[str, Any] | None = None,
           backend_options: dict[str, Any] | None = None, n: int = 10, seed: int = 0,
           data: str | None = None, repeats: int = 1, concurrency: int = 64,
           out: Path | str = "results", log_prompts: bool = False) -> RunConfig:
    """The RunConfig `mplm-bench run` builds from the same flags (-T / -S / -M as dicts)."""
    if seed < 0:  # the negative seeds are export-sft's training stream (export/options.py)
        raise ConfigError(f"seed {seed}: evaluation seeds are ≥ 0 (the negative stream is export-sft's)")
    return RunConfig(task=task, strategy=strategy, backend=backend, model=model,
                     task_options=task_options or {}, strategy_options=strategy_options or {},
                     backend_options=backend_options or {}, n=n, seed=seed, data=data,
                     repeats=repeats, concurrency=concurrency, out=Path(out), log_prompts=log_prompts)


def run(task: str | RunConfig, strategy: str | None = None, *,
        executor: ExecutorOptions | None = None, on_sample: SampleFn | None = None,
        **options: Any) -> RunResult:
    """Run `strategy` on `task` and return the run (what `mplm-bench run` does, without the
    display). Keyword options are `config`'s; or pass a RunConfig alone. Resumes what is on
    disk; raises ConfigError / UnknownName / TaskError on bad input, before anything is written."""
    if isinstance(task, RunConfig):
        if strategy is not None or options:
            raise TypeError("run(RunConfig) takes no strategy or config options")
        cfg = task
    else:
        if strategy is None:
            raise TypeError("run() needs a task and a strategy")
        cfg = config(task, strategy, **options)
    return asyncio.run(arun(cfg, executor=executor, on_sample=on_sample))


async def arun(what: RunConfig | Plan, *, backend: Backend | None = None,
               executor: ExecutorOptions | Executor | None = None, on_start: PlanFn | None = None,
               on_ready: PlanFn | None = None, on_sample: SampleFn | None = None,
               building: BuildFn | None = None) -> RunResult:
    """The async core of `run`, for callers already in an event loop or that hold parts of the
    lifecycle themselves: a Plan instead of a config; a `backend` already built (the caller's:
    it is not closed here); an `executor`, as options (opened and closed here) or an open one
    (the caller's). `on_start(plan)` runs once the executor is reachable and before the backend
    is built (the CLI prints the run's line there), `on_ready(plan)` once it is built and the
    samples start (the CLI starts its bar), `on_sample(row)` after each written sample;
    `building(plan)`, a context manager the backend is built inside (the CLI's engine log)."""
    from mplm_bench.executors import open_ray_executor
    from mplm_bench.executors.local import LocalExecutor
    from mplm_bench.executors.options import ExecutorOptions
    from mplm_bench.plan import Plan, build_backend, plan
    from mplm_bench.runner import execute_with, settle

    p = what if isinstance(what, Plan) else plan(what)
    if not p.todo and settle(p):  # an interrupted session's compaction is finished there
        return RunResult.read(p.store.dir)
    owned: list[Any] = []  # what this call opened, closed in reverse
    runner: Executor | None = None
    if isinstance(executor, ExecutorOptions):
        if executor.kind == "ray":  # each actor builds its own backend
            runner = open_ray_executor(executor)  # Ray missing or unreachable: one line, first
            owned.append(runner)
    elif executor is not None:
        runner = executor
    try:
        if on_start is not None:
            on_start(p)
        if runner is None:
            if backend is None:
                with building(p) if building is not None else contextlib.nullcontext():
                    backend = build_backend(p)
                owned.append(backend)
            runner = LocalExecutor(backend)
            owned.append(runner)
        if on_ready is not None:
            on_ready(p)
        written = 0

        def counted(row: dict[str, Any]) -> None:
            nonlocal written
            written += 1
            if on_sample is not None:
                on_sample(row)

        await execute_with(p, runner, counted)
    finally:
        for part in reversed(owned):
            await part.aclose()
    return RunResult.read(p.store.dir, written)


def plan_cells(sweep: SweepConfig, out: Path | None = None) -> list[Plan]:
    """Every cell of a sweep planned (validated) before any runs; a bad one names its cell."""
    from mplm_bench.config import ConfigError
    from mplm_bench.plan import plan
    from mplm_bench.registry import UnknownName
    from mplm_bench.sweep_config import cell_label, expand
    from mplm_bench.tasks.base import TaskError

    plans = []
    for cfg in expand(sweep, out):
        try:
            plans.append(plan(cfg))
        except (ConfigError, UnknownName, TaskError) as e:
            raise ConfigError(f"cell {cell_label(cfg)}: {e}") from None
    return plans


def sweep(spec: str | Path | SweepConfig, *, out: Path | str | None = None,
          executor: ExecutorOptions | None = None, on_sample: SampleFn | None = None) -> SweepResult:
    """Run every cell of a sweep (a YAML file, or a SweepConfig) into one output root, as
    `mplm-bench sweep` does without the display: every cell is planned (validated) first, one
    backend is kept while consecutive cells can share it (plan.backend_key)."""
    from mplm_bench.sweep_config import SweepConfig, load_sweep

    cfg = spec if isinstance(spec, SweepConfig) else load_sweep(Path(spec))
    plans = plan_cells(cfg, Path(out) if out is not None else None)
    return SweepResult(asyncio.run(_sweep(plans, executor, on_sample)))


async def _sweep(plans: list[Plan], executor: ExecutorOptions | None,
                 on_sample: SampleFn | None) -> list[RunResult]:
    from mplm_bench.executors import open_ray_executor
    from mplm_bench.plan import backend_key, build_backend

    remote = None
    if executor is not None and executor.kind == "ray" and any(p.todo for p in plans):
        remote = open_ray_executor(executor)  # one set of actors serves every cell
    shared: dict[str, Backend] = {}
    results = []
    try:
        for p in plans:
            if not p.todo or remote is not None:
                results.append(await arun(p, executor=remote, on_sample=on_sample))
                continue
            key = backend_key(p)
            if key not in shared:
                for old in shared.values():  # one engine in memory at a time
                    await old.aclose()
                shared.clear()
                shared[key] = build_backend(p)
            results.append(await arun(p, backend=shared[key], on_sample=on_sample))
    finally:
        if remote is not None:
            await remote.aclose()
        for b in shared.values():
            await b.aclose()
    return results
