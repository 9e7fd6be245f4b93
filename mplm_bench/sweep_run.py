"""The body of `mplm-bench sweep`: plan every cell, run what is missing, one progress display.

Cells run one after another through `plan` / `execute`, each into OUT/<run id>/ like
`mplm-bench run`, so a sweep resumes exactly as a run does: cells whose samples are all on
disk are skipped, and a half-done cell runs only its missing samples. One backend is kept per
(backend, options) and reused by the following cells while that key stays the same; a backend
that writes with the task's reference policy (`scripted`, or `-M replay=...`) holds that policy,
so it is shared only by cells that differ in nothing but the seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mplm_bench.api import arun, plan_cells  # noqa: F401  (plan_cells: its old home)
from mplm_bench.backends.engine_log import EngineLog, keeps_engine_log
from mplm_bench.config import ConfigError
from mplm_bench.executors import open_ray_executor
from mplm_bench.executors.base import Executor
from mplm_bench.executors.options import ExecutorOptions
from mplm_bench.plan import Plan, backend_key, build_backend, plan  # noqa: F401  (backend_key: its old home)
from mplm_bench.progress import Accuracy, sample_progress
from mplm_bench.runner import settle
from mplm_bench.runtime.backend import Backend, BackendError
from mplm_bench.stopping import run_stoppable
from mplm_bench.sweep_config import SweepConfig, cell_label


def run_sweep(sweep: SweepConfig, out: Path | None = None, quiet: bool = False,
              dry_run: bool = False, executor: ExecutorOptions | None = None, verbose: bool = False) -> int:
    console = Console(stderr=True)
    if not console.is_terminal:  # a CI log: one line per cell, not wrapped at 80 columns
        console = Console(stderr=True, width=200)
    plans = plan_cells(sweep, out)
    total = sum(len(p.instances) * p.cfg.repeats for p in plans)
    todo = sum(len(p.todo) for p in plans)
    root = out or sweep.out
    console.print(f"sweep: {len(plans)} cells, {total} samples ({total - todo} on disk, {todo} to run)"
                  f" → {root}")
    if dry_run:
        print_cells(plans)
        return 0
    # a finished cell an interrupted session left unfinished (a compaction, its manifest) is
    # finished now; one whose manifest was moved away runs to write one (runner.settle)
    idle = {id(p) for p in plans if not p.todo and settle(p)}
    if len(idle) < len(plans):
        # on Ray, one set of actors serves every cell (they rebuild a backend when its key changes)
        remote = open_ray_executor(executor) if executor and executor.kind == "ray" else None
        engine_log = EngineLog(enabled=remote is None and not verbose)  # per engine, see _backend_for
        try:
            run_stoppable(_run_cells(plans, todo, console, quiet, remote, engine_log, idle))
        finally:
            engine_log.close()
    from mplm_bench.analysis import tables
    from mplm_bench.analysis.load import find_runs, load_samples
    from mplm_bench.analysis.report import summarize

    summary = summarize(load_samples(find_runs([p.store.dir for p in plans])))
    tables.print_rich(tables.report_view(summary), title=f"sweep: {root}",
                      caption="accuracy: Wilson 95% interval; other numbers: means per sample")
    return 0


async def _run_cells(plans: list[Plan], todo: int, console: Console, quiet: bool,
                     remote: Executor | None = None, engine_log: EngineLog | None = None,
                     idle: set[int] | None = None) -> None:
    progress = sample_progress(console, quiet)
    overall = progress.add_task("[bold]sweep", total=todo, note="")
    current = progress.add_task("", total=1, note="", visible=False)
    backends: dict[str, Backend] = {}
    try:
        with progress:
            for i, p in enumerate(plans, 1):
                label = f"[{i}/{len(plans)}] {cell_label(p.cfg)}"
                if not p.todo and (idle is None or id(p) in idle):
                    progress.console.print(f"[dim]skip {label}: all samples on disk[/]")
                    continue
                backend = None if remote else await _backend_for(p, backends, label, engine_log)
                progress.reset(current, total=len(p.todo), description=label, note="", visible=True)
                acc = Accuracy()

                def on_sample(row: dict[str, Any], acc: Accuracy = acc) -> None:
                    progress.update(current, advance=1, note=acc.add(row))
                    progress.update(overall, advance=1)

                t0 = time.perf_counter()
                await arun(p, backend=backend, executor=remote, on_sample=on_sample)
                progress.console.print(f"[green]done[/] {label}: {acc.done} samples, {acc.note()}, "
                                       f"{time.perf_counter() - t0:.1f} s → {p.store.dir.name}")
    finally:
        if remote:
            await remote.aclose()
        for b in backends.values():
            await b.aclose()


async def _backend_for(p: Plan, backends: dict[str, Backend], label: str,
                       engine_log: EngineLog | None = None) -> Backend:
    key = backend_key(p)
    if key in backends:
        return backends[key]
    for old in backends.values():  # one engine in memory at a time
        await old.aclose()
    backends.clear()
    log = engine_log if engine_log is not None and keeps_engine_log(p.cfg.backend) else EngineLog(False)
    try:
        with log.starting(p.store.dir):  # the engine's log: in the folder of the cell that starts it
            backends[key] = build_backend(p)
    except BackendError as e:
        raise ConfigError(f"cell {label}: {log.failure(str(e))}") from None
    return backends[key]


def print_cells(plans: list[Plan]) -> None:
    table = Table(title="cells", title_justify="left")
    for col in ("#", "cell", "backend", "run id", "on disk"):
        table.add_column(col, justify="right" if col in ("#", "on disk") else "left")
    for i, p in enumerate(plans, 1):
        n = len(p.instances) * p.cfg.repeats
        table.add_row(str(i), cell_label(p.cfg), p.cfg.backend, p.cfg.run_id(), f"{n - len(p.todo)}/{n}")
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
