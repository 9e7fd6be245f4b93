"""The `mplm-bench` command line. One function per command; heavy imports inside the bodies."""

from __future__ import annotations

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


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


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
    concurrency: Annotated[int, typer.Option(help="Samples in flight at once.", rich_help_panel=_ENGINE)] = 64,
    out: Annotated[Path, typer.Option(help="Output root; the run goes in OUT/<run id>/.", rich_help_panel=_OUT)] = Path("results"),
    log_prompts: Annotated[bool, typer.Option("--log-prompts", help="Also store every full prompt.", rich_help_panel=_OUT)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_OUT)] = False,
) -> None:
    """Run a strategy on a task and write Parquet results (resumes what is already on disk)."""
    from mplm_bench.config import ConfigError, RunConfig, parse_kv
    from mplm_bench.registry import UnknownName
    from mplm_bench.tasks.base import TaskError

    try:
        cfg = RunConfig(
            task=task, strategy=strategy, task_options=parse_kv(task_opt, "-T"),
            strategy_options=parse_kv(strategy_opt, "-S"), backend=backend,
            backend_options=parse_kv(model_opt, "-M"), model=model, seed=seed, data=data,
            repeats=repeats, n=n, concurrency=concurrency, out=out, log_prompts=log_prompts,
        )
        from mplm_bench.cli_run import run_and_report

        code = run_and_report(cfg, quiet=quiet)
    except (ConfigError, UnknownName, TaskError) as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted: finished samples are on disk; run the same command again to resume", 130)
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


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `mplm-bench list | head`
        sys.stderr.close()


if __name__ == "__main__":
    main()
