"""What `mplm-bench export-sft` takes: which traces to write, how to select them, where."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# `--protocol` name -> the strategy whose threads follow it. PaCoRe's synthesis steps run on the
# task's serial prompt, through the pacore strategy (its later rounds send the synthesis template).
PROTOCOL_STRATEGIES: dict[str, str] = {"serial": "cot", "fj": "fj", "mplm": "mplm", "pacore": "pacore",
                                       "threadweaver": "threadweaver", "parallel-r1": "parallel-r1",
                                       "multiverse": "multiverse",
                                       "sos": "sos", "apr": "apr"}

Layout = Literal["messages", "prompt-completion"]
# the adaptive dialects' rows: the whole trace as one assistant turn, or one row per call in the
# context the engine gives that call (the trunk so far, then the thread's header): the trie
# ThreadWeaver trains on, and what Multiverse's attention mask amounts to (docs/training.md §8)
AdaptiveRows = Literal["trace", "calls"]


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    protocols: list[str] = Field(min_length=1)
    task_options: dict[str, Any] = Field(default_factory=dict)
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    backend_options: dict[str, Any] = Field(default_factory=dict)
    n: int = Field(100, ge=1)
    seed: int = 0
    data: str | None = None
    out: Path
    jsonl: bool = False  # JSONL beside the Parquet files
    layout: Layout = "messages"
    adaptive_rows: AdaptiveRows = "trace"
    upsample_master: int = Field(1, ge=1)  # each master step written this many times
    worker_fraction: float = Field(1.0, ge=0.0, le=1.0)  # share of worker steps kept per sample
    drop_workers: bool = False
    dedupe: bool = False  # one instance per distinct problem; no identical messages twice
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    allow_noise: bool = False  # accept -M error_rate>0 (recorded loudly in the card)
    overwrite: bool = False
    command: str = ""  # as typed, for the dataset card


def training_seed(seed: int) -> int:
    """The generator seed export-sft uses for `--seed seed`: the negative stream −1−seed, which
    `run` and `sweep` never take (their seeds are ≥ 0), so exported training instances and
    evaluated ones come from disjoint seed streams by construction (docs/training.md §1)."""
    return -1 - seed


def strategy_for(protocol: str) -> str:
    from mplm_bench.config import ConfigError

    try:
        return PROTOCOL_STRATEGIES[protocol]
    except KeyError:
        raise ConfigError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOL_STRATEGIES)})") from None
