"""Input that arrives over time (docs/streaming.md): when each piece of a task's input arrives,
the layer that holds a sample's threads until then (`StreamedSample`, around the World), and the
per-sample numbers that only mean something then.

The input of a sample begins to arrive when the sample starts (time 0 on the run's clock:
virtual time on the scripted backend, seconds since the sample began on an engine). With a
rate, piece k has arrived when its last token has: (tokens of pieces 1..k) / rate. With a
schedule, piece k arrives at the k-th time given. The task says what the pieces are and which
thread needs which (`SampleSetup.pieces`, `piece_of`); a thread is held until its piece arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mplm_bench.runtime.protocol import MASTER_ID

if TYPE_CHECKING:
    from mplm_bench.runtime.scheduler import Scheduler
    from mplm_bench.runtime.world import Seed, World


class ScheduleMismatch(ValueError):
    """A schedule whose length is not the sample's piece count (the strategy reports it as the
    task's input error: the runtime knows nothing of tasks)."""


class InputStream(BaseModel):
    """`--input-rate TOKENS_PER_S` or `--input-schedule T1,T2,...` (one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | None = Field(None, gt=0, allow_inf_nan=False)  # input tokens per clock unit
    schedule: tuple[float, ...] | None = None  # arrival time of each piece, in order

    @model_validator(mode="after")
    def _one(self) -> InputStream:
        if (self.rate is None) == (self.schedule is None):
            raise ValueError("give --input-rate or --input-schedule, not both")
        s = self.schedule
        if s is not None:
            if not s:
                raise ValueError("--input-schedule: no times")
            if any(not math.isfinite(t) or t < 0 for t in s):
                raise ValueError("--input-schedule: times must be finite and at least 0")
            if any(b < a for a, b in zip(s, s[1:], strict=False)):
                raise ValueError("--input-schedule: times must not decrease (pieces arrive in order)")
        return self

    def arrivals(self, pieces: Sequence[int]) -> list[float]:
        """When each piece has arrived; `pieces` are their token counts, in order."""
        if self.rate is not None:
            return [n / self.rate for n in accumulate(pieces)]
        assert self.schedule is not None
        if len(self.schedule) != len(pieces):
            raise ScheduleMismatch(f"--input-schedule gives {len(self.schedule)} times but the input of this "
                            f"sample comes in {len(pieces)} pieces")
        return list(self.schedule)

    def describe(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True, slots=True)
class StreamedSample:
    """One sample's streamed input around its World: when each piece arrives, the thread each
    piece releases, and side threads released with them (seeds the master does not wait on: CoT's
    prefill requests). `hold` applies it to the World before the run; `columns` reads the run."""

    stream: InputStream
    pieces: Sequence[int]  # token counts, in arrival order
    arrivals: list[float]  # when each piece has arrived, on the run's clock
    piece_of: Mapping[str, int]  # thread -> the piece (index) it needs before its first step
    side: tuple[tuple[Seed, float], ...] = ()  # side seed, its release time

    @classmethod
    def start(cls, stream: InputStream, pieces: Sequence[int], piece_of: Mapping[str, int],
              side: Callable[[list[float]], Sequence[tuple[Seed, float]]]) -> StreamedSample:
        """The sample's arrivals, and its side seeds given them (`side`); ScheduleMismatch when a
        schedule does not fit the pieces."""
        arrivals = stream.arrivals(pieces)
        return cls(stream, pieces, arrivals, piece_of, tuple(side(arrivals)))

    @property
    def side_seeds(self) -> tuple[Seed, ...]:
        return tuple(s for s, _ in self.side)

    def hold(self, world: World) -> None:
        """Hold each side thread and each piece's thread until its release."""
        for s, at in self.side:
            world.hold(s.id, at)
        for tid, k in self.piece_of.items():
            world.hold(tid, self.arrivals[k], last_piece=k == len(self.arrivals) - 1)

    def columns(self, world: World, scheduler: Scheduler | None) -> dict[str, Any]:
        """The sample's streaming columns (`scheduler`: None when it ended before any step)."""
        out = streaming_columns(world, scheduler, self.stream, self.pieces, self.arrivals,
                                frozenset(s.id for s, _ in self.side))
        out["prefill_requests"] = len(self.side)
        return out


def streaming_columns(world: World, scheduler: Scheduler | None, stream: InputStream, pieces: Sequence[int],
                      arrivals: Sequence[float], side_threads: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The sample columns of a streamed run (docs/streaming.md, 'Metrics').

    `side_threads`: threads whose tokens are not output (CoT's prefill requests)."""
    nan = float("nan")
    end = arrivals[-1] if arrivals else 0.0
    out: dict[str, Any] = {"input_rate": float(stream.rate) if stream.rate is not None else nan,
                           "input_tokens": int(sum(pieces)), "input_pieces": len(pieces),
                           "input_end": float(end), "latency_after_input": nan,
                           "first_token_after_input_start": nan, "cp_tokens_after_input": nan,
                           "final_call_cached_tokens": 0}
    if scheduler is None or not world.calls:
        return out  # ended before any call (e.g. `truncated` at setup)
    m = world.metrics
    answered = m.virtual_time if scheduler.backend.virtual_time else m.wall_s
    out["latency_after_input"] = float(answered - end)
    firsts = [t for c in world.calls if c.thread_id not in side_threads
              and (t := scheduler.first_token_at(c)) is not None]
    if firsts:
        out["first_token_after_input_start"] = float(min(firsts))
    masters = [c for c in world.calls if c.thread_id == MASTER_ID]
    if masters:  # what a prefix cache held when the master's last step began (prefill_while_reading)
        out["final_call_cached_tokens"] = int(masters[-1].cached_prompt_tokens)
    tail = world.cp_after_input()
    if tail is not None:
        out["cp_tokens_after_input"] = float(tail)
    return out
