"""The body of `mplm-bench export-sft`: options from the command line, progress, a short summary."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from mplm_bench.config import ConfigError
from mplm_bench.export.options import ExportOptions
from mplm_bench.export.sft import export_sft
from mplm_bench.export.steps import SampleSteps
from mplm_bench.progress import sample_progress

_FLAGS = {"upsample_master": "--upsample-master", "worker_fraction": "--worker-fraction",
          "val_fraction": "--val-fraction", "n": "-n", "seed": "--seed", "data": "--data",
          "adaptive_rows": "--adaptive-rows"}
_SWITCHES = {"drop_workers": "--drop-workers", "dedupe": "--dedupe", "allow_noise": "--allow-noise",
             "overwrite": "--overwrite"}


def _kv(flag: str, values: dict[str, Any]) -> list[str]:
    out = []
    for k, v in values.items():
        text = str(v).lower() if isinstance(v, bool) else str(v)
        out += [flag, f"{k}={text}"]
    return out


def command_line(o: ExportOptions) -> str:
    """The options as one canonical command (the card records how to make the dataset again)."""
    args = ["mplm-bench", "export-sft", "--task", o.task]
    for p in o.protocols:
        args += ["--protocol", p]
    args += _kv("-T", o.task_options) + _kv("-S", o.strategy_options) + _kv("-M", o.backend_options)
    defaults = ExportOptions.model_fields
    for name, flag in _FLAGS.items():
        value = getattr(o, name)
        if name == "n" or value != defaults[name].default:
            args += [flag, str(value)]
    args += [flag for name, flag in _SWITCHES.items() if getattr(o, name)]
    if o.jsonl:
        args += ["--format", "jsonl"]
    if o.layout != "messages":
        args += ["--layout", o.layout]
    return shlex.join([*args, "--out", str(o.out)])


def build_options(**values: Any) -> ExportOptions:
    try:
        opts = ExportOptions(**values)
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "options"
        flag = {"protocols": "--protocol", "n": "-n"}.get(name, "--" + name.replace("_", "-"))
        raise ConfigError(f"{flag}: {err['msg']}") from None
    return opts.model_copy(update={"command": command_line(opts)})


def run_export(quiet: bool = False, **values: Any) -> int:
    opts = build_options(**values)
    console = Console(stderr=True)
    progress = sample_progress(console, quiet)
    bar = progress.add_task(f"{opts.task}/{','.join(opts.protocols)}", total=None, note="")

    def on_sample(protocol: str, sample: SampleSteps) -> None:
        progress.update(bar, advance=1)

    def on_start(total: int) -> None:  # after validation: a refused export shows no bar
        progress.update(bar, total=total)
        progress.start()

    try:
        summary = export_sft(opts, on_sample, on_start)
    finally:
        progress.stop()

    def rows(split: str, n: int) -> str:
        k = summary.instances[split]
        return f"{split} {n:,} row{'s' if n != 1 else ''} ({k:,} instance{'s' if k != 1 else ''})"

    written = ", ".join(rows(s, n) for s, n in summary.rows.items() if n)
    console.print(f"wrote {opts.out}: {written}; {', '.join(summary.files)} and README.md "
                  f"in {summary.elapsed_s:.1f} s", highlight=False)
    if summary.error_rate > 0 and not summary.noisy_references_only:
        console.print(f"[bold yellow]warning:[/] noisy traces (-M error_rate={summary.error_rate:g}), "
                      "marked so in the dataset card", highlight=False)
    sys.stdout.write(f"{opts.out}\n")
    return 0
