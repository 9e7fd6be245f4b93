"""Figure style shared by every plot: sizes for a paper column, fixed strategy colours, saving.

matplotlib is imported inside functions (Agg backend), so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mplm_bench.config import ConfigError

SUFFIXES = (".png", ".pdf", ".svg")
# Okabe–Ito: distinguishable with colour-blindness and in greyscale print (with the markers)
STRATEGY_STYLE: dict[str, tuple[str, str, str]] = {
    "cot": ("serial CoT", "#000000", "o"),
    "fj": ("fork-join", "#E69F00", "s"),
    "mplm": ("MPLM", "#0072B2", "D"),
    "pacore": ("PaCoRe", "#009E73", "^"),
    "sc": ("self-consistency", "#CC79A7", "v"),
}
_EXTRA = [("#D55E00", "P"), ("#56B4E9", "X"), ("#F0E442", "*"), ("#999999", "h")]

AXIS_LABELS = {
    "n_cells": "cells N² (log scale)",
    "size": "size",
    "critical_path_tokens": "critical path (tokens)",
    "peak_context_tokens": "peak context (tokens)",
    "gen_tokens": "generated tokens",
    "prompt_tokens": "prompt tokens",
    "n_calls": "model calls",
    "n_messages": "messages",
    "rounds": "rounds",
    "wall_s": "wall time (s)",
    "sim_latency_s": "simulated latency (s)",
    "virtual_time": "virtual time (tokens)",
    "n_vars": "variables",
    # streamed input (docs/streaming.md): on the run's clock (virtual units on scripted, seconds on engines)
    "input_rate": "input rate (tokens per clock unit)",
    "latency_after_input": "latency after input end",
    "first_token_after_input_start": "first output token after input start",
    "cp_tokens_after_input": "critical path after input end (tokens)",
}
SIZE_LABELS = {"sudoku": "grid side N (log scale)", "sat": "variables (log scale)"}


def strategy_style(name: str) -> tuple[str, str, str]:
    """(label, colour, marker); unknown strategies get the spare colours in name order."""
    if name in STRATEGY_STYLE:
        return STRATEGY_STYLE[name]
    colour, marker = _EXTRA[sum(map(ord, name)) % len(_EXTRA)]
    return (name, colour, marker)


def axis_label(col: str, task: str | None = None) -> str:
    if col == "size" and task in SIZE_LABELS:
        return SIZE_LABELS[task]
    return AXIS_LABELS.get(col, col.replace("_", " "))


def check_outputs(outs: list[Path]) -> None:
    if not outs:
        raise ConfigError("--out: give at least one FILE.png, FILE.pdf or FILE.svg")
    for out in outs:
        if out.suffix.lower() not in SUFFIXES:
            raise ConfigError(f"--out {out}: the file must end in {', '.join(SUFFIXES)}")


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "legend.fontsize": 7,
        "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2, "lines.markersize": 4,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "svg.fonttype": "none",  # text stays text in SVG
        "svg.hashsalt": "mplm-bench",  # stable element ids: the same data, the same file
        "pdf.fonttype": 42, "ps.fonttype": 42,  # TrueType in PDF (editable, accepted by publishers)
        "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    })
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kw)


def save(fig: Any, outs: list[Path]) -> list[Path]:
    import matplotlib.pyplot as plt

    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=300, metadata=_metadata(out))
    plt.close(fig)
    return outs


def _metadata(out: Path) -> dict[str, Any] | None:
    # no creation date: the same data gives byte-identical vector files (diffable in git)
    if out.suffix.lower() == ".svg":
        return {"Date": None}
    if out.suffix.lower() == ".pdf":
        return {"CreationDate": None}
    return None
