"""Execute a RunConfig: instances -> concurrent samples -> Parquet parts, resumable."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mplm_bench.backends.stop_probe import refusal
from mplm_bench.config import ConfigError
from mplm_bench.executors.base import Executor, Outcome
from mplm_bench.plan import (  # noqa: F401  (the old home of these names; imports keep working)
    LATENCY_KEYS,
    WRAPPER_KEYS,
    Plan,
    _options,
    backend_key,
    build_backend,
    call_options,
    check_writable,
    model_label,
    plan,
)
from mplm_bench.results.commit import Committer
from mplm_bench.results.compact import compact
from mplm_bench.results.lock import RunLock, RunLocked
from mplm_bench.results.manifest import build_manifest
from mplm_bench.results.previous import previous_manifest
from mplm_bench.results.sessions import differences, past_sessions, session_of
from mplm_bench.results.store import DiskFull
from mplm_bench.runtime.backend import Backend

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


async def execute(p: Plan, backend: Backend, on_sample: ProgressFn | None = None) -> dict[str, Any]:
    """Run every sample not yet on disk in this process, on `backend`; see `execute_with`."""
    from mplm_bench.executors.local import LocalExecutor

    return await execute_with(p, LocalExecutor(backend), on_sample)


async def execute_with(p: Plan, executor: Executor, on_sample: ProgressFn | None = None) -> dict[str, Any]:
    """Run every sample not yet on disk through `executor`; commit them in small batches as they
    finish and compact the batches when the run ends; return the final manifest. This driver is
    the only writer, whatever the executor (executors/base.py), and holds the run folder's lock."""
    with RunLock(p.store.dir):  # a second writer: one line, before an engine starts
        return await _execute_locked(p, executor, on_sample)


def settle(p: Plan) -> bool:
    """No sample is left to run: finish what an interrupted session left (a compaction killed
    or stopped by a full disk, its temp files, absorbed batches, a manifest still `running`), so
    the same command always leaves a complete, clean folder. True: the folder is complete now;
    False: it needs a session after all (samples to run, or no manifest: a session writes one,
    with what its backend serves)."""
    store = p.store
    manifest = previous_manifest(store)
    if manifest is None:
        return False
    if manifest.get("status") == "complete" and store.clean():
        return True
    try:
        lock = RunLock(store.dir).acquire()
    except RunLocked:
        return True  # its writer is still at it and finishes it
    try:
        try:
            scan = store.open()
        except OSError as e:
            raise ConfigError(f"cannot write to {p.cfg.out}: {e.strerror or e}") from None
        compact(store, scan.committed)
        p.todo.refresh(scan.done)
        if p.todo:  # a part was damaged after all: its samples run again
            return False
        manifest |= {"status": "complete", "n_samples_on_disk": len(scan.done),
                     "finished_at": datetime.now(UTC).isoformat()}
        store.write_manifest(manifest)
    finally:
        lock.release()
    return True


async def _execute_locked(p: Plan, executor: Executor, on_sample: ProgressFn | None) -> dict[str, Any]:
    cfg, store = p.cfg, p.store
    described = await executor.prepare(p)  # may fail (a backend that cannot start): write nothing
    if p.strategy.uses_stop_strings and (why := refusal(described.get("stop_report"), p.cfg.strategy)):
        raise ConfigError(why)  # before any sample: a fork the server hides is a silent serial run
    try:
        scan = store.open()  # quarantine what a crash or damage left, under the lock
    except OSError as e:
        raise ConfigError(f"cannot write to {cfg.out}: {e.strerror or e}") from None
    merged = compact(store, scan.committed)  # what an interrupted session left: one pair again
    on_disk = [merged] if merged else scan.committed
    p.todo.refresh(scan.done)  # what is on disk now that no other writer can add to it
    manifest = build_manifest(cfg, p, described, executor.layout())
    p.model_label = model_label(cfg, manifest["backend"])
    session = session_of(manifest, manifest["started_at"])
    previous = previous_manifest(store)
    sessions = past_sessions(previous) if previous else []
    if previous:
        manifest["started_at"] = previous.get("started_at", manifest["started_at"])
        manifest["resumed"] = previous.get("resumed", 0) + 1
        if (changed := differences(sessions[-1], session)) and cfg.strict_resume:
            raise ConfigError(f"--strict-resume: {store.dir} was written with another setup: {'; '.join(changed)}"
                              " (without --strict-resume: resume with a warning; or use another --out)")
        if changed:
            log.warning("warning: resuming %s, which an earlier session wrote with another setup (its samples "
                        "keep theirs; manifest.json lists every session): %s", store.dir, "; ".join(changed))
    manifest["sessions"] = [*sessions, session]  # `session` is filled in when this one ends
    store.write_manifest(manifest)
    committer = Committer(store)

    def write(done: Outcome) -> None:
        committer.add(done)
        if on_sample:
            on_sample(done.row)

    status = "interrupted"
    failed = True
    try:
        try:
            await executor.run(p, write)
        finally:
            committer.flush()  # finished samples are committed even when interrupted
            compact(store, on_disk + committer.batches)
        status, failed = "complete", False
    finally:
        manifest["status"] = status
        manifest["finished_at"] = datetime.now(UTC).isoformat()
        manifest["n_samples_on_disk"] = len(scan.done) + committer.written
        session |= {"finished_at": manifest["finished_at"], "status": status, "n_written": committer.written}
        manifest["executor"] = executor.layout()  # final: actors lost, samples retried
        try:
            store.write_manifest(manifest)
        except DiskFull:
            if not failed:
                raise  # else the error already on its way says it
    return json.loads(json.dumps(manifest, default=str))
