"""What an export wrote: the record the dataset card (card.py) and the command's last lines read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mplm_bench.export.options import ExportOptions

SPLITS = ("train", "validation")


@dataclass
class ExportSummary:
    """What was written, for the dataset card and the command's last lines."""

    opts: ExportOptions
    sources: list[dict[str, Any]]
    rows: dict[str, int] = field(default_factory=dict)  # split -> rows written
    files: list[str] = field(default_factory=list)
    # (split, protocol, role) -> rows; split -> distinct instances
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    instances: Counter[str] = field(default_factory=Counter)
    samples: Counter[str] = field(default_factory=Counter)  # sample status (and "incorrect")
    dropped: Counter[str] = field(default_factory=Counter)  # why steps or instances were left out
    prompt_tokens: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    completion_tokens: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    error_rate: float = 0.0
    # PaCoRe only, `-M exact_synthesis`: every written response is exact, the references they read err
    noisy_references_only: bool = False
    elapsed_s: float = 0.0
