"""Virtual time: how long a step takes when no engine measures it (docs/architecture.md §7).

Two models, both pure:

- `LatencyModel` alone: every step is independent, start + per-request + uncached prompt tokens
  x prefill cost + completion tokens x decode cost. Its defaults make virtual time equal
  generated-token time, the scripted backend's axis since the first release.
- `LatencyModel(batch=EngineCosts(...))`: an engine measured by `mplm-bench calibrate`, in
  seconds, batching included. `BatchClock` replays the in-flight steps of one sample as a
  continuous-batching engine would run them: steps decoding together share each decode
  iteration (whose time grows with the batch), a prefill stalls the batch while it runs, and at
  most `max_batch` sequences are admitted at once. It is per sample: the sample alone on the
  engine, which is what the MPLM paper's seconds-per-Sudoku table measures.

The clock is a fluid event simulation: between two events (an arrival, a prefill ending, a step
ending) the batch does not change, so the next event is computed, not stepped to token by token.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from mplm_bench.runtime.backend import Completion

# targets closer than this (in tokens) end in the same iteration: float noise, not a real gap
_TIE_TOKENS = 1e-6


@dataclass(frozen=True, slots=True)
class EngineCosts:
    """An engine's fitted costs (seconds); see `mplm_bench/latency/profile.py` for the YAML."""

    per_request: float  # latency every request pays once, overlapping with other requests
    prefill_per_token: float  # per uncached prompt token; the batch waits while a prefill runs
    decode_base: float  # one decode iteration: fixed part ...
    decode_per_seq: float  # ... plus this per sequence in the batch
    max_batch: int | None = None  # the engine's max_num_seqs; later requests queue
    block_size: int | None = None  # prefix-cache granularity: cached prompt tokens round down
    # measured (batch, seconds per iteration), by batch: when given, an iteration's time is read
    # off these, linearly between them (engines are rarely linear at small batches: on the CPU
    # build here batch 2 costs 2.4x batch 1, batch 4 barely more), and past the largest one it
    # grows by decode_per_seq per sequence
    decode_points: tuple[tuple[int, float], ...] = ()

    def iteration(self, batch: int) -> float:
        pts = self.decode_points
        if not pts:
            return self.decode_base + self.decode_per_seq * batch
        if batch <= pts[0][0]:
            return pts[0][1]
        for (b0, s0), (b1, s1) in zip(pts, pts[1:], strict=False):
            if batch <= b1:
                return s0 + (s1 - s0) * (batch - b0) / (b1 - b0)
        return pts[-1][1] + self.decode_per_seq * (batch - pts[-1][0])

    def uncached(self, c: Completion) -> int:
        cached = c.cached_prompt_tokens
        if self.block_size:
            cached -= cached % self.block_size
        return max(0, c.prompt_tokens - cached)

    def alone(self, c: Completion) -> float:
        """A step's latency with nothing else on the engine."""
        tail = max(0, c.completion_tokens - 1) * self.iteration(1)  # the first token comes with the prefill
        return self.per_request + self.uncached(c) * self.prefill_per_token + tail


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Virtual step duration. Defaults make virtual time equal generated-token time; with
    `batch`, the schedulers use a `BatchClock` over those costs instead."""

    decode_per_token: float = 1.0
    prefill_per_token: float = 0.0
    per_request: float = 0.0
    batch: EngineCosts | None = None

    def duration(self, c: Completion) -> float:
        uncached = max(0, c.prompt_tokens - c.cached_prompt_tokens)
        return self.per_request + uncached * self.prefill_per_token + c.completion_tokens * self.decode_per_token

    def tokens_by(self, elapsed: float, c: Completion) -> int:
        """Tokens a step had generated `elapsed` after it started (for preempted steps)."""
        decode_time = elapsed - self.per_request - max(0, c.prompt_tokens - c.cached_prompt_tokens) * self.prefill_per_token
        if decode_time <= 0 or self.decode_per_token <= 0:
            return 0
        return min(c.completion_tokens, int(decode_time / self.decode_per_token))

    def clock(self) -> BatchClock | None:
        """A fresh clock for one sample, or None for independent token-time steps."""
        return BatchClock(self.batch) if self.batch is not None else None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"decode_per_token": self.decode_per_token,
                             "prefill_per_token": self.prefill_per_token, "per_request": self.per_request}
        if self.batch is not None:
            d = {"unit": "seconds", "scope": "per sample: the sample alone on the engine, its steps batched",
                 "engine_costs": {k: getattr(self.batch, k) for k in EngineCosts.__slots__}}
        return d


@dataclass(slots=True)
class _Step:
    prefill: float  # uncached prompt tokens still to prefill
    tokens: int  # completion tokens in all
    seq: int  # arrival order
    target: float = math.inf  # decode-iteration count at which it ends (once decoding)


class BatchClock:
    """In-flight steps of one sample on one engine; keys are the caller's (call indices).

    `add` a step when it starts; `next_done` runs the engine to the next completion and returns
    its time and the keys that end then (several when they end in the same iteration); `remove`
    takes a step out early (preemption) and says how many tokens it had generated.

    Every decoding sequence gains one token per iteration, so the clock counts iterations
    (`_iters`, fractional between events) and a decoding step ends when the count reaches its
    `target`: the next end is the smallest target (a heap), whatever the batch size.
    """

    def __init__(self, costs: EngineCosts) -> None:
        self.costs = costs
        self.now = 0.0
        self._steps: dict[Any, _Step] = {}
        self._seq = 0  # arrival order: FIFO admission and prefill, and the order of ties
        self._arrivals: list[tuple[float, int, Any]] = []  # heap: (time, seq, key)
        self._queued: deque[Any] = deque()  # arrived, waiting for a batch slot
        self._prefill: deque[Any] = deque()  # admitted, prefilling one after another
        self._ends: list[tuple[float, int, Any]] = []  # heap of decoding steps: (target, seq, key)
        self._n_decoding = 0
        self._iters = 0.0
        self.first_tokens: dict[Any, float] = {}  # key -> when its prefill yielded its first token

    def __contains__(self, key: Any) -> bool:
        return key in self._steps

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, key: Any, start: float, c: Completion) -> None:
        if key in self._steps:
            raise ValueError(f"step {key!r} is already on the clock")
        if start < self.now:
            raise ValueError(f"step {key!r} starts at {start} before the clock's {self.now}")
        self._seq += 1
        self._steps[key] = _Step(float(self.costs.uncached(c)), c.completion_tokens, self._seq)
        heapq.heappush(self._arrivals, (start + self.costs.per_request, self._seq, key))

    def next_done(self, until: float = math.inf) -> tuple[float, list[Any]]:
        """Advance to the next completion; returns (its time, the keys ending then, in arrival
        order). If none comes before `until`, stops there: (until, [])."""
        if not self._steps:
            raise ValueError("no step in flight")
        while not (done := self._settle()):
            if self.now >= until:
                return self.now, []
            self._advance(until)
        return self.now, done

    def remove(self, key: Any) -> int:
        """Take an unfinished step off the engine now; the tokens it had generated by now."""
        s = self._steps.pop(key)
        if s.target != math.inf:  # decoding: its heap entry is skipped when it surfaces
            self._n_decoding -= 1
            left = s.target - self._iters
        else:
            left = float(s.tokens)
            self._arrivals = [a for a in self._arrivals if a[2] != key]
            heapq.heapify(self._arrivals)
            for q in (self._queued, self._prefill):
                if key in q:
                    q.remove(key)
        self._admit()
        return min(s.tokens, max(0, math.floor(s.tokens - left + _TIE_TOKENS)))

    def run(self) -> dict[Any, float]:
        """Run every step to its end (a synchronous round): key -> end time."""
        ends: dict[Any, float] = {}
        while self._steps:
            t, keys = self.next_done()
            ends.update(dict.fromkeys(keys, t))
        return ends

    # -- the engine ----------------------------------------------------------------------
    def _admit(self) -> None:
        cap = self.costs.max_batch
        while self._queued and (cap is None or len(self._prefill) + self._n_decoding < cap):
            self._prefill.append(self._queued.popleft())

    def _top(self) -> tuple[float, int, Any] | None:
        """The decoding step that ends first (dropping entries of removed steps)."""
        while self._ends:
            target, seq, key = self._ends[0]
            s = self._steps.get(key)
            if s is not None and s.target == target:
                return self._ends[0]
            heapq.heappop(self._ends)
        return None

    def _settle(self) -> list[Any]:
        """Apply everything due at `now`: arrivals, finished prefills, finished steps."""
        while self._arrivals and self._arrivals[0][0] <= self.now:
            self._queued.append(heapq.heappop(self._arrivals)[2])
        self._admit()
        while self._prefill and self._steps[self._prefill[0]].prefill <= 0:
            key = self._prefill.popleft()
            s = self._steps[key]
            # the prefill's forward pass yields the first token
            s.target = self._iters + max(0, s.tokens - 1)
            if s.tokens > 0:
                self.first_tokens[key] = self.now
            heapq.heappush(self._ends, (s.target, s.seq, key))
            self._n_decoding += 1
        done: list[tuple[int, Any]] = []
        while (top := self._top()) is not None and top[0] <= self._iters + _TIE_TOKENS:
            _, seq, key = heapq.heappop(self._ends)
            del self._steps[key]
            self._n_decoding -= 1
            done.append((seq, key))
        if done:
            self._admit()
        return [key for _, key in sorted(done)]

    def _advance(self, until: float = math.inf) -> None:
        """Move `now` to the next event: the head prefill ends, a step ends, a step arrives, or
        `until` (an event outside the clock: a held thread's release)."""
        c = self.costs
        horizon = min(self._arrivals[0][0] if self._arrivals else math.inf, until)
        if self._prefill:  # a prefill stalls the batch while it runs
            head = self._steps[self._prefill[0]]
            end = self.now + head.prefill * c.prefill_per_token
            if end <= horizon:
                self.now, head.prefill = end, 0.0
            else:
                head.prefill -= (horizon - self.now) / c.prefill_per_token
                self.now = horizon
            return
        top = self._top()
        if top is not None:
            tau = c.iteration(self._n_decoding)
            end = self.now + (top[0] - self._iters) * tau
            if end <= horizon:
                self.now, self._iters = end, top[0]
            else:
                self._iters += (horizon - self.now) / tau if tau > 0 else 0.0
                self.now = horizon
            return
        if horizon == math.inf:
            raise RuntimeError("steps on the clock but no event ahead")  # unreachable
        self.now = horizon
