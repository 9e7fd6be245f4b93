"""What the crash-safety tests check on a run folder: its parts, the samples committed so far,
every sample exactly once (test_reliability_crash, test_results_scale, compaction)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mplm_bench.results.read import read_table
from mplm_bench.results.store import RunStore


def parts(run_dir: Path, table: str) -> list[Path]:
    d = run_dir / table
    return sorted(d.glob("*.parquet")) if d.is_dir() else []


def committed(run_dir: Path) -> int:
    """Samples committed so far (a run may be compacting meanwhile: then ask again)."""
    for _ in range(20):
        try:
            return read_table(RunStore(run_dir).scan().samples, columns=["instance_id"]).num_rows
        except FileNotFoundError:
            time.sleep(0.01)
    raise AssertionError("the run folder kept changing")


def assert_exactly_once(run_dir: Path, n: int) -> pd.DataFrame:
    """Every sample once, its calls complete and once, every part a whole Parquet file; after a
    complete run a plain Parquet reader of the folders sees it all (no batch left beside the
    compacted file that holds it)."""
    for p in parts(run_dir, "samples") + parts(run_dir, "calls"):
        pq.read_table(p, page_checksum_verification=True)  # raises on a damaged part
    assert {p.name for p in parts(run_dir, "samples")} == {p.name for p in parts(run_dir, "calls")}
    s = pd.read_parquet(run_dir / "samples")
    c = pd.read_parquet(run_dir / "calls")
    assert len(s) == n and s["instance_id"].is_unique
    assert not c.duplicated(["instance_id", "repeat", "call"]).any()
    per_sample = c.groupby("instance_id").size()
    assert (per_sample.reindex(s["instance_id"]).to_numpy() == s["n_calls"].to_numpy()).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["n_samples_on_disk"] == n
    return s
