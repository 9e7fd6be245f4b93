"""Input that arrives over time (docs/streaming.md): when each piece of a task's input arrives,
and the per-sample numbers that only mean something then.

The input of a sample begins to arrive when the sample starts (time 0 on the run's clock:
virtual time on the scripted backend, seconds since the sample began on an engine). With a
rate, piece k has arrived when its last token has: (tokens of pieces 1..k) / rate. With a
schedule, piece k arrives at the k-th time given. The task says what the pieces are and which
thread needs which (`SampleSetup.pieces`, `piece_of`); a thread is held until its piece arrives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mplm_bench.runtime.protocol import MASTER_ID

if TYPE_CHECKING:
    from mplm_bench.runtime.scheduler import Scheduler
    from mplm_bench.runtime.world import World


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
