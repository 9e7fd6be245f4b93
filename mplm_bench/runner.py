"""Execute a RunConfig: instances -> concurrent samples -> Parquet parts, resumable."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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
from mplm_bench.results.manifest import build_manifest
from mplm_bench.results.previous import previous_manifest
from mplm_bench.results.schema import CALL_SCHEMA, sample_schema
from mplm_bench.results.sessions import differences, past_sessions, session_of
from mplm_bench.results.store import part_name
from mplm_bench.runtime.backend import Backend

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


async def execute(p: Plan, backend: Backend, on_sample: ProgressFn | None = None) -> dict[str, Any]:
    """Run every sample not yet on disk in this process, on `backend`; see `execute_with`."""
    from mplm_bench.executors.local import LocalExecutor

    return await execute_with(p, LocalExecutor(backend), on_sample)


async def execute_with(p: Plan, executor: Executor, on_sample: ProgressFn | None = None) -> dict[str, Any]:
    """Run every sample not yet on disk through `executor`; write each at once; return the final
    manifest. This driver is the only writer, whatever the executor (executors/base.py)."""
    cfg, store = p.cfg, p.store
    described = await executor.prepare(p)  # may fail (a backend that cannot start): write nothing
    try:
        store.create()
    except OSError as e:
        raise ConfigError(f"cannot write to {cfg.out}: {e.strerror or e}") from None
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
    schema = None
    written = 0

    def write(done: Outcome) -> None:
        nonlocal schema, written
        if schema is None:
            schema = sample_schema(done.row)
        store.write_sample(part_name(done.instance_id, done.repeat), done.row, done.calls,
                           schema, CALL_SCHEMA)
        written += 1
        if on_sample:
            on_sample(done.row)

    status = "interrupted"
    try:
        await executor.run(p, write)
        status = "complete"
    finally:
        manifest["status"] = status
        manifest["finished_at"] = datetime.now(UTC).isoformat()
        manifest["n_samples_on_disk"] = len(store.done_parts())
        session |= {"finished_at": manifest["finished_at"], "status": status, "n_written": written}
        manifest["executor"] = executor.layout()  # final: actors lost, samples retried
        store.write_manifest(manifest)
    return json.loads(json.dumps(manifest, default=str))
