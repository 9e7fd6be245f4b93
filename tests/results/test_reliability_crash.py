"""Crash safety: SIGKILL at random points and mid-compaction, damaged parts, SIGINT; every
sample exactly once."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from cli_helpers import CLI, ENV
from cli_helpers import run_cli as cli
from crash_helpers import assert_exactly_once, committed, parts

from mplm_bench.analysis.load import find_runs, load_calls, load_samples
from mplm_bench.results.store import RunStore, part_name, table_of


def start_and_wait(args: list[str], out: Path, at_least: int, **popen) -> tuple[subprocess.Popen, Path]:
    """Start a run and return once `at_least` samples are on disk (its run folder with them)."""
    proc = subprocess.Popen(CLI + args, env=ENV, **popen)
    deadline = time.time() + 180
    while time.time() < deadline:
        dirs = list(out.iterdir())
        if dirs and (dirs[0] / "samples").is_dir() and committed(dirs[0]) >= at_least:
            return proc, dirs[0]
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"the run never had {at_least} samples on disk (exit {proc.poll()})")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_a_random_point_then_rerun_gives_every_sample_once(tmp_path, seed):
    rng = random.Random(seed)
    n = 150  # commits come every second: enough samples that the kill lands mid-run
    args = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=9", "-n", str(n),
            "--seed", str(seed), "--concurrency", "2", "--out", str(tmp_path), "-q"]
    proc, run_dir = start_and_wait(args, tmp_path, rng.randint(1, n // 3),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, 0.4))  # somewhere inside the next samples (or their writes)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < committed(run_dir) < n
    for p in parts(run_dir, "samples") + parts(run_dir, "calls"):  # a part under its real name is always whole
        pq.read_table(p, page_checksum_verification=True)
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    s = assert_exactly_once(run_dir, n)
    assert s["correct"].all()
    assert json.loads((run_dir / "manifest.json").read_text())["resumed"] == 1


def one_sample_parts(run_dir: Path) -> None:
    """Rewrite a run folder as one part per sample (the layout before batches; a batch of one
    is the same), so damage can hit single samples."""
    store = RunStore(run_dir)
    s, c = pq.read_table(store.samples_dir), pq.read_table(store.calls_dir)
    for p in parts(run_dir, "samples") + parts(run_dir, "calls"):
        p.unlink()
    for row in s.to_pylist():
        calls = [r for r in c.to_pylist() if r["instance_id"] == row["instance_id"]]
        name = part_name(row["instance_id"], row["repeat"])
        pq.write_table(table_of(calls, c.schema), store.calls_dir / name)
        pq.write_table(table_of([row], s.schema), store.samples_dir / name, write_page_checksum=True)


def test_damaged_and_half_written_parts_are_never_read_and_run_again(tmp_path):
    args = ["run", "-t", "sudoku", "-s", "fj", "-b", "scripted", "-T", "size=4", "-n", "6",
            "--out", str(tmp_path), "-q"]
    assert cli(*args).returncode == 0
    (run_dir,) = tmp_path.iterdir()
    one_sample_parts(run_dir)
    samples, calls = parts(run_dir, "samples"), parts(run_dir, "calls")
    # damage: a truncated samples part, a truncated calls part of another sample, a part of the
    # right length whose footer is garbage, a leftover temp file, calls of a sample never committed
    cut = samples[0]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    calls[1].write_bytes(calls[1].read_bytes()[:100])
    raw = bytearray(samples[2].read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    raw[-8 - footer : -8] = b"\xff" * footer
    samples[2].write_bytes(bytes(raw))
    (run_dir / "samples" / f".{samples[3].name}.tmp").write_bytes(b"PAR1 half a part")
    shutil.copy(calls[4], run_dir / "calls" / "orphan__r0.parquet")
    damaged = {samples[0].name, samples[1].name, samples[2].name}  # sample 1: its calls are cut

    store = RunStore(run_dir)
    ids = {p.name: p.name.removesuffix("__r0.parquet") for p in samples}
    assert store.done_keys() == {(ids[p.name], 0) for p in samples if p.name not in damaged}
    df = load_samples(find_runs([run_dir]))  # readers skip what they cannot trust
    assert ids[samples[0].name] not in set(df["instance_id"])
    assert len(df) == 4  # samples[0] (cut) and samples[2] (bad footer) are not read
    loaded = load_calls(run_dir, columns=None)
    assert "orphan" not in set(loaded["instance_id"]) and len(loaded) > 0
    r = cli("report", str(run_dir), "--format", "csv")
    assert r.returncode == 0, r.stderr

    r = cli(*args)  # the rerun quarantines them with a warning and runs those samples again
    assert r.returncode == 0, r.stderr
    assert "corrupt" in r.stderr and "damaged samples part" in r.stderr
    s = assert_exactly_once(run_dir, 6)
    assert s["correct"].all()
    moved = {p.relative_to(run_dir / "corrupt").as_posix() for p in (run_dir / "corrupt").rglob("*") if p.is_file()}
    assert moved == {f"samples/{samples[0].name}", f"samples/{samples[1].name}", f"samples/{samples[2].name}",
                     f"calls/{calls[1].name}", "calls/orphan__r0.parquet",
                     f"calls/{samples[0].name}", f"calls/{samples[2].name}"}  # beside their damaged samples
    assert not list(run_dir.rglob("*.tmp"))  # an unfinished write holds nothing: removed, not kept
    assert len(parts(run_dir, "samples")) == 1  # the three good parts and the rerun's batch: compacted


def test_sigint_aborts_in_flight_samples_records_none_of_them_and_the_rerun_completes(tmp_path):
    n = 1000  # commits come every second: enough samples that the SIGINT lands mid-run
    args = ["run", "-t", "sudoku", "-s", "fj", "-b", "scripted", "-T", "size=9", "-n", str(n),
            "--concurrency", "3", "--out", str(tmp_path), "-q"]
    proc, run_dir = start_and_wait(args, tmp_path, 2, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    manifest = json.loads((run_dir / "manifest.json").read_text())
    on_disk = pd.read_parquet(run_dir / "samples")  # compacted: a plain reader sees each once
    assert manifest["status"] == "interrupted" and manifest["n_samples_on_disk"] == len(on_disk) < n
    assert on_disk["instance_id"].is_unique
    # the samples in flight were cancelled, not written: no calls without their sample, no temp
    assert {p.name for p in parts(run_dir, "calls")} == {p.name for p in parts(run_dir, "samples")}
    assert set(pd.read_parquet(run_dir / "calls")["instance_id"]) == set(on_disk["instance_id"])
    assert not list(run_dir.rglob("*.tmp"))
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert_exactly_once(run_dir, n)
