"""The `mplm-bench` command line. One function per command; heavy imports inside the bodies."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="mplm-bench",
    help="Benchmark LLM reasoning strategies (CoT, fork-join, MPLM, PaCoRe) on a real engine.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
model_app = typer.Typer(help="Manage the embedded default model.", no_args_is_help=True)
app.add_typer(model_app, name="model")

_WHAT = "What to run"
_ENGINE = "Backend and model"
_OUT = "Output"
_SCALE = "Scale out"

# `run` and `sweep` take the same executor options (mplm_bench/executors/)
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (this process) or ray (Ray actors, each with its own backend).", rich_help_panel=_SCALE)]
RayAddressOpt = Annotated[str | None, typer.Option(help="Ray cluster to join (default: $RAY_ADDRESS, else a new local Ray); `auto`: the one `ray start` runs here.", rich_help_panel=_SCALE)]
RayActorsOpt = Annotated[int | None, typer.Option(help="Actors (default: cluster GPUs / GPUs per actor; vllm on CPU: one per node; else CPUs).", rich_help_panel=_SCALE)]
RayCpusOpt = Annotated[float, typer.Option(help="CPUs Ray reserves for each actor.", rich_help_panel=_SCALE)]
RayGpusOpt = Annotated[float | None, typer.Option(help="GPUs per actor (default: vllm's tensor_parallel_size × data_parallel_size on a GPU cluster, else 0).", rich_help_panel=_SCALE)]
MaxRetriesOpt = Annotated[int, typer.Option(help="Re-runs of a sample whose actor died (then: engine_error), and replacements per actor.", rich_help_panel=_SCALE)]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show the engine's own log (vLLM, torch) here instead of only in RUN/engine.log.", rich_help_panel=_OUT)]
RayStartOpt = Annotated[float, typer.Option(help="Seconds an actor may wait for Ray to place and start it (resources held elsewhere) before it counts as dead.", rich_help_panel=_SCALE)]


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escaped: a message may hold brackets (`pip install 'mplm-bench[ray]'`) that are not markup
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _interrupted(e: KeyboardInterrupt) -> None:
    """Ctrl-C, SIGTERM or SIGHUP (stopping.py): one line, exit 128 + the signal's number."""
    name, code = getattr(e, "name", "SIGINT"), getattr(e, "exit_code", 130)
    how = "interrupted" if name == "SIGINT" else f"stopped by {name}"
    _fail(f"{how}: finished samples are on disk; run the same command again to resume", code)


@app.command()
def run(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name (see `mplm-bench list`).", rich_help_panel=_WHAT)],
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="cot, fj, mplm, ...", rich_help_panel=_WHAT)],
    task_opt: Annotated[list[str] | None, typer.Option("-T", help="Task option key=value, e.g. -T size=9.", rich_help_panel=_WHAT)] = None,
    strategy_opt: Annotated[list[str] | None, typer.Option("-S", help="Strategy option or cap key=value.", rich_help_panel=_WHAT)] = None,
    n: Annotated[int, typer.Option("-n", help="Instances (generated from --seed, or the first n of --data).", rich_help_panel=_WHAT)] = 10,
    seed: Annotated[int, typer.Option(help="Seed for generated instances.", rich_help_panel=_WHAT)] = 0,
    data: Annotated[str | None, typer.Option(help="Local JSONL/Parquet file or Hugging Face dataset id.", rich_help_panel=_WHAT)] = None,
    repeats: Annotated[int, typer.Option(help="Samples per instance.", rich_help_panel=_WHAT)] = 1,
    backend: Annotated[str, typer.Option("--backend", "-b", help="vllm (default), openai, scripted.", rich_help_panel=_ENGINE)] = "vllm",
    model: Annotated[str | None, typer.Option(help="Local HF folder or hub id; default: embedded SmolLM2-135M-Instruct.", rich_help_panel=_ENGINE)] = None,
    model_opt: Annotated[list[str] | None, typer.Option("-M", help="Backend/engine/sampling option key=value, e.g. -M temperature=0.6.", rich_help_panel=_ENGINE)] = None,
    concurrency: Annotated[int, typer.Option(help="Samples in flight at once (with --executor ray: per actor).", rich_help_panel=_ENGINE)] = 64,
    out: Annotated[Path, typer.Option(help="Output root; the run goes in OUT/<run id>/.", rich_help_panel=_OUT)] = Path("results"),
    log_prompts: Annotated[bool, typer.Option("--log-prompts", help="Also store every full prompt.", rich_help_panel=_OUT)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_OUT)] = False,
    verbose: VerboseOpt = False,
    strict_resume: Annotated[bool, typer.Option("--strict-resume", help="Refuse (exit 2) to resume a run an earlier session wrote with another setup (versions, git commit, backend settings, host) instead of warning; for CI.", rich_help_panel=_OUT)] = False,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    ray_actors: RayActorsOpt = None,
    ray_cpus_per_actor: RayCpusOpt = 1.0,
    ray_gpus_per_actor: RayGpusOpt = None,
    max_retries: MaxRetriesOpt = 2,
    ray_start_timeout: RayStartOpt = 600.0,
) -> None:
    """Run a strategy on a task and write Parquet results (resumes what is already on disk)."""
    from mplm_bench.config import ConfigError, RunConfig, parse_kv
    from mplm_bench.registry import UnknownName
    from mplm_bench.stopping import signals_interrupt
    from mplm_bench.tasks.base import TaskError

    try:
        cfg = RunConfig(
            task=task, strategy=strategy, task_options=parse_kv(task_opt, "-T"),
            strategy_options=parse_kv(strategy_opt, "-S"), backend=backend,
            backend_options=parse_kv(model_opt, "-M"), model=model, seed=seed, data=data,
            repeats=repeats, n=n, concurrency=concurrency, out=out, log_prompts=log_prompts,
            strict_resume=strict_resume,
        )
        from mplm_bench.cli_run import run_and_report
        from mplm_bench.executors import executor_options

        where = executor_options(kind=executor, ray_address=ray_address, ray_actors=ray_actors,
                                 ray_cpus_per_actor=ray_cpus_per_actor,
                                 ray_gpus_per_actor=ray_gpus_per_actor, max_retries=max_retries,
                                 ray_start_timeout_s=ray_start_timeout)
        with signals_interrupt():
            code = run_and_report(cfg, quiet=quiet, executor=where, verbose=verbose)
    except (ConfigError, UnknownName, TaskError) as e:
        _fail(str(e))
    except KeyboardInterrupt as e:
        _interrupted(e)
    raise typer.Exit(code)


_ROWS = "Which rows"


@app.command("export-sft")
def export_sft(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name (see `mplm-bench list`).", rich_help_panel=_WHAT)],
    out: Annotated[Path, typer.Option(help="Folder for train/validation files and README.md (the dataset card).", rich_help_panel=_OUT)],
    protocol: Annotated[list[str], typer.Option("--protocol", "-p", help="serial, fj, mplm or pacore (PaCoRe synthesis steps); repeat to mix.", rich_help_panel=_WHAT)],
    task_opt: Annotated[list[str] | None, typer.Option("-T", help="Task option key=value, e.g. -T size=9.", rich_help_panel=_WHAT)] = None,
    strategy_opt: Annotated[list[str] | None, typer.Option("-S", help="Strategy option or cap key=value, e.g. -S preset=medium.", rich_help_panel=_WHAT)] = None,
    model_opt: Annotated[list[str] | None, typer.Option("-M", help="Scripted backend option key=value, e.g. -M tokenizer=PATH.", rich_help_panel=_WHAT)] = None,
    n: Annotated[int, typer.Option("-n", help="Instances (generated from --seed, or the first n of --data).", rich_help_panel=_WHAT)] = 100,
    seed: Annotated[int, typer.Option(help="Seed for instances, the split and the row sampling.", rich_help_panel=_WHAT)] = 0,
    data: Annotated[str | None, typer.Option(help="Local JSONL/Parquet file or Hugging Face dataset id.", rich_help_panel=_WHAT)] = None,
    upsample_master: Annotated[int, typer.Option(help="Write every master step K times.", rich_help_panel=_ROWS)] = 1,
    worker_fraction: Annotated[float, typer.Option(help="Keep this seeded fraction of each sample's worker steps.", rich_help_panel=_ROWS)] = 1.0,
    drop_workers: Annotated[bool, typer.Option("--drop-workers", help="Master steps only.", rich_help_panel=_ROWS)] = False,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="One instance per distinct problem, and no identical chat twice.", rich_help_panel=_ROWS)] = False,
    val_fraction: Annotated[float, typer.Option(help="Share of problems in the validation split (whole problems, never both splits).", rich_help_panel=_ROWS)] = 0.05,
    allow_noise: Annotated[bool, typer.Option("--allow-noise", help="Accept -M error_rate>0 (noisy traces, marked in the card).", rich_help_panel=_ROWS)] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet, or jsonl for JSONL beside the Parquet files.", rich_help_panel=_OUT)] = "parquet",
    layout: Annotated[str, typer.Option(help="messages, or prompt-completion (TRL then trains on the response only).", rich_help_panel=_OUT)] = "messages",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out folder.", rich_help_panel=_OUT)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_OUT)] = False,
) -> None:
    """Write SFT training data: every step of scripted reference samples as the exact chat `run` sends."""
    from mplm_bench.config import ConfigError, parse_kv
    from mplm_bench.registry import UnknownName
    from mplm_bench.tasks.base import TaskError

    if fmt not in ("parquet", "jsonl"):
        _fail(f"--format {fmt!r}: parquet or jsonl")
    try:
        from mplm_bench.export.command import run_export

        code = run_export(
            quiet=quiet, task=task, protocols=protocol, task_options=parse_kv(task_opt, "-T"),
            strategy_options=parse_kv(strategy_opt, "-S"), backend_options=parse_kv(model_opt, "-M"),
            n=n, seed=seed, data=data, out=out, jsonl=fmt == "jsonl", layout=layout,
            upsample_master=upsample_master, worker_fraction=worker_fraction,
            drop_workers=drop_workers, dedupe=dedupe, val_fraction=val_fraction,
            allow_noise=allow_noise, overwrite=overwrite,
        )
    except (ConfigError, UnknownName, TaskError) as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted: nothing was written", 130)
    raise typer.Exit(code)


@app.command("list")
def list_() -> None:
    """Show tasks, strategies and backends, with their options."""
    from mplm_bench.cli_run import print_catalogue

    print_catalogue()


@model_app.command("prepare")
def model_prepare(
    force: Annotated[bool, typer.Option(help="Convert again even if the cache has it.")] = False,
) -> None:
    """Convert the embedded SmolLM2 GGUF to a Hugging Face folder in the cache and print where."""
    from mplm_bench.models.embedded import prepare_embedded_model

    try:
        path = prepare_embedded_model(force=force)
    except (RuntimeError, FileNotFoundError, ImportError) as e:
        _fail(str(e))
    print(path)


_SWEEP = "Sweep"
_SELECT = "Which samples"
_FORMAT = "Output"
_FMT_HELP = "rich (a terminal table), csv, markdown or json."


def _analysis_errors() -> tuple[type[BaseException], ...]:
    from mplm_bench.config import ConfigError
    from mplm_bench.registry import UnknownName
    from mplm_bench.tasks.base import TaskError

    return (ConfigError, UnknownName, TaskError)


def _where(pairs: list[str] | None) -> dict:
    from mplm_bench.config import parse_kv

    return parse_kv(pairs, "--where")


def _check_format(fmt: str) -> None:
    from mplm_bench.analysis.tables import FORMATS

    if fmt not in FORMATS:
        _fail(f"--format {fmt!r}: one of {', '.join(FORMATS)}")


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="Sweep YAML (see configs/ and `mplm_bench/sweep.py`).", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Output root instead of the config's `out`.", rich_help_panel=_SWEEP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the cells and what is on disk; run nothing.", rich_help_panel=_SWEEP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_SWEEP)] = False,
    verbose: VerboseOpt = False,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    ray_actors: RayActorsOpt = None,
    ray_cpus_per_actor: RayCpusOpt = 1.0,
    ray_gpus_per_actor: RayGpusOpt = None,
    max_retries: MaxRetriesOpt = 2,
    ray_start_timeout: RayStartOpt = 600.0,
) -> None:
    """Run a grid of tasks × options × strategies × backends × seeds into one output root (resumable)."""
    try:
        from mplm_bench.executors import executor_options
        from mplm_bench.stopping import signals_interrupt
        from mplm_bench.sweep import load_sweep
        from mplm_bench.sweep_run import run_sweep

        where = executor_options(kind=executor, ray_address=ray_address, ray_actors=ray_actors,
                                 ray_cpus_per_actor=ray_cpus_per_actor,
                                 ray_gpus_per_actor=ray_gpus_per_actor, max_retries=max_retries,
                                 ray_start_timeout_s=ray_start_timeout)
        with signals_interrupt():
            code = run_sweep(load_sweep(config), out=out, quiet=quiet, dry_run=dry_run, executor=where,
                             verbose=verbose)
    except _analysis_errors() as e:
        _fail(str(e))
    except KeyboardInterrupt as e:
        _interrupted(e)
    raise typer.Exit(code)


@app.command()
def report(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or roots holding runs.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FMT_HELP, rich_help_panel=_FORMAT)] = "rich",
    by: Annotated[list[str] | None, typer.Option("--by", help="Also split rows by this column (e.g. label).", rich_help_panel=_SELECT)] = None,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Only samples with column=value, e.g. -w strategy=mplm.", rich_help_panel=_SELECT)] = None,
) -> None:
    """Table per task/size/strategy: accuracy (Wilson 95% CI), tokens, critical path, context, calls, statuses."""
    _check_format(fmt)
    try:
        from mplm_bench.analysis.report import report as body

        text = body([str(p) for p in paths], fmt, by, _where(where))
    except _analysis_errors() as e:
        _fail(str(e))
    if text is not None:
        sys.stdout.write(text)


@app.command()
def plot(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or roots holding runs.", show_default=False)],
    kind: Annotated[str, typer.Option("--kind", "-k", help="scaling, accuracy-compute or timeline.", rich_help_panel=_FORMAT)],
    out: Annotated[list[Path], typer.Option("--out", "-o", help="FILE.png|pdf|svg (repeat for several formats).", rich_help_panel=_FORMAT)],
    x: Annotated[str | None, typer.Option(help="x axis. scaling: a size column (default n_cells, else size); accuracy-compute: gen, ttc, critical-path or a column; timeline: virtual, wall or cp.", rich_help_panel=_FORMAT)] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="scaling: y columns (default critical_path_tokens and peak_context_tokens).", rich_help_panel=_FORMAT)] = None,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Only samples with column=value.", rich_help_panel=_SELECT)] = None,
    instance: Annotated[str | None, typer.Option(help="timeline: the instance id (default: the first).", rich_help_panel=_SELECT)] = None,
    repeat: Annotated[int, typer.Option(help="timeline: the repeat.", rich_help_panel=_SELECT)] = 0,
    max_lanes: Annotated[int, typer.Option(help="timeline: at most this many threads (in start order).", rich_help_panel=_FORMAT)] = 40,
    width: Annotated[float, typer.Option(help="Figure width in inches (3.4: one paper column).", rich_help_panel=_FORMAT)] = 3.4,
    title: Annotated[str | None, typer.Option(help="Figure title (default: none for scaling / accuracy-compute).", rich_help_panel=_FORMAT)] = None,
) -> None:
    """Paper-ready figures from Parquet: scaling (log-log with fitted exponents), accuracy-compute, timeline."""
    try:
        from mplm_bench.analysis.plots import plot as body

        written = body([str(p) for p in paths], kind, out, x=x, metrics=metric, where=_where(where),
                       instance=instance, repeat=repeat, max_lanes=max_lanes, width=width, title=title)
    except _analysis_errors() as e:
        _fail(str(e))
    for path in written:
        print(path)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Baseline run folder.", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Run folder compared against A (same instances).", show_default=False)],
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="Sample columns to compare (default: correct, gen_tokens, critical_path_tokens, peak_context_tokens).", rich_help_panel=_SELECT)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FMT_HELP, rich_help_panel=_FORMAT)] = "rich",
    fail_if_worse: Annotated[bool, typer.Option("--fail-if-worse", help="Exit 1 when B is worse than A beyond the tolerance (the whole 95% interval past it).", rich_help_panel=_FORMAT)] = False,
    tol_accuracy: Annotated[float, typer.Option(help="Tolerated accuracy drop, absolute (0.02 = 2 points).", rich_help_panel=_FORMAT)] = 0.0,
    tol_cost: Annotated[float, typer.Option(help="Tolerated relative cost increase (0.05 = 5%).", rich_help_panel=_FORMAT)] = 0.05,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", rich_help_panel=_FORMAT)] = 10_000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.", rich_help_panel=_FORMAT)] = 0,
) -> None:
    """Paired per-instance comparison of two runs with bootstrap 95% intervals of B − A."""
    _check_format(fmt)
    try:
        from mplm_bench.analysis.compare import compare as body

        code = body(a, b, metric, fmt, fail_if_worse, tol_accuracy, tol_cost, resamples, seed)
    except _analysis_errors() as e:
        _fail(str(e))
    raise typer.Exit(code)


@app.command()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or roots holding runs.", show_default=False)],
    spec: Annotated[Path | None, typer.Option(help="Thresholds YAML (format: `mplm_bench/analysis/check.py`).", rich_help_panel=_SELECT)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FMT_HELP, rich_help_panel=_FORMAT)] = "rich",
    show_all: Annotated[bool, typer.Option("--all", help="List passing checks too.", rich_help_panel=_FORMAT)] = False,
    suggest: Annotated[float | None, typer.Option(help="Print a spec from the measured values with this margin (0.05: max = measured × 1.05) instead of checking.", rich_help_panel=_FORMAT)] = None,
) -> None:
    """Assert thresholds on runs' metrics: exit 1 and a table of violations when one fails."""
    _check_format(fmt)
    try:
        from mplm_bench.analysis.check import check as body

        code = body([str(p) for p in paths], spec, fmt, show_all, suggest)
    except _analysis_errors() as e:
        _fail(str(e))
    raise typer.Exit(code)


_CAL = "Calibration"


@app.command()
def calibrate(
    out: Annotated[Path, typer.Option("--out", "-o", help="The profile YAML to write.", rich_help_panel=_OUT)],
    backend: Annotated[str, typer.Option("--backend", "-b", help="vllm (default) or openai.", rich_help_panel=_ENGINE)] = "vllm",
    model: Annotated[str | None, typer.Option(help="Local HF folder or hub id; default: embedded SmolLM2-135M-Instruct.", rich_help_panel=_ENGINE)] = None,
    model_opt: Annotated[list[str] | None, typer.Option("-M", help="Backend/engine option key=value, as for `run`.", rich_help_panel=_ENGINE)] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Few points (2 prompt lengths, batches 1 and 4): seconds, rough.", rich_help_panel=_CAL)] = False,
    prompt_lengths: Annotated[str | None, typer.Option(help="Prefill prompt lengths in tokens, comma separated (default 32,128,512,1024,2048).", rich_help_panel=_CAL)] = None,
    batches: Annotated[str | None, typer.Option(help="Decode batch sizes, comma separated (default 1,2,4,8,16,32,64).", rich_help_panel=_CAL)] = None,
    decode_tokens: Annotated[int | None, typer.Option(help="Tokens each decode request generates (default 32).", rich_help_panel=_CAL)] = None,
    repeats: Annotated[int | None, typer.Option(help="Prefill measurements per length (default 3).", rich_help_panel=_CAL)] = None,
) -> None:
    """Measure an engine's prefill, decode-per-batch and per-request costs; write a latency profile.

    Use the profile with `run -b scripted -M latency_profile=FILE`: simulated seconds per sample."""
    try:
        from mplm_bench.config import parse_kv
        from mplm_bench.latency.calibrate import calibration_plan, run_calibration

        options = parse_kv(model_opt, "-M")
        if model is not None:
            options.setdefault("model", model)
        plan = calibration_plan(quick, prompt_lengths, batches, decode_tokens, repeats)
        profile = run_calibration(backend, options, out, plan)
    except _analysis_errors() as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted: no profile written", 130)
    f = profile.fit
    print(f"{out}: per request {f.per_request_s * 1000:.1f} ms, prefill {f.prefill_s_per_token * 1000:.2f} ms/token, "
          f"decode iteration {f.decode_base_s * 1000:.1f} ms + {f.decode_per_seq_s * 1000:.2f} ms per sequence")


def main() -> None:
    """The console script. Typer's own usage errors (an unknown flag, `-n abc`) become one
    `error:` line with exit code 2, like every other bad input, instead of a framed panel."""
    from typer.exceptions import TyperException

    try:
        code = app(standalone_mode=False)
    except BrokenPipeError:  # `mplm-bench list | head`
        sys.stderr.close()
        return
    except typer.Abort:
        code = 1
    except TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError" and hasattr(e, "show"):
            e.show()  # `mplm-bench` alone: the help
        else:
            text = e.format_message() if hasattr(e, "format_message") else str(e)
            with contextlib.suppress(typer.Exit):
                _fail(" ".join(text.split()) + " (see --help)", getattr(e, "exit_code", 2))
        code = getattr(e, "exit_code", 2)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
