"""Execute a RunConfig: instances -> concurrent samples -> Parquet parts, resumable."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mplm_bench import registry
from mplm_bench.backends.base import Backend, BackendError, Sampling
from mplm_bench.backends.retry import RETRY_KEYS, RetryingBackend, RetryOptions
from mplm_bench.config import CAP_KEYS, SAMPLING_KEYS, ConfigError, RunConfig
from mplm_bench.executors.base import Executor, Outcome
from mplm_bench.instances import Instances, Todo
from mplm_bench.results.commit import Committer
from mplm_bench.results.compact import compact
from mplm_bench.results.lock import RunLock
from mplm_bench.results.manifest import build_manifest
from mplm_bench.results.sessions import differences, past_sessions, session_of
from mplm_bench.results.store import DiskFull, RunStore
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.strategies.base import Strategy
from mplm_bench.tasks.base import Task

log = logging.getLogger(__name__)

LATENCY_KEYS = ("decode_per_token", "prefill_per_token", "per_request")
WRAPPER_KEYS = (*RETRY_KEYS, "faults")  # -M keys for backends/retry.py and backends/faults.py


def _options(cls: type, values: dict[str, Any], what: str) -> Any:
    try:
        if is_dataclass(cls):
            # the runtime's plain dataclasses (Caps, Sampling) check their ranges in __post_init__;
            # pydantic adds the type checks, so `-S max_threads=abc` never reaches a scheduler
            return TypeAdapter(cls).validate_python(values)
        return cls(**values)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{what} option {loc}: {msg}" if loc else f"{what} option {msg}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what} options: {e}") from None


@dataclass
class Plan:
    """A validated run: everything resolved except the backend (heavy; built in `execute`)."""

    cfg: RunConfig
    task: Task
    strategy: Strategy
    instances: Instances  # lazy for generated tasks: never held whole
    caps: Caps
    sampling: Sampling
    latency: LatencyModel
    backend_options: dict[str, Any]
    store: RunStore
    todo: Todo = field(default_factory=lambda: Todo(Instances(), 1, set()))
    model_label: str = ""  # what the backend says it serves; recorded on every sample row
    latency_profile: dict[str, Any] | None = None  # -M latency_profile: the file, for the manifest


def plan(cfg: RunConfig) -> Plan:
    """Validate names and options and find what is left to run; raises ConfigError."""
    task_cls = registry.tasks.get(cfg.task)
    strat_cls = registry.strategies.get(cfg.strategy)
    task: Task = task_cls(_options(task_cls.Options, cfg.task_options, "task"))
    s_opts = {k: v for k, v in cfg.strategy_options.items() if k not in CAP_KEYS}
    strategy: Strategy = strat_cls(_options(strat_cls.Options, s_opts, "strategy"))
    if strategy.protocol not in task.protocols and strategy.protocol != "any":
        raise ConfigError(f"task {cfg.task!r} has no {strategy.protocol!r} protocol (has: {', '.join(task.protocols)})")
    strategy.check(task)
    m = dict(cfg.backend_options)
    sampling = _options(Sampling, {k: m.pop(k) for k in SAMPLING_KEYS if k in m}, "sampling")
    latency = _options(LatencyModel, {k: m.pop(k) for k in LATENCY_KEYS if k in m}, "latency")
    profile = None
    if (profile_path := m.pop("latency_profile", None)) is not None:
        from mplm_bench.latency.profile import profiled_latency

        latency, profile = profiled_latency(str(profile_path), cfg.backend, latency)
    cap_values = {k: v for k, v in cfg.strategy_options.items() if k in CAP_KEYS}
    caps = _options(Caps, cap_values, "cap")
    if cfg.model is not None:
        m.setdefault("model", cfg.model)
    factory = registry.backends.get(cfg.backend)
    call_options(m)  # -M keys every backend takes (timeouts, retries, injected faults)
    backend_options = None
    if (model := getattr(factory, "options_model", None)) is not None:
        # bad -M keys fail here, before anything is written
        backend_options = _options(model, {k: v for k, v in m.items() if k not in WRAPPER_KEYS}, "backend")
    if (check := getattr(factory, "check_sampling", None)) is not None:
        try:  # sampling an engine cannot serve fails now, not once per sample after its start
            check(sampling, backend_options)
        except BackendError as e:
            raise ConfigError(str(e)) from None
    if cfg.n < 1 or cfg.repeats < 1 or cfg.concurrency < 1:
        raise ConfigError("-n, --repeats and --concurrency must be at least 1")
    try:
        instances = Instances(items=task.load(cfg.data, cfg.n)) if cfg.data else \
            Instances.of(task, cfg.n, cfg.seed)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{cfg.data}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:  # unreadable, or a folder where a file was expected
        raise ConfigError(f"{e.filename or cfg.data}: {e.strerror or e}") from None
    if not instances:
        raise ConfigError(f"{cfg.data}: no instances in it")
    store = RunStore(cfg.out / cfg.run_id())
    check_writable(store.dir)  # before an engine spends a minute starting
    p = Plan(cfg, task, strategy, instances, caps, sampling, latency, m, store, latency_profile=profile)
    p.todo = Todo(instances, cfg.repeats, store.done_keys())  # read again under the lock
    return p


def check_writable(path: Path) -> None:
    """Fail now, writing nothing, if `path` could not be created or written to later."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot write to {path}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):  # the one honest test (root, read-only mounts)
            pass
    except OSError as e:
        raise ConfigError(f"cannot write to {path}: {e.strerror or e}") from None


def call_options(options: dict[str, Any]) -> tuple[RetryOptions, Any]:
    """The per-call timeout and retries, and the injected faults (or None), from `-M` keys."""
    retry = _options(RetryOptions, {k: options[k] for k in RETRY_KEYS if k in options}, "backend")
    faults = None
    if "faults" in options:
        from mplm_bench.backends.faults import parse_faults

        try:
            faults = parse_faults(options["faults"])
        except ValueError as e:
            raise ConfigError(f"-M {e}") from None
    return retry, faults


def build_backend(p: Plan) -> Backend:
    factory = registry.backends.get(p.cfg.backend)
    own = {k: v for k, v in p.backend_options.items() if k not in WRAPPER_KEYS}
    # the reference policy carries the task's error model, for the noisy scripted backend
    backend: Backend = factory(p.task.reference_policy(p.strategy.protocol), own)
    retry, faults = call_options(p.backend_options)
    if faults is not None:
        from mplm_bench.backends.faults import FaultyBackend

        backend = FaultyBackend(backend, faults)
    return RetryingBackend(backend, retry)  # timeouts and transient retries: see backends/retry.py


ProgressFn = Callable[[dict[str, Any]], None]


async def execute(p: Plan, backend: Backend, on_sample: ProgressFn | None = None) -> dict[str, Any]:
    """Run every sample not yet on disk in this process, on `backend`; see `execute_with`."""
    from mplm_bench.executors.local import LocalExecutor

    return await execute_with(p, LocalExecutor(backend), on_sample)


def model_label(cfg: RunConfig, described: dict[str, Any]) -> str:
    """What the backend says it serves (recorded on every sample row)."""
    return str(described.get("model") or cfg.model or "")


async def execute_with(p: Plan, executor: Executor, on_sample: ProgressFn | None = None) -> dict[str, Any]:
    """Run every sample not yet on disk through `executor`; commit them in small batches as they
    finish and compact the batches when the run ends; return the final manifest. This driver is
    the only writer, whatever the executor (executors/base.py), and holds the run folder's lock."""
    with RunLock(p.store.dir):  # a second writer: one line, before an engine starts
        return await _execute_locked(p, executor, on_sample)


async def _execute_locked(p: Plan, executor: Executor, on_sample: ProgressFn | None) -> dict[str, Any]:
    cfg, store = p.cfg, p.store
    described = await executor.prepare(p)  # may fail (a backend that cannot start): write nothing
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
    previous = store.read_manifest()
    sessions = past_sessions(previous) if previous else []
    if previous:
        manifest["started_at"] = previous.get("started_at", manifest["started_at"])
        manifest["resumed"] = previous.get("resumed", 0) + 1
        if changed := differences(sessions[-1], session):
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
