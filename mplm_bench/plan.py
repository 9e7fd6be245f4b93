"""A validated run: names resolved, options checked, instances made, what is left to run found.

`plan(cfg)` does everything that can fail on bad input before anything is written or an engine
starts (each failure is one ConfigError line); `build_backend(plan)` makes the backend it runs on.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mplm_bench import registry
from mplm_bench.backends.retry import RETRY_KEYS, RetryingBackend, RetryOptions
from mplm_bench.config import CAP_KEYS, SAMPLING_KEYS, ConfigError, RunConfig
from mplm_bench.instances import Instances, Todo
from mplm_bench.option_defaults import drift
from mplm_bench.results.previous import previous_manifest
from mplm_bench.results.store import RunStore
from mplm_bench.runtime.backend import Backend, BackendError, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.input_stream import InputStream
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.strategies.base import Strategy
from mplm_bench.strategies.contract import Support, pairing
from mplm_bench.tasks.base import Task

log = logging.getLogger(__name__)

LATENCY_KEYS = ("decode_per_token", "prefill_per_token", "per_request")
WRAPPER_KEYS = (*RETRY_KEYS, "faults")  # -M keys for backends/retry.py and backends/faults.py
NOISE_KEYS = ("error_rate", "error_model", "exact_synthesis")  # the scripted backend's noise (backends/noise.py)


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
    # a model whose card lists its training problems: how many of this run's instances it
    # trained on ({"model", "checked", "in_training"}; docs/training.md §1)
    training_overlap: dict[str, Any] | None = None


def plan(cfg: RunConfig) -> Plan:
    """Validate names and options and find what is left to run; raises ConfigError."""
    task_cls = registry.tasks.get(cfg.task)
    strat_cls = registry.strategies.get(cfg.strategy)
    task: Task = task_cls(_options(task_cls.Options, cfg.task_options, "task"))
    s_opts = {k: v for k, v in cfg.strategy_options.items() if k not in CAP_KEYS}
    strategy: Strategy = strat_cls(_options(strat_cls.Options, s_opts, "strategy"), input_stream(cfg))
    pair = pairing(task, strat_cls)  # the check `mplm-bench list`'s matrix prints
    if pair.support is Support.NONE:
        raise ConfigError(pair.why)
    strategy.check(task)
    strategy.check_stream(task)
    cfg = with_default_model(cfg, task)
    m = dict(cfg.backend_options)
    sampling = _options(Sampling, {k: m.pop(k) for k in SAMPLING_KEYS if k in m}, "sampling")
    latency = _options(LatencyModel, {k: m.pop(k) for k in LATENCY_KEYS if k in m}, "latency")
    profile = None
    if (profile_path := m.pop("latency_profile", None)) is not None:
        from mplm_bench.latency.profile import profiled_latency

        latency, profile = profiled_latency(str(profile_path), cfg.backend, latency)
    cap_values = {k: v for k, v in cfg.strategy_options.items() if k in CAP_KEYS}
    caps = _options(Caps, cap_values, "cap")
    if (width := strategy.trajectories()) > caps.max_threads:  # each trajectory is a thread held in memory
        raise ConfigError(f"strategy {cfg.strategy!r} would hold {width:,} trajectories a sample, more than "
                          f"-S max_threads={caps.max_threads}; lower its width (or raise max_threads)")
    if cfg.model is not None:
        m.setdefault("model", cfg.model)
    spec = registry.backends.get(cfg.backend)
    call_options(m)  # -M keys every backend takes (timeouts, retries, injected faults)
    backend_options = None
    if spec.options is not None:
        # bad -M keys fail here, before anything is written
        backend_options = _options(spec.options, {k: v for k, v in m.items() if k not in WRAPPER_KEYS}, "backend")
    if spec.identify is not None and backend_options is not None:
        try:  # the served checkpoint is part of what is measured: it keys the run folder
            served = spec.identify(backend_options.model_dump(exclude_defaults=True))
        except BackendError as e:
            raise ConfigError(str(e)) from None
        cfg = cfg.model_copy(update={"served": served})
    if spec.check_sampling is not None:
        try:  # sampling an engine cannot serve fails now, not once per sample after its start
            spec.check_sampling(sampling, backend_options)
        except BackendError as e:
            raise ConfigError(str(e)) from None
    if (cfg.backend == "scripted" or m.get("replay")) and pair.support is not Support.SCRIPTED:
        # the scripted backend and replay write with the reference policy: it must have one that
        # answers every kind of prompt the strategy sends; say so before anything
        raise ConfigError(pair.why)
    check_noise(m, task, strategy.protocol)
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
    seen: set[str] = set()
    for inst in instances:  # every task: a repeated id would be one sample key for two problems
        if inst.id in seen:
            raise ConfigError(f"{cfg.data or cfg.task}: duplicate id {inst.id!r}; give each record its own id")
        seen.add(inst.id)
    cfg = cfg.model_copy(update={"defaults": drift([
        (f"task:{cfg.task}", task_cls.Options, set(cfg.task_options)),
        (f"strategy:{cfg.strategy}", strat_cls.Options, set(s_opts)),
        ("caps", Caps, set(cap_values)), ("sampling", Sampling, set(SAMPLING_KEYS) & set(cfg.backend_options)),
        ("latency", LatencyModel, set(LATENCY_KEYS) & set(cfg.backend_options))],
        {"task": task_cls.version, "strategy": strat_cls.version})})
    store = RunStore(cfg.out / cfg.run_id())
    warn_legacy_folder(cfg, store.dir)
    check_writable(store.dir)  # before an engine spends a minute starting
    previous_manifest(store)  # a damaged one: one line now, not a traceback after the engine starts
    p = Plan(cfg, task, strategy, instances, caps, sampling, latency, m, store, latency_profile=profile,
             training_overlap=training_overlap(m.get("model"), instances))
    p.todo = Todo(instances, cfg.repeats, store.done_keys())  # read again under the lock
    return p


def check_noise(options: dict[str, Any], task: Task, protocol: str) -> None:
    """Noise options on a task whose reference policy cannot err would change nothing: one line."""
    given = [k for k in NOISE_KEYS if options.get(k) not in (None, False, 0)]  # 0.0 == 0
    if given and not task.can_err(protocol):
        raise ConfigError(f"-M {given[0]}: task {task.name!r} has no error model under {protocol!r} (no "
                          "Task.corrupt), so its scripted policy cannot err; drop the noise options")


def with_default_model(cfg: RunConfig, task: Task) -> RunConfig:
    """The vLLM backend's default model is the shipped protocol model trained for this task,
    strategy and task options, where there is one (models/protocol_models.py); named in the
    config, so its runs get their own id. Generated instances only: a --data file may hold other
    sizes."""
    from mplm_bench.models.protocol_models import default_model

    if cfg.backend != "vllm" or cfg.model is not None or "model" in cfg.backend_options or cfg.data:
        return cfg
    shipped = default_model(cfg.task, cfg.strategy, task.options)
    return cfg if shipped is None else cfg.model_copy(update={"model": shipped.name})


OVERLAP_CHECK_LIMIT = 100_000  # instances checked against a card (each is generated to be keyed)
OVERLAP_IDS_LIMIT = 10_000  # the manifest lists the ids of at most this many training instances


def training_overlap(model: Any, instances: Instances) -> dict[str, Any] | None:
    """How many of the run's problems the model's card lists as training problems."""
    from mplm_bench.data_key import problem_key
    from mplm_bench.models.embedded import EMBEDDED_ALIASES
    from mplm_bench.models.protocol_models import shipped_model, training_problems

    if not isinstance(model, str) or model.strip().lower() in EMBEDDED_ALIASES:
        return None
    shipped = shipped_model(model)
    keys = training_problems(shipped.path if shipped else Path(model).expanduser())
    if keys is None:
        return None
    checked = min(len(instances), OVERLAP_CHECK_LIMIT)
    seen = [instances[i].id for i in range(checked) if problem_key(instances[i].data) in keys]
    out: dict[str, Any] = {"model": shipped.name if shipped else model, "checked": checked, "in_training": len(seen)}
    if len(seen) <= OVERLAP_IDS_LIMIT:  # so accuracy can be read on the held-out instances alone
        out["in_training_ids"] = seen
    return out


def input_stream(cfg: RunConfig) -> InputStream | None:
    """`--input-rate` / `--input-schedule` as the runtime's InputStream; None when neither."""
    if cfg.input_rate is None and cfg.input_schedule is None:
        return None
    schedule = tuple(cfg.input_schedule) if cfg.input_schedule is not None else None
    try:
        return InputStream(rate=cfg.input_rate, schedule=schedule)
    except ValidationError as e:
        err = e.errors()[0]
        where = {"rate": "--input-rate: "}.get(str(err["loc"][0]) if err["loc"] else "", "")
        raise ConfigError(where + err["msg"].removeprefix("Value error, ")) from None


def warn_legacy_folder(cfg: RunConfig, run_dir: Path) -> None:
    """Run ids once keyed `--data` by its path text, so an old folder cannot prove which data
    its samples answer: it is left alone (not resumed), and this says so once."""
    if cfg.data is None or cfg.data_key() == cfg.data or run_dir.exists():
        return
    old = cfg.out / cfg.run_id(legacy=True)
    if (old / "manifest.json").is_file():
        log.warning("warning: not resuming %s: it keyed --data by its path, not its contents, so it "
                    "may hold samples of other data; this run starts afresh in %s", old, run_dir)


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
    spec = registry.backends.get(p.cfg.backend)
    own = {k: v for k, v in p.backend_options.items() if k not in WRAPPER_KEYS}
    # the reference policy carries the task's error model, for the noisy scripted backend; a task
    # without one gets None, and only a backend that needs a policy (scripted, replay) says so
    backend: Backend = spec(p.task.reference_policy_or_none(p.strategy.protocol), own)
    retry, faults = call_options(p.backend_options)
    if faults is not None:
        from mplm_bench.backends.faults import FaultyBackend

        backend = FaultyBackend(backend, faults)
    return RetryingBackend(backend, retry)  # timeouts and transient retries: see backends/retry.py


def model_label(cfg: RunConfig, described: dict[str, Any]) -> str:
    """What the backend says it serves (recorded on every sample row)."""
    return str(described.get("model") or cfg.model or "")



def backend_key(p: Plan) -> str:
    """Cells of a sweep with the same key can share one backend (sweep_run.py): a backend that
    writes with the task's reference policy (scripted, replay) holds that policy, so it is shared
    only by cells that differ in nothing but the seed."""
    key: dict[str, Any] = {"backend": p.cfg.backend, "options": p.backend_options}
    if p.cfg.backend == "scripted" or p.backend_options.get("replay"):
        key["cell"] = p.cfg.identity() | {"seed": None}
    return json.dumps(key, sort_keys=True, default=str)
