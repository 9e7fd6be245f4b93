"""Limits that end a sample with `cap_exceeded` (or `timeout`) instead of running away."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Caps:
    max_threads: int = 4096  # 25x25 Sudoku needs 626
    max_depth: int = 64
    max_steps: int = 200_000  # calls per sample
    max_total_tokens: int = 50_000_000  # generated tokens per sample
    max_wall_s: float = 3600.0  # wall clock per sample -> status timeout
    max_inbox: int = 100_000  # messages waiting in one thread's inbox
    # characters a sample holds (prompts, messages, responses; World.chars): bounds its memory
    # whatever a model writes. The largest reference trace, 25x25 fork-join, holds 5.5M.
    max_sample_chars: int = 100_000_000
    # messages one step may deliver (a send to n ids is n): a 25x25 MPLM cell sends 72; a step of
    # 5,000 self-sends, resumed again and again, grew without bound (issue 39.5)
    max_step_messages: int = 4096

    def __post_init__(self) -> None:
        for name in ("max_threads", "max_steps", "max_total_tokens", "max_inbox", "max_sample_chars",
                     "max_step_messages"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.max_depth < 0:  # 0: no thread may spawn
            raise ValueError(f"max_depth must be at least 0 (got {self.max_depth})")
        if not self.max_wall_s > 0:
            raise ValueError(f"max_wall_s must be positive (got {self.max_wall_s})")

    def to_dict(self) -> dict:
        return asdict(self)
