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

    def to_dict(self) -> dict:
        return asdict(self)
