"""The results layout at scale: batches compacted crash-safely, one writer per run folder, garbled
pages never read as data, a full disk one line, a huge run that starts at once (issues 21, 22)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import CLI, ENV
from cli_helpers import run_cli as cli
from crash_helpers import assert_exactly_once, committed, parts
from typer.testing import CliRunner

from mplm_bench.analysis.load import find_runs, load_calls, load_samples
from mplm_bench.results import commit, store
from mplm_bench.results.lock import RunLock

RUN = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4", "-q"]


def run_dir_of(out):
    (d,) = [p for p in out.iterdir() if p.is_dir()]
    return d


@pytest.mark.parametrize("point", ["compact-writing", "compact-committed"])
def test_a_kill_during_compaction_loses_nothing_and_doubles_nothing(tmp_path, point):
    assert cli(*RUN, "-n", "60", "--out", str(tmp_path)).returncode == 0
    # the resume's end compacts the first session's file with its own batch: killed there
    r = subprocess.run(CLI + RUN + ["-n", "120", "--out", str(tmp_path)], env=ENV | {"MPLM_BENCH_FAULT": point},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 75, r.stderr
    run_dir = run_dir_of(tmp_path)
    s = load_samples([run_dir])  # readers: every sample once, whichever side of the commit
    assert len(s) == 120 and not s.duplicated(["instance_id", "repeat"]).any()
    c = load_calls(run_dir, columns=None)
    assert not c.duplicated(["instance_id", "repeat", "call"]).any() and len(c) == s["n_calls"].sum()
    if point == "compact-committed":  # the batches are still there, the compacted file holds them
        assert len(parts(run_dir, "samples")) == 3 and store.RunStore(run_dir).scan().absorbed
    r = cli(*RUN, "-n", "130", "--out", str(tmp_path))  # the resume runs exactly the 10 new ones
    assert r.returncode == 0, r.stderr
    assert "resuming: 120 samples already on disk" in r.stderr
    s = assert_exactly_once(run_dir, 130)
    assert len(parts(run_dir, "samples")) == 1 and s["correct"].all()


def test_a_second_writer_on_one_run_folder_stops_with_one_line(tmp_path):
    assert cli(*RUN, "-n", "3", "--out", str(tmp_path)).returncode == 0
    run_dir = run_dir_of(tmp_path)
    with RunLock(run_dir):  # another run holds the folder
        r = cli(*RUN, "-n", "6", "--out", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "is being written by another mplm-bench run" in line
    assert len(pd.read_parquet(run_dir / "samples")) == 3  # untouched
    r = cli(*RUN, "-n", "6", "--out", str(tmp_path))  # the lock is gone with its holder
    assert r.returncode == 0, r.stderr
    assert_exactly_once(run_dir, 6)


def test_garbled_pages_under_an_intact_footer_are_never_read_as_data(tmp_path):
    args = ["run", "-t", "sudoku", "-s", "fj", "-b", "scripted", "-T", "size=4", "-n", "8",
            "--out", str(tmp_path), "-q"]
    assert cli(*args).returncode == 0
    run_dir = run_dir_of(tmp_path)
    (path,) = parts(run_dir, "samples")
    clean = path.read_bytes()
    truth = load_samples([run_dir]).drop(columns=["run_dir"])
    footer = int.from_bytes(clean[-8:-4], "little")
    data_end = len(clean) - 8 - footer
    for pos in range(4, data_end, max(1, data_end // 60)):  # one-bit flips across the pages
        raw = bytearray(clean)
        raw[pos] ^= 0x10
        path.write_bytes(bytes(raw))
        try:
            got = load_samples([run_dir]).drop(columns=["run_dir"])
        except Exception:  # noqa: BLE001 - "no samples on disk": the file was left out
            continue
        pd.testing.assert_frame_equal(got, truth)  # read back only when it is the same data
    raw = bytearray(clean)
    raw[data_end // 2] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises((OSError, pa.ArrowException)):
        pq.read_table(path, page_checksum_verification=True)
    r = cli(*args)  # the resume moves it aside and runs its samples again
    assert r.returncode == 0, r.stderr
    assert "damaged samples part" in r.stderr
    s = assert_exactly_once(run_dir, 8)
    assert (s["status"] == "ok").all()


def test_a_full_disk_is_one_error_line_and_the_run_resumes(tmp_path, monkeypatch):
    writes = {"n": 0}
    real = store.pq.write_table

    def fill_up(*a, **k):
        writes["n"] += 1
        if writes["n"] > 4:  # two batches fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(store.pq, "write_table", fill_up)
    monkeypatch.setattr(commit, "MAX_ROWS", 10)
    from mplm_bench.cli import app

    r = CliRunner().invoke(app, [*RUN, "-n", "100", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no space left on the device of" in errors[0] and "MiB free" in errors[0]
    run_dir = run_dir_of(tmp_path)
    assert committed(run_dir) == 20 and not list(run_dir.rglob("*.tmp"))
    monkeypatch.setattr(store.pq, "write_table", real)
    r = cli(*RUN, "-n", "100", "--out", str(tmp_path))
    assert r.returncode == 0 and "resuming: 20 samples already on disk" in r.stderr
    assert_exactly_once(run_dir, 100)


def test_a_million_sample_run_starts_writing_at_once_and_says_what_it_prepares(tmp_path):
    proc = subprocess.Popen(CLI + ["run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-T", "size=4",
                                   "-n", "1000000", "--out", str(tmp_path)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
            if dirs and (dirs[0] / "samples").is_dir() and committed(dirs[0]) > 0:
                break
            time.sleep(0.05)
        assert committed(run_dir_of(tmp_path)) > 0  # samples on disk, not a million instances built first
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        rss_kib = int(next(ln for ln in status if ln.startswith("VmRSS")).split()[1])
        assert rss_kib < 400 * 1024
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert "1,000,000 samples to run over 1,000,000 instances (generated one at a time" in " ".join(err.split())
    assert os.path.exists(run_dir_of(tmp_path) / "manifest.json")
    assert len(find_runs([tmp_path])) == 1
