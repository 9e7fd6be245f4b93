"""The body of `mplm-bench run` and `list`: progress display and summary table (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from mplm_bench import registry
from mplm_bench.api import arun
from mplm_bench.backends.engine_log import EngineLog, keeps_engine_log
from mplm_bench.config import CAP_KEYS, ConfigError, RunConfig
from mplm_bench.executors.options import ExecutorOptions
from mplm_bench.plan import Plan, plan
from mplm_bench.progress import Accuracy, sample_progress
from mplm_bench.runner import settle
from mplm_bench.runtime.backend import BackendError
from mplm_bench.stopping import run_stoppable
from mplm_bench.strategies.contract import Support, pairing


def overlap_line(o: dict[str, Any]) -> str:
    held = o["checked"] - o["in_training"]
    return (f"model {o['model']}: {o['in_training']} of {o['checked']:,} instances are in its training set "
            f"({held:,} held out; docs/training.md §1)")


def run_and_report(cfg: RunConfig, quiet: bool = False, executor: ExecutorOptions | None = None,
                   verbose: bool = False) -> int:
    """`mplm-bench run`: the Python API's `arun` (which owns the backend's life) with a progress
    bar and the summary table around it; an in-process engine's own log goes to RUN/engine.log
    unless `verbose` (backends/engine_log.py)."""
    console = Console(stderr=True, soft_wrap=True)  # a CI log: one line a message, not wrapped at 80
    p = plan(cfg)
    if not p.todo and settle(p):  # an interrupted session's compaction is finished there
        console.print(f"[green]nothing to do:[/] all {len(p.instances) * cfg.repeats} samples of "
                      f"{p.store.dir} are on disk")
        print_summary(p.store.dir)
        return 0
    skipped = len(p.instances) * cfg.repeats - len(p.todo)

    progress = sample_progress(console, quiet)
    bar = progress.add_task(f"{cfg.task}/{cfg.strategy}", total=len(p.todo), note="")
    acc = Accuracy()
    local = executor is None or executor.kind != "ray"  # Ray actors' engines log where Ray puts them
    engine_log = EngineLog(enabled=local and not verbose and keeps_engine_log(cfg.backend))
    # what is being prepared, before a long engine start or a long run (issue 22.10)
    made = "generated one at a time as samples start" if p.instances.lazy else "loaded"
    prepared = (f"{len(p.todo):,} samples to run over {len(p.instances):,} instances ({made}); "
                "finished samples are committed every second")

    def on_sample(row: dict[str, Any]) -> None:
        progress.update(bar, advance=1, note=acc.add(row))

    def on_start(p: Plan) -> None:  # after Ray answers (a bad address is the only line), before the backend
        console.print(f"run [bold]{p.cfg.run_id()}[/] → {p.store.dir}"
                      + (f" (resuming: {skipped} samples already on disk)" if skipped else ""))
        console.print(prepared)
        if (o := p.training_overlap) is not None:
            console.print(overlap_line(o))

    try:  # the bar starts once the backend is up (an engine's start logs come before it)
        run_stoppable(arun(p, executor=executor, on_start=on_start, on_ready=lambda _: progress.start(),
                           on_sample=on_sample, building=lambda p: engine_log.starting(p.store.dir)))
    except BackendError as e:  # a backend that cannot be built: the user's one line
        raise ConfigError(engine_log.failure(str(e))) from None
    finally:
        progress.stop()
        engine_log.close()
    if engine_log.path is not None:
        console.print(f"[dim]engine log: {engine_log.path} (-v shows it here)[/]", soft_wrap=True)
    return failed_exit(console, print_summary(p.store.dir))


# statuses that say the engine or server failed, not the model: a run holding any exits 1, so a
# CI job notices a dead server; what the model did (wrong, truncated, protocol_error) stays data
ENGINE_FAILURES = ("engine_error", "timeout")


def failed_exit(console: Console, statuses: dict[str, int]) -> int:
    failed = {s: statuses[s] for s in ENGINE_FAILURES if statuses.get(s)}
    if not failed:
        return 0
    total = sum(statuses.values())
    counts = ", ".join(f"{n} {s}" for s, n in failed.items())
    console.print(f"[red]error:[/] {counts} of {total} samples: the engine or server failed, not the model "
                  "(each sample's `detail` column says why)")
    return 1


SUMMARY_COLUMNS = ["task", "size", "strategy", "label", "correct", "status", "gen_tokens", "critical_path_tokens",
                   "peak_context_tokens", "n_calls", "n_messages", "n_preempted", "rounds", "wall_s", "blocks",
                   "instance_id"]


def print_summary(run_dir: Any) -> dict[str, int]:
    """One row per (size, strategy): accuracy and the cost metrics a reader compares first;
    returns the samples' status counts."""
    from mplm_bench.results.read import read_committed

    df = read_committed(run_dir, "samples", SUMMARY_COLUMNS).to_pandas()
    cols = {"size": "size", "strategy": "strategy", "n": "n", "acc": "accuracy",
            "gen": "gen tok", "cp": "crit path", "peak": "peak ctx", "calls": "calls",
            "msgs": "msgs", "pre": "preempt", "rounds": "rounds", "status": "statuses", "wall": "wall s"}
    table = Table(title=f"{df['task'].iloc[0]}: {run_dir}", title_justify="left")
    if "blocks" in df.columns:  # the adaptive strategies: parallel blocks opened per sample
        cols = {**dict(list(cols.items())[:5]), "blocks": "blocks", **dict(list(cols.items())[5:])}
    for key, header in cols.items():
        table.add_column(header, justify="left" if key in ("strategy", "status") else "right")
    # tasks with a natural split (3-SAT's label) get one row per value of it
    split = [c for c in ("label",) if c in df.columns]
    if split:
        table.columns[0].header = f"size/{split[0]}"
    for key, g in df.groupby(["size", "strategy", *split]):
        size, strategy = key[0], key[1]
        statuses = " ".join(f"{k}:{v}" for k, v in g["status"].value_counts().items())
        table.add_row(
            "/".join(str(k) for k in (size, *key[2:])), strategy, str(len(g)), f"{g['correct'].mean():.0%}",
            f"{g['gen_tokens'].mean():,.0f}",
            *([f"{g['blocks'].mean():,.2f}"] if "blocks" in cols else []),
            f"{g['critical_path_tokens'].mean():,.0f}",
            f"{g['peak_context_tokens'].mean():,.0f}", f"{g['n_calls'].mean():,.0f}",
            f"{g['n_messages'].mean():,.0f}", f"{g['n_preempted'].mean():,.1f}",
            f"{g['rounds'].mean():,.1f}", statuses, f"{g['wall_s'].mean():.2f}",
        )
    # a pipe or CI log is not a terminal: don't squeeze the table into 80 columns
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    manifest = _manifest(run_dir)
    console.print("means per sample; tokens counted with", _tokenizer_note(manifest))
    if (line := held_out_line(manifest, df)) is not None:
        console.print(line)
    return {str(k): int(v) for k, v in df["status"].value_counts().items()}


def _manifest(run_dir: Any) -> dict[str, Any]:
    """The run's manifest.json, read once for the summary's notes ({} when unreadable)."""
    import json

    try:
        data = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def held_out_line(manifest: dict[str, Any], df: Any) -> str | None:
    """Accuracy on the instances the model never trained on, where its card lists some that it did
    (docs/training.md §1)."""
    o = manifest.get("training_overlap") or {}
    ids = o.get("in_training_ids")
    if not o.get("in_training") or ids is None:
        return None
    held = df[~df["instance_id"].isin(set(ids))]
    if held.empty:
        return f"all {len(df)} instances are in model {o['model']}'s training set: no held-out accuracy"
    return (f"held out (not in model {o['model']}'s training set): {held['correct'].mean():.0%} "
            f"of {len(held)} instances")


def _tokenizer_note(manifest: dict[str, Any]) -> str:
    backend = manifest.get("backend") or {}
    return str(backend.get("tokenizer") or backend.get("model") or "the backend's tokenizer")


def print_catalogue() -> None:
    console = Console()
    for reg in (registry.tasks, registry.strategies, registry.backends):
        title = {"strategy": "strategies (-S)", "task": "tasks (-T)", "backend": "backends (-M)"}[reg.kind]
        table = Table(title=title, title_justify="left")
        table.add_column("name")
        table.add_column("options (key=default)")
        table.add_column("about")
        for name in reg.names():
            try:
                obj = reg.get(name)
            except Exception as e:  # an optional backend whose engine is missing still lists
                table.add_row(name, "", f"unavailable: {e}")
                continue
            table.add_row(name, _options_text(obj), _doc(obj))
        console.print(table)
    print_matrix(console)
    console.print("every backend also takes -M max_tokens temperature top_p seed; the scripted one "
                  "-M decode_per_token prefill_per_token per_request (virtual clock), or latency_profile=FILE "
                  "(simulated seconds; `mplm-bench calibrate` writes one)")
    console.print("every backend also takes -M request_timeout_s request_retries retry_backoff_s (per "
                  "call) and faults=error=0.1,hang=0.1,... (injected faults: backends/faults.py)")
    console.print("every strategy also takes the caps -S " + " ".join(f"{k}=" for k in CAP_KEYS))


MARKS = {Support.SCRIPTED: "✓", Support.MODELS: "○", Support.NONE: "–"}


def print_matrix(console: Console) -> None:
    """Which strategy runs on which task: generic strategies first, then task protocols."""
    strategies: dict[str, Any] = {}
    for name in registry.strategies.names():
        try:
            strategies[name] = registry.strategies.get(name)
        except Exception:
            continue
    order = sorted(strategies, key=lambda n: (not getattr(strategies[n], "generic", False), n))
    generic = [n for n in order if getattr(strategies[n], "generic", False)]
    table = Table(title="task × strategy (✓: the pair runs, -b scripted included; ○: on real models only; "
                        "–: it does not run)", title_justify="left")
    table.add_column("task", no_wrap=True)
    for n in order:
        table.add_column(n, justify="center", no_wrap=True)
    for tname in registry.tasks.names():
        try:
            task = registry.tasks.get(tname)()  # default options
        except Exception:
            continue
        # the check `plan` makes (strategies/contract.py), so the matrix never shows a pair it refuses
        table.add_row(tname, *(MARKS[pairing(task, strategies[n]).support] for n in order))
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    console.print(f"generic strategies (any task that states a problem as text and scores an answer): "
                  f"{', '.join(generic)}; task protocols (trace programs only their task writes): "
                  f"{', '.join(n for n in order if n not in generic)}")


def _options_text(obj: Any) -> str:
    opts = obj.options if isinstance(obj, registry.BackendSpec) else obj.Options
    if opts is None:
        return ""
    return " ".join(f"{k}={f.default!r}" for k, f in opts.model_fields.items())


def _doc(obj: Any) -> str:
    import inspect

    if isinstance(obj, registry.BackendSpec):
        obj = obj.factory
    mod = inspect.getmodule(obj)
    doc = (mod.__doc__ if mod else None) or obj.__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
