"""Issue 39 items 1-2: an interrupted compaction is finished by the next command on the run, and
readers never miss a sample or warn falsely while a run compacts."""

from __future__ import annotations

import errno
import json
import logging
import subprocess
import threading

import pytest
from cli_helpers import CLI, ENV
from cli_helpers import run_cli as cli
from crash_helpers import assert_exactly_once, parts

from mplm_bench.analysis.load import load_calls, load_samples
from mplm_bench.results.compact import compact
from mplm_bench.results.schema import CALL_SCHEMA, sample_schema
from mplm_bench.results.store import RunStore

RUN = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4", "-q"]


def run_dir_of(out):
    (d,) = [p for p in out.iterdir() if p.is_dir()]
    return d


@pytest.mark.parametrize("point", ["compact-writing", "compact-committed"])
def test_the_same_command_finishes_a_compaction_a_kill_interrupted(tmp_path, point):
    assert cli(*RUN, "-n", "20", "--out", str(tmp_path)).returncode == 0
    args = [*RUN, "-n", "40", "--out", str(tmp_path)]
    # the end of the resume compacts the first file with its batch: killed there, every sample
    # committed
    r = subprocess.run(CLI + args, env=ENV | {"MPLM_BENCH_FAULT": point},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 75, r.stderr
    run_dir = run_dir_of(tmp_path)
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"
    assert len(parts(run_dir, "samples")) > 1
    r = cli(*args)  # the same command: nothing to run, but the folder is finished
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stderr
    assert_exactly_once(run_dir, 40)
    assert len(parts(run_dir, "samples")) == 1 and len(parts(run_dir, "calls")) == 1
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / "corrupt").exists()


def test_the_same_command_finishes_a_compaction_a_full_disk_stopped(tmp_path, monkeypatch):
    from cli_helpers import invoke_cli

    from mplm_bench.results import compact as compaction

    assert invoke_cli(*RUN, "-n", "20", "--out", tmp_path).returncode == 0
    args = [*RUN, "-n", "40", "--out", tmp_path]
    real = compaction._merge

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(compaction, "_merge", full)
    r = invoke_cli(*args)
    assert r.returncode == 2 and "no space left" in r.stdout + r.stderr
    run_dir = run_dir_of(tmp_path)
    assert json.loads((run_dir / "manifest.json").read_text())["status"] != "complete"
    monkeypatch.setattr(compaction, "_merge", real)
    r = invoke_cli(*args)
    assert r.returncode == 0
    assert_exactly_once(run_dir, 40)
    assert len(parts(run_dir, "samples")) == 1


def test_a_run_whose_damaged_manifest_was_moved_away_gets_one_again(tmp_path):
    args = [*RUN, "-n", "6", "--out", str(tmp_path)]
    assert cli(*args).returncode == 0
    run_dir = run_dir_of(tmp_path)
    (run_dir / "manifest.json").rename(tmp_path / "damaged.json")
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert_exactly_once(run_dir, 6)
    assert len(load_samples([tmp_path])) == 6  # report/check/plot/view find it again


def _write_batches(store: RunStore, start: int, n: int, per: int = 4) -> list[str]:
    names = []
    for b in range(n):
        rows = [{"run_id": "r", "instance_id": f"i{start + b * per + k}", "repeat": 0, "n_calls": 1}
                for k in range(per)]
        calls = [{"run_id": "r", "instance_id": r["instance_id"], "repeat": 0, "call": 0} for r in rows]
        names.append(store.write_batch(rows, calls, sample_schema({}), CALL_SCHEMA))
    return names


def test_readers_see_every_sample_once_while_a_run_compacts(tmp_path, caplog):
    run_dir = tmp_path / "run"
    store = RunStore(run_dir)
    store.create()
    store.write_manifest({"run_id": "r", "config": {}, "status": "running"})
    total, committed = 0, _write_batches(store, 0, 12)
    total += 48
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                expected = total
                s = load_samples([run_dir], columns=["instance_id", "repeat"])
                c = load_calls(run_dir, columns=["instance_id"])
                seen.append((len(s), expected))
                assert s["instance_id"].is_unique and len(s) >= expected, (len(s), expected)
                assert len(c) == len(s) or len(c) >= expected
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            failures.append(e)

    caplog.set_level(logging.WARNING)
    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(12):  # compact, add batches, compact again: the files keep moving
            merged = compact(store, committed)
            new = _write_batches(store, total, 6)
            total += 24
            committed = [merged, *new]
            if failures:
                break
    finally:
        stop.set()
        t.join()
    if failures:
        raise failures[0]
    assert len(seen) > 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
