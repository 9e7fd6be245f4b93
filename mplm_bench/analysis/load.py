"""Find runs under paths and load their samples (with settings from the manifest) and calls.

A run is any folder with a `manifest.json`. Each samples row gains the run's settings as
columns: the task options (`p`, `hard`, `vars`, ...), the strategy options (`strategy_NAME` where
NAME is also a sampling parameter, e.g. PaCoRe's `-S temperature`), the sampling
parameters (`temperature`, `top_p`, `max_tokens`, `sampling_seed`), the instance `seed` and
`data`, plus `run_dir`. A setting never overwrites a column the run wrote itself (`size`,
`scheduler`); where that column says something else, the setting becomes `NAME_setting`. The
names of the setting columns are kept in `df.attrs["settings"]`. Columns renamed since a run was
written are read under today's names (`acceleration` -> `avg_parallelism`, `parallel_ratio` ->
`thread_token_share`: analysis/system_metrics.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mplm_bench.analysis.system_metrics import upgrade
from mplm_bench.config import ConfigError
from mplm_bench.results.previous import read_manifest
from mplm_bench.results.read import read_committed

log = logging.getLogger(__name__)

# the calls columns a figure needs; the response and prompt texts are left on disk
CALL_TIMING_COLUMNS = ["instance_id", "repeat", "call", "thread_id", "parent_id", "step", "round",
                       "prompt_tokens", "completion_tokens", "finish_reason", "status",
                       "start_wall", "end_wall", "start_v", "end_v", "cp_start", "cp_end",
                       "directives", "consumed_from"]


@dataclass(frozen=True)
class Run:
    dir: Path
    manifest: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.dir.name)


def find_runs(paths: list[Path] | list[str]) -> list[Run]:
    """Every run at or under the given paths (a run folder, or a root holding runs)."""
    runs: dict[Path, Run] = {}
    damaged: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"{path}: no such file or folder")
        found = [path / "manifest.json"] if (path / "manifest.json").is_file() \
            else sorted(path.rglob("manifest.json"))
        if not found:
            raise ConfigError(f"{path}: no runs here (a run is a folder with a manifest.json)")
        for m in found:
            try:
                manifest = read_manifest(m)  # JSON, and a manifest's shape
            except (OSError, ValueError) as e:
                damaged.append(f"{m}: unreadable manifest ({e})")
                continue
            runs.setdefault(m.parent.resolve(), Run(m.parent, manifest))
    if damaged and not runs:
        raise ConfigError(damaged[0] + (f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""))
    for line in damaged:  # like a damaged part: one run skipped, not the whole root refused
        log.warning("warning: skipping %s", line)
    return list(runs.values())


def settings_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The run-level settings that become sample columns (see the module docstring)."""
    config = manifest.get("config", {})
    sampling = dict(manifest.get("sampling", {}))
    out: dict[str, Any] = {"seed": config.get("seed"), "data": config.get("data")}
    out.update(manifest.get("task_options") or config.get("task_options") or {})
    strategy = manifest.get("strategy_options") or config.get("strategy_options") or {}
    if "seed" in sampling:
        sampling["sampling_seed"] = sampling.pop("seed")
    # a strategy option named like a sampling parameter (PaCoRe/SC's `-S temperature`, the
    # trajectories' own) must not be hidden by it: it becomes `strategy_temperature`
    out.update({(f"strategy_{k}" if k in sampling else k): v for k, v in strategy.items()})
    out.update(sampling)
    return {k: (json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v)
            for k, v in out.items()}


def load_samples(paths: list[Path] | list[str] | list[Run], columns: list[str] | None = None) -> pd.DataFrame:
    """All samples of all runs at or under `paths`, one row each, with setting columns.
    `columns`: read only these samples columns (the settings and `run_dir` are always added)."""
    runs = [p for p in paths if isinstance(p, Run)] or find_runs(paths)  # type: ignore[arg-type]
    frames, settings = [], []
    for run in runs:
        # intact parts only, never a damaged one; as of one state of a folder a run compacts
        df = read_committed(run.dir, "samples", columns).to_pandas()
        if df.empty:  # a run that wrote nothing yet, or whose every part is damaged (each named)
            continue  # every part of it was damaged (each named in a warning)
        df = upgrade(df)  # a column renamed since the run was written: today's name
        for key, value in settings_of(run.manifest).items():
            if key in df.columns:
                if _same(df[key], value):
                    continue  # the run wrote it itself (`size`, `scheduler`)
                key = f"{key}_setting"  # e.g. longqa's `-T length` beside LongBench's `length` class
            df[key] = value
            if key not in settings:
                settings.append(key)
        df["run_dir"] = str(run.dir)
        frames.append(df)
    if not frames:
        raise ConfigError("no samples on disk under " + ", ".join(str(r.dir) for r in runs))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df.attrs["settings"] = settings
    return df


def _same(column: pd.Series, value: Any) -> bool:
    """Does a sample column already say what the setting says?"""
    try:
        return bool((column.astype(str) == str(value)).all())
    except (TypeError, ValueError):
        return False


def load_calls(run_dir: Path | str, instance_id: str | None = None, repeat: int | None = None,
               columns: list[str] | None = CALL_TIMING_COLUMNS) -> pd.DataFrame:
    """The calls of one run, optionally of one sample only (read with a Parquet filter)."""
    filters: list[tuple[str, str, str | int]] = []
    if instance_id is not None:
        filters.append(("instance_id", "==", instance_id))
    if repeat is not None:
        filters.append(("repeat", "==", repeat))
    # of committed samples, intact only, as of one state of the folder
    df = read_committed(Path(run_dir), "calls", columns, filters or None).to_pandas()
    if df.empty and not df.columns.size:
        raise ConfigError(f"{run_dir}: no calls on disk")
    return df


def select(df: pd.DataFrame, where: dict[str, Any] | None) -> pd.DataFrame:
    """Rows whose columns equal the given values (a list: any of them; None: missing)."""
    if not where:
        return df
    mask = pd.Series(True, index=df.index)
    for key, value in where.items():
        if key not in df.columns:
            raise ConfigError(f"where: unknown column {key!r} (columns: {', '.join(map(str, df.columns))})")
        col = df[key]
        values = value if isinstance(value, list) else [value]
        hit = pd.Series(False, index=df.index)
        for v in values:
            hit |= col.isna() if v is None else (col == v)
        mask &= hit
    out = df[mask]
    out.attrs = dict(df.attrs)
    return out
