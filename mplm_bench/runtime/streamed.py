"""A streamed input's side of one World (docs/streaming.md): which threads are held until their
piece of the input arrives, and the critical path after the input's end.

The World owns one `HeldInput` only once a thread is held (`World.hold`); without one it runs
everything at once and counts no path after the input. It consults it at three points: which
runnable threads may begin now, a step's begin (the thread is released; a step on the after-input
path opens a tail), and a step's tokens (the tail grows). The tail a finished step reached travels
on through its spawns and messages as the critical path does (`Thread.ready_tail`, `Message.tail`);
the arrival times themselves and the sample columns are runtime/input_stream.py's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mplm_bench.runtime.protocol import MASTER_ID
from mplm_bench.runtime.threads import ThreadState

if TYPE_CHECKING:
    from mplm_bench.runtime.accounting import CallRecord
    from mplm_bench.runtime.threads import Thread


class HeldInput:
    __slots__ = ("held", "tail")

    def __init__(self) -> None:
        # thread -> the time on the run's clock before which its first step may not begin
        self.held: dict[str, float] = {}
        self.tail: dict[int, float] = {}  # call -> critical-path tokens since the input ended

    def hold(self, thread: Thread, until: float, last_piece: bool) -> None:
        if until > 0:
            self.held[thread.id] = until
        if last_piece:  # the tail's roots: their steps, and every step that depends on them
            thread.ready_tail = 0.0

    def next_release(self, threads: Mapping[str, Thread]) -> float | None:
        """The earliest time a held runnable thread may begin; None when none is held."""
        held = [t for tid, t in self.held.items() if threads[tid].state is ThreadState.RUNNABLE]
        return min(held) if held else None

    def released(self, thread_id: str, now: float) -> bool:
        return self.held.get(thread_id, 0.0) <= now

    def began(self, call: int, thread: Thread) -> None:
        """Step `call` of `thread` began: the thread is no longer held; a step that depends on
        the input's end opens its tail at what the thread was ready with."""
        self.held.pop(thread.id, None)
        if thread.ready_tail is not None:
            self.tail[call] = thread.ready_tail

    def generated(self, call: int, tokens: int) -> None:
        if call in self.tail:
            self.tail[call] += tokens

    def tail_of(self, call: int) -> float | None:
        return self.tail.get(call)

    def cp_after_input(self, calls: Sequence[CallRecord], ok: bool) -> float | None:
        """Of the master's final step when the sample ended ok (`ok`), else the longest tail;
        None when no step was on the after-input path."""
        if not self.tail:
            return None
        ends = [v for c, v in self.tail.items() if ok and calls[c].thread_id == MASTER_ID]
        return max(ends or self.tail.values())
