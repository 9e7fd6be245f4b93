"""The `mplm-bench` command line. One function per command; heavy imports inside the bodies."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

app = typer.Typer(
    name="mplm-bench",
    help="Benchmark LLM reasoning strategies (CoT, fork-join, MPLM, PaCoRe) on a real engine.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
if TYPE_CHECKING:
    from mplm_bench.executors.options import ExecutorOptions

F = TypeVar("F", bound=Callable[..., Any])

model_app = typer.Typer(help="The embedded default model and the shipped protocol models.", no_args_is_help=True)
app.add_typer(model_app, name="model")
recipe_app = typer.Typer(help="Reproduction recipes: published results, their runs and figures (configs/recipes/).", no_args_is_help=True)
app.add_typer(recipe_app, name="recipe")

_WHAT = "What to run"
_ENGINE = "Backend and model"
_OUT = "Output"
_SCALE = "Scale out"

_FMT_HELP = "rich (a terminal table), csv, markdown or json."

# Options several commands take, declared once (the Inspect-style -T / -S / -M / -X key=value)
TaskOpt = Annotated[list[str] | None, typer.Option("-T", help="Task option key=value, e.g. -T size=9.", rich_help_panel=_WHAT)]
StrategyOpt = Annotated[list[str] | None, typer.Option("-S", help="Strategy option or cap key=value, e.g. -S scheduler=async.", rich_help_panel=_WHAT)]
ModelOpt = Annotated[list[str] | None, typer.Option("-M", help="Backend/engine/sampling option key=value, e.g. -M temperature=0.6.", rich_help_panel=_ENGINE)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_OUT)]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help=_FMT_HELP, rich_help_panel="Output")]

# `run` and `sweep` take the same executor options (mplm_bench/executors/options.py): `-X key=value`;
# the one-flag-per-setting forms below are the older spelling, kept working
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (this process) or ray (Ray actors, each with its own backend).", rich_help_panel=_SCALE)]
ExecutorXOpt = Annotated[list[str] | None, typer.Option("-X", help="Executor option key=value: ray_address, ray_actors, ray_cpus_per_actor, ray_gpus_per_actor, max_retries, ray_start_timeout_s (e.g. -X ray_actors=2).", rich_help_panel=_SCALE)]
RayAddressOpt = Annotated[str | None, typer.Option(help="Ray cluster to join (default: $RAY_ADDRESS, else a new local Ray); `auto`: the one `ray start` runs here. Deprecated spelling of -X ray_address=.", rich_help_panel=_SCALE)]
RayActorsOpt = Annotated[int | None, typer.Option(help="Actors (default: cluster GPUs / GPUs per actor; vllm on CPU: one per node; else CPUs). Deprecated spelling of -X ray_actors=.", rich_help_panel=_SCALE)]
RayCpusOpt = Annotated[float | None, typer.Option(help="CPUs Ray reserves for each actor (default 1). Deprecated spelling of -X ray_cpus_per_actor=.", rich_help_panel=_SCALE)]
RayGpusOpt = Annotated[float | None, typer.Option(help="GPUs per actor (default: vllm's tensor_parallel_size × data_parallel_size on a GPU cluster, else 0). Deprecated spelling of -X ray_gpus_per_actor=.", rich_help_panel=_SCALE)]
MaxRetriesOpt = Annotated[int | None, typer.Option(help="Re-runs of a sample whose actor died (then: engine_error), and replacements per actor (default 2). Deprecated spelling of -X max_retries=.", rich_help_panel=_SCALE)]
RayStartOpt = Annotated[float | None, typer.Option(help="Seconds an actor may wait for Ray to place and start it (resources held elsewhere) before it counts as dead (default 600). Deprecated spelling of -X ray_start_timeout_s=.", rich_help_panel=_SCALE)]


def _executor(kind: str, x: list[str] | None, **flags: object) -> ExecutorOptions:
    """ExecutorOptions from `--executor`, `-X key=value` and the older per-setting flags."""
    from mplm_bench.config import ConfigError, parse_kv
    from mplm_bench.executors.options import executor_options

    given = {k: v for k, v in flags.items() if v is not None}
    xs = parse_kv(x, "-X")
    if "kind" in xs:
        raise ConfigError("-X kind: choose the executor with --executor")
    for key in sorted(set(xs) & set(given)):
        raise ConfigError(f"-X {key} and its flag both given: give it once")
    return executor_options(x_keys=frozenset(xs), kind=kind, **given, **xs)


def handles_errors(interrupted: str | None = None) -> Callable[[F], F]:
    """One place for what every command does with bad input: a ConfigError, an unknown name or a
    TaskError is one `error:` line and exit code 2; when `interrupted` is given, Ctrl-C, SIGTERM
    and SIGHUP are one line saying so and `interrupted`, exit code 128 + the signal's number; a
    returned int is the exit code."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from mplm_bench.stopping import signals_interrupt

            try:  # SIGTERM and SIGHUP stop a command as Ctrl-C does (stopping.py)
                with signals_interrupt() if interrupted is not None else contextlib.nullcontext():
                    code = fn(*args, **kwargs)
            except _user_errors() as e:
                _fail(str(e))
            except KeyboardInterrupt as e:
                if interrupted is None:
                    raise
                # one line, exit 128 + the signal's number
                name, exit_code = getattr(e, "name", "SIGINT"), getattr(e, "exit_code", 130)
                _fail(f"{'interrupted' if name == 'SIGINT' else f'stopped by {name}'}: {interrupted}", exit_code)
            if isinstance(code, int):
                raise typer.Exit(code)
            return code

        return cast(F, wrapper)  # the same signature: typer reads fn's through __wrapped__

    return deco


def _user_errors() -> tuple[type[BaseException], ...]:
    from mplm_bench.config import ConfigError
    from mplm_bench.registry import UnknownName
    from mplm_bench.tasks.base import TaskError

    return (ConfigError, UnknownName, TaskError)


_RESUME = "finished samples are on disk; run the same command again to resume"
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show the engine's own log (vLLM, torch) here instead of only in RUN/engine.log.", rich_help_panel=_OUT)]


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escaped: a message may hold brackets (`pip install 'mplm-bench[ray]'`) that are not markup
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
@handles_errors(interrupted=_RESUME)
def run(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name (see `mplm-bench list`), or a file's task: path/to/file.py:MyTask.", rich_help_panel=_WHAT)],
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="cot, fj, mplm, ...", rich_help_panel=_WHAT)],
    task_opt: TaskOpt = None,
    strategy_opt: StrategyOpt = None,
    n: Annotated[int, typer.Option("-n", help="Instances (generated from --seed, or the first n of --data).", rich_help_panel=_WHAT)] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Seed for generated instances (≥ 0; export-sft's training stream is the negative one).", rich_help_panel=_WHAT)] = 0,
    data: Annotated[str | None, typer.Option(help="Local JSONL/Parquet file or Hugging Face dataset id.", rich_help_panel=_WHAT)] = None,
    repeats: Annotated[int, typer.Option(help="Samples per instance.", rich_help_panel=_WHAT)] = 1,
    input_rate: Annotated[float | None, typer.Option(help="Stream the input: TOKENS_PER_S arrive on the run's clock (virtual on scripted, wall on engines; docs/streaming.md).", rich_help_panel=_WHAT)] = None,
    input_schedule: Annotated[str | None, typer.Option(help="Stream the input: piece k arrives at the k-th of these times, e.g. 0,4,8,12.", rich_help_panel=_WHAT)] = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="vllm (default), openai, scripted.", rich_help_panel=_ENGINE)] = "vllm",
    model: Annotated[str | None, typer.Option(help="Local HF folder or hub id; default: embedded SmolLM2-135M-Instruct.", rich_help_panel=_ENGINE)] = None,
    model_opt: ModelOpt = None,
    concurrency: Annotated[int, typer.Option(help="Samples in flight at once (with --executor ray: per actor).", rich_help_panel=_ENGINE)] = 64,
    out: Annotated[Path, typer.Option(help="Output root; the run goes in OUT/<run id>/.", rich_help_panel=_OUT)] = Path("results"),
    log_prompts: Annotated[bool, typer.Option("--log-prompts", help="Also store every full prompt.", rich_help_panel=_OUT)] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    strict_resume: Annotated[bool, typer.Option("--strict-resume", help="Refuse (exit 2) to resume a run an earlier session wrote with another setup (versions, git commit, backend settings, host) instead of warning; for CI.", rich_help_panel=_OUT)] = False,
    executor: ExecutorOpt = "local",
    executor_opt: ExecutorXOpt = None,
    ray_address: RayAddressOpt = None,
    ray_actors: RayActorsOpt = None,
    ray_cpus_per_actor: RayCpusOpt = None,
    ray_gpus_per_actor: RayGpusOpt = None,
    max_retries: MaxRetriesOpt = None,
    ray_start_timeout: RayStartOpt = None,
) -> int:
    """Run a strategy on a task and write Parquet results (resumes what is already on disk)."""
    from mplm_bench.cli_run import run_and_report
    from mplm_bench.config import RunConfig, parse_kv

    cfg = RunConfig(
        task=task, strategy=strategy, task_options=parse_kv(task_opt, "-T"),
        strategy_options=parse_kv(strategy_opt, "-S"), backend=backend,
        backend_options=parse_kv(model_opt, "-M"), model=model, seed=seed, data=data,
        repeats=repeats, n=n, concurrency=concurrency, out=out, log_prompts=log_prompts,
        input_rate=input_rate, input_schedule=_times(input_schedule), strict_resume=strict_resume,
    )
    where = _executor(executor, executor_opt, ray_address=ray_address, ray_actors=ray_actors,
                      ray_cpus_per_actor=ray_cpus_per_actor, ray_gpus_per_actor=ray_gpus_per_actor,
                      max_retries=max_retries, ray_start_timeout_s=ray_start_timeout)
    return run_and_report(cfg, quiet=quiet, executor=where, verbose=verbose)


def _times(text: str | None) -> list[float] | None:
    """`0,4,8` -> [0.0, 4.0, 8.0] (--input-schedule)."""
    if text is None:
        return None
    from mplm_bench.config import ConfigError

    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--input-schedule {text!r}: expected comma-separated times, e.g. 0,4,8") from None


_ROWS = "Which rows"


@app.command("export-sft")
@handles_errors(interrupted="nothing was written")
def export_sft(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name (see `mplm-bench list`).", rich_help_panel=_WHAT)],
    out: Annotated[Path, typer.Option(help="Folder for train/validation files and README.md (the dataset card).", rich_help_panel=_OUT)],
    protocol: Annotated[list[str], typer.Option("--protocol", "-p", help="serial, fj, mplm, pacore (PaCoRe synthesis steps), or threadweaver, parallel-r1, multiverse (whole traces); repeat to mix.", rich_help_panel=_WHAT)],
    task_opt: TaskOpt = None,
    strategy_opt: StrategyOpt = None,
    model_opt: ModelOpt = None,
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
    adaptive_rows: Annotated[str, typer.Option(help="threadweaver, parallel-r1, multiverse: trace (the whole trace, one row) or calls (one row per call in the engine's context: the trie; docs/training.md §8).", rich_help_panel=_ROWS)] = "trace",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out folder.", rich_help_panel=_OUT)] = False,
    quiet: QuietOpt = False,
) -> int:
    """Write SFT training data: every step of scripted reference samples as the exact chat `run` sends."""
    from mplm_bench.config import parse_kv

    if fmt not in ("parquet", "jsonl"):
        _fail(f"--format {fmt!r}: parquet or jsonl")
    from mplm_bench.export.command import run_export

    return run_export(
        quiet=quiet, task=task, protocols=protocol, task_options=parse_kv(task_opt, "-T"),
        strategy_options=parse_kv(strategy_opt, "-S"), backend_options=parse_kv(model_opt, "-M"),
        n=n, seed=seed, data=data, out=out, jsonl=fmt == "jsonl", layout=layout,
        upsample_master=upsample_master, worker_fraction=worker_fraction,
        drop_workers=drop_workers, dedupe=dedupe, val_fraction=val_fraction,
        allow_noise=allow_noise, overwrite=overwrite, adaptive_rows=adaptive_rows,
    )


_TRAIN = "Training"


@app.command("train")
@handles_errors(interrupted="nothing was written")
def train(
    task: Annotated[str, typer.Option("--task", "-t", help="Task name (see `mplm-bench list`).", rich_help_panel=_WHAT)],
    protocol: Annotated[str, typer.Option("--protocol", "-p", help="The export-sft protocol whose traces to learn: serial, fj, mplm, ...", rich_help_panel=_WHAT)],
    out: Annotated[Path, typer.Option(help="Model folder to write (weights, tokenizer, README.md model card).", rich_help_panel=_OUT)],
    steps: Annotated[int, typer.Option(help="Optimizer steps.", rich_help_panel=_TRAIN)],
    task_opt: TaskOpt = None,
    n: Annotated[int, typer.Option("-n", help="Training instances exported (from the training seed stream).", rich_help_panel=_WHAT)] = 6000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the training stream, the weights and the batch order.", rich_help_panel=_WHAT)] = 0,
    batch_tokens: Annotated[int, typer.Option(help="Padded tokens per optimizer step.", rich_help_panel=_TRAIN)] = 8192,
    upsample_master: Annotated[int, typer.Option(help="Write every master step K times.", rich_help_panel=_TRAIN)] = 4,
    hidden: Annotated[int, typer.Option(help="Hidden size.", rich_help_panel=_TRAIN)] = 256,
    layers: Annotated[int, typer.Option(help="Transformer layers.", rich_help_panel=_TRAIN)] = 4,
    lr: Annotated[float, typer.Option(help="Peak learning rate.", rich_help_panel=_TRAIN)] = 2e-3,
    position_heads: Annotated[int, typer.Option(help="Layer-0 heads set to look 1, 2, … tokens back at initialisation (docs/training.md §2).", rich_help_panel=_TRAIN)] = 0,
    first_calls: Annotated[int, typer.Option(help="Train the first K steps on each thread's first call only (the spawn's copy of the problem, a worker's lookup of its cell): docs/training.md §2.", rich_help_panel=_TRAIN)] = 0,
    adaptive_rows: Annotated[str, typer.Option(help="threadweaver, parallel-r1, multiverse: calls (one row per call in the engine's context, the trie) or trace (the whole trace).", rich_help_panel=_TRAIN)] = "calls",
    split_digits: Annotated[bool | None, typer.Option(help="One token per digit, as Qwen2 splits numbers (default: on for multiply, math, countdown).", rich_help_panel=_TRAIN)] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's).", rich_help_panel=_TRAIN)] = None,
    eval_rows: Annotated[int, typer.Option(help="Held-out steps decoded for the card's exact-match figure.", rich_help_panel=_TRAIN)] = 100,
) -> int:
    """Train a small protocol model from scratch on the task's reference traces (docs/training.md)."""
    from rich.console import Console

    from mplm_bench.config import parse_kv
    from mplm_bench.train.recipe import TrainOptions, train_model

    console = Console(stderr=True, soft_wrap=True)

    opts = TrainOptions(task=task, protocol=protocol, task_options=parse_kv(task_opt, "-T"), n=n,
                        seed=seed, steps=steps, batch_tokens=batch_tokens,
                        upsample_master=upsample_master, hidden=hidden, heads=max(1, hidden // 32),
                        intermediate=3 * hidden, layers=layers, lr=lr,
                        position_heads=position_heads, first_calls=first_calls, split_digits=split_digits, threads=threads, adaptive_rows=adaptive_rows,
                        eval_rows=eval_rows, out=out)
    card = train_model(opts, log=lambda m: console.print(m, highlight=False, soft_wrap=True))
    console.print(f"wrote {out}: loss {card['final_loss']}, held-out steps exact "
                  f"{card['heldout_exact_match'][0]}/{card['heldout_exact_match'][1]}")
    return 0


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


@model_app.command("list")
def model_list() -> None:
    """The shipped protocol models: name, what each is the default for, held-out figures, folder."""
    from mplm_bench.models.protocol_models import shipped_models, task_flags

    for m in shipped_models():
        card = m.card
        opts = task_flags(m.task_options)
        em = card.get("heldout_exact_match") or [0, 0]
        print(f"{m.name}  default for -t {m.task} {opts} -s {'/'.join(m.strategies)} on vllm; "
              f"{card['parameters'] / 1e6:.1f}M params, {card['steps']} steps, loss {card['final_loss']}, "
              f"held-out steps exact {em[0]}/{em[1]}  {m.path}")
    print("embedded SmolLM2-135M-Instruct (--model smollm2): the default everywhere else")


@recipe_app.command("list")
@handles_errors()
def recipe_list() -> None:
    """Each recipe: its name, what it reproduces, and where the figures are from."""
    from mplm_bench.recipes.schema import load_recipe, recipe_files

    for path in recipe_files():
        r = load_recipe(path.stem)
        figures = ", ".join(f"{f.metric} {f.value:g}" for f in r.reported)
        print(f"{r.name}  {r.title}\n    {r.source.paper}; {r.source.where}; {r.source.url}\n"
              f"    -t {r.run.task} -s {r.run.strategy}, model {r.model or '(not released: --model)'}; "
              f"reported: {figures}")


@recipe_app.command("run")
@handles_errors(interrupted=_RESUME)
def recipe_run(
    name: Annotated[str, typer.Argument(help="A recipe name (see `recipe list`) or a recipe YAML file.", show_default=False)],
    backend: Annotated[str, typer.Option("--backend", "-b", help="vllm (default), openai, or scripted (the offline form: generated problems or --data, no model).", rich_help_panel=_ENGINE)] = "vllm",
    model: Annotated[str | None, typer.Option(help="Instead of the recipe's model (needed where it is not released).", rich_help_panel=_ENGINE)] = None,
    data: Annotated[str | None, typer.Option(help="A local copy of the split instead of the hub dataset.", rich_help_panel=_WHAT)] = None,
    n: Annotated[int | None, typer.Option("-n", help="Instances (default: the recipe's).", rich_help_panel=_WHAT)] = None,
    out: Annotated[Path, typer.Option(help="Output root.", rich_help_panel=_OUT)] = Path("results"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be fetched and run; run nothing.", rich_help_panel=_OUT)] = False,
    fmt: FormatOpt = "rich",
    fail_outside: Annotated[bool, typer.Option("--fail-outside", help="Exit 1 when a measured figure is outside the recipe's tolerance.", rich_help_panel=_OUT)] = False,
) -> int:
    """Print what the recipe fetches and runs, run it, then the paper's figures beside the measured ones."""
    _check_format(fmt)
    from mplm_bench.recipes.run import run_recipe

    return run_recipe(name, backend, model, data, n, out, dry_run, fmt, fail_outside)


_SWEEP = "Sweep"
_SELECT = "Which samples"
_FORMAT = "Output"


def _where(pairs: list[str] | None) -> dict:
    from mplm_bench.config import parse_kv

    return parse_kv(pairs, "--where")


def _check_format(fmt: str) -> None:
    from mplm_bench.analysis.tables import FORMATS

    if fmt not in FORMATS:
        _fail(f"--format {fmt!r}: one of {', '.join(FORMATS)}")


@app.command()
@handles_errors(interrupted=_RESUME)
def sweep(
    config: Annotated[Path, typer.Argument(help="Sweep YAML (see configs/ and `mplm_bench/sweep_config.py`).", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Output root instead of the config's `out`.", rich_help_panel=_SWEEP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the cells and what is on disk; run nothing.", rich_help_panel=_SWEEP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_SWEEP)] = False,
    verbose: VerboseOpt = False,
    executor: ExecutorOpt = "local",
    executor_opt: ExecutorXOpt = None,
    ray_address: RayAddressOpt = None,
    ray_actors: RayActorsOpt = None,
    ray_cpus_per_actor: RayCpusOpt = None,
    ray_gpus_per_actor: RayGpusOpt = None,
    max_retries: MaxRetriesOpt = None,
    ray_start_timeout: RayStartOpt = None,
) -> int:
    """Run a grid of tasks × options × strategies × backends × seeds into one output root (resumable)."""
    from mplm_bench.sweep_config import load_sweep
    from mplm_bench.sweep_run import run_sweep

    where = _executor(executor, executor_opt, ray_address=ray_address, ray_actors=ray_actors,
                      ray_cpus_per_actor=ray_cpus_per_actor, ray_gpus_per_actor=ray_gpus_per_actor,
                      max_retries=max_retries, ray_start_timeout_s=ray_start_timeout)
    return run_sweep(load_sweep(config), out=out, quiet=quiet, dry_run=dry_run, executor=where,
                     verbose=verbose)


@app.command()
@handles_errors()
def report(
    paths: Annotated[list[Path] | None, typer.Argument(help="Run folders or roots holding runs (default: results).", show_default=False)] = None,
    fmt: FormatOpt = "rich",
    by: Annotated[list[str] | None, typer.Option("--by", help="Also split rows by this column (e.g. label).", rich_help_panel=_SELECT)] = None,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Only samples with column=value, e.g. -w strategy=mplm.", rich_help_panel=_SELECT)] = None,
    kind: Annotated[str, typer.Option("--kind", "-k", help="main (the default table) or diversity (branch agreement, oracle gap, emergent correctness, conformity: docs/metrics.md).", rich_help_panel=_FORMAT)] = "main",
) -> None:
    """Table per task/size/strategy: accuracy (Wilson 95% CI), tokens, critical path, context, calls, statuses."""
    _check_format(fmt)
    roots = [str(p) for p in paths or [Path("results")]]
    if kind == "diversity":
        from mplm_bench.analysis.diversity_report import report as diversity

        if by:
            _fail("--by: the diversity report has one row per run")
        text = diversity(roots, fmt, _where(where))
        if text is not None:
            sys.stdout.write(text)
        return
    if kind != "main":
        _fail(f"--kind {kind!r}: one of main, diversity")
    from mplm_bench.analysis.report import report as body

    text = body(roots, fmt, by, _where(where))
    if text is not None:
        sys.stdout.write(text)


@app.command()
@handles_errors()
def plot(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or roots holding runs.", show_default=False)],
    kind: Annotated[str, typer.Option("--kind", "-k", help="scaling, accuracy-compute, timeline, streaming, diversity or sampling (pass@k / mean@k / maj@k against k).", rich_help_panel=_FORMAT)],
    out: Annotated[list[Path], typer.Option("--out", "-o", help="FILE.png|pdf|svg (repeat for several formats).", rich_help_panel=_FORMAT)],
    x: Annotated[str | None, typer.Option(help="x axis. scaling: a size column (default n_cells, else size); accuracy-compute: gen, ttc, critical-path, latency, accel, apr-tokens or a column; timeline: virtual, wall or cp; diversity: conformity (default), agreement or a diversity column.", rich_help_panel=_FORMAT)] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="scaling: y columns (default critical_path_tokens and peak_context_tokens); streaming: the y column (default latency_after_input); sampling: pass, mean, maj (default all three).", rich_help_panel=_FORMAT)] = None,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Only samples with column=value.", rich_help_panel=_SELECT)] = None,
    instance: Annotated[str | None, typer.Option(help="timeline: the instance id (default: the first).", rich_help_panel=_SELECT)] = None,
    repeat: Annotated[int, typer.Option(help="timeline: the repeat.", rich_help_panel=_SELECT)] = 0,
    max_lanes: Annotated[int, typer.Option(help="timeline: at most this many threads (in start order).", rich_help_panel=_FORMAT)] = 40,
    width: Annotated[float, typer.Option(help="Figure width in inches (3.4: one paper column).", rich_help_panel=_FORMAT)] = 3.4,
    title: Annotated[str | None, typer.Option(help="Figure title (default: none for scaling / accuracy-compute).", rich_help_panel=_FORMAT)] = None,
) -> None:
    """Paper-ready figures from Parquet: scaling (log-log with fitted exponents), accuracy-compute, timeline."""
    from mplm_bench.analysis.plots import plot as body

    written = body([str(p) for p in paths], kind, out, x=x, metrics=metric, where=_where(where),
                   instance=instance, repeat=repeat, max_lanes=max_lanes, width=width, title=title)
    for path in written:
        print(path)


@app.command()
@handles_errors()
def compare(
    a: Annotated[Path, typer.Argument(help="Baseline run folder.", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Run folder compared against A (same instances).", show_default=False)],
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="Sample columns, pass@K / mean@K / maj@K (with --repeats, paired per instance) or speedup (mean token latency A / B) to compare (default: correct, gen_tokens, critical_path_tokens, peak_context_tokens, plus speedup when B is adaptive).", rich_help_panel=_SELECT)] = None,
    fmt: FormatOpt = "rich",
    fail_if_worse: Annotated[bool, typer.Option("--fail-if-worse", help="Exit 1 when B is worse than A beyond the tolerance (the whole 95% interval past it).", rich_help_panel=_FORMAT)] = False,
    tol_accuracy: Annotated[float, typer.Option(help="Tolerated accuracy drop, absolute (0.02 = 2 points).", rich_help_panel=_FORMAT)] = 0.0,
    tol_cost: Annotated[float, typer.Option(help="Tolerated relative cost increase (0.05 = 5%).", rich_help_panel=_FORMAT)] = 0.05,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", rich_help_panel=_FORMAT)] = 10_000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.", rich_help_panel=_FORMAT)] = 0,
) -> None:
    """Paired per-instance comparison of two runs with bootstrap 95% intervals of B − A."""
    _check_format(fmt)
    from mplm_bench.analysis.compare import compare as body

    code = body(a, b, metric, fmt, fail_if_worse, tol_accuracy, tol_cost, resamples, seed)
    raise typer.Exit(code)


@app.command()
@handles_errors()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or roots holding runs.", show_default=False)],
    spec: Annotated[Path | None, typer.Option(help="Thresholds YAML (format: `mplm_bench/analysis/check.py`).", rich_help_panel=_SELECT)] = None,
    fmt: FormatOpt = "rich",
    show_all: Annotated[bool, typer.Option("--all", help="List passing checks too.", rich_help_panel=_FORMAT)] = False,
    suggest: Annotated[float | None, typer.Option(help="Print a spec from the measured values with this margin (0.05: max = measured × 1.05) instead of checking.", rich_help_panel=_FORMAT)] = None,
) -> None:
    """Assert thresholds on runs' metrics: exit 1 and a table of violations when one fails."""
    _check_format(fmt)
    from mplm_bench.analysis.check import check as body

    code = body([str(p) for p in paths], spec, fmt, show_all, suggest)
    raise typer.Exit(code)


@app.command()
@handles_errors()
def view(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or roots holding runs.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The HTML file (default: PATH/view.html).", rich_help_panel=_FORMAT)] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the page on 127.0.0.1 instead (for a root still being written: reload shows new samples).", rich_help_panel=_FORMAT)] = False,
    port: Annotated[int, typer.Option(help="--serve: the port (0: a free one).", rich_help_panel=_FORMAT)] = 0,
    calls_mb: Annotated[float | None, typer.Option("--calls-mb", help="The file holds the calls of as many samples as fit in this many MB (default 8; inf: all); the table always holds every sample, and --serve reads any sample's calls.", rich_help_panel=_FORMAT)] = None,
) -> None:
    """A self-contained HTML trace viewer: sample table, threads timeline, steps' text (opens offline)."""
    if serve and out is not None:
        _fail("--serve and --out: pick one (the server builds the page on every load)")
    if serve and calls_mb is not None:
        _fail("--serve and --calls-mb: pick one (the server reads any sample's calls when opened)")
    if calls_mb is not None and not calls_mb >= 0:
        _fail(f"--calls-mb {calls_mb}: a size in MB, 0 or more (inf: every sample's calls)")
    if serve:
        from mplm_bench.view.server import ViewServer

        for p in paths:
            if not p.is_dir():
                _fail(f"{p}: no such folder")
        try:
            server = ViewServer(paths, port)
        except OSError as e:
            _fail(f"--port {port}: {e.strerror or e}")
        print(f"serving {', '.join(map(str, paths))} at {server.url} (Ctrl+C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        server.server_close()
        return
    from mplm_bench.view.build import CALLS_MB, build_file, default_out

    budget = CALLS_MB if calls_mb is None else calls_mb
    built = build_file(paths, out or default_out(paths), budget)
    line = f"{built.path}: {built.n_samples} sample(s), {built.n_calls:,} calls, {built.size / 1e6:.2f} MB"
    if not built.all_calls:
        line += (f"; it holds the calls of {built.n_in_page:,} of them (--calls-mb {budget:g}): "
                 f"open the others with `mplm-bench view {' '.join(map(str, paths))} --serve`")
    print(line)


_CAL = "Calibration"


@app.command()
@handles_errors(interrupted="no profile written")
def calibrate(
    out: Annotated[Path, typer.Option("--out", "-o", help="The profile YAML to write.", rich_help_panel=_OUT)],
    backend: Annotated[str, typer.Option("--backend", "-b", help="vllm (default) or openai.", rich_help_panel=_ENGINE)] = "vllm",
    model: Annotated[str | None, typer.Option(help="Local HF folder or hub id; default: embedded SmolLM2-135M-Instruct.", rich_help_panel=_ENGINE)] = None,
    model_opt: ModelOpt = None,
    quick: Annotated[bool, typer.Option("--quick", help="Few points (2 prompt lengths, batches 1 and 4): seconds, rough.", rich_help_panel=_CAL)] = False,
    prompt_lengths: Annotated[str | None, typer.Option(help="Prefill prompt lengths in tokens, comma separated (default 32,128,512,1024,2048).", rich_help_panel=_CAL)] = None,
    batches: Annotated[str | None, typer.Option(help="Decode batch sizes, comma separated (default 1,2,4,8,16,32,64).", rich_help_panel=_CAL)] = None,
    decode_tokens: Annotated[int | None, typer.Option(help="Tokens each decode request generates (default 32).", rich_help_panel=_CAL)] = None,
    repeats: Annotated[int | None, typer.Option(help="Prefill measurements per length (default 3).", rich_help_panel=_CAL)] = None,
) -> None:
    """Measure an engine's prefill, decode-per-batch and per-request costs; write a latency profile.

    Use the profile with `run -b scripted -M latency_profile=FILE`: simulated seconds per sample."""
    from mplm_bench.config import parse_kv
    from mplm_bench.latency.calibrate import calibration_plan, run_calibration

    options = parse_kv(model_opt, "-M")
    if model is not None:
        options.setdefault("model", model)
    plan = calibration_plan(quick, prompt_lengths, batches, decode_tokens, repeats)
    profile = run_calibration(backend, options, out, plan)
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
