"""Threads, their mailboxes and states."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mplm_bench.runtime.protocol import Recv, thread_sort_key


class ThreadState(StrEnum):
    RUNNABLE = "runnable"  # has a prompt and waits for its next step
    RUNNING = "running"  # a step is in flight
    WAITING = "waiting"  # blocked on a recv
    STOPPED = "stopped"  # wrote a stop (or ended without a terminal directive)
    PREEMPTED = "preempted"  # an ancestor stopped, or the sample ended while it was live


LIVE = frozenset({ThreadState.RUNNABLE, ThreadState.RUNNING, ThreadState.WAITING})


@dataclass(slots=True)
class Message:
    sender: str
    payload: str
    seq: int  # global send order within the sample
    cp: float  # critical-path time (tokens) at which the sending step ended
    level: int  # dependency level of the sending step
    call: int  # index of the sending call, for timelines
    tail: float | None = None  # critical-path tokens since a streamed input ended (None: before)


@dataclass(slots=True)
class Thread:
    id: str
    parent: str | None
    depth: int
    # The prompt as segments whose concatenation is the user text: resumed threads append,
    # spawned siblings share their body segment, so token counts can be cached per segment.
    segments: list[str]
    state: ThreadState = ThreadState.RUNNABLE
    inbox: list[Message] = field(default_factory=list)
    waiting_for: Recv | None = None
    last_kept: str = ""  # kept text of the last response (ends with the recv that is pending)
    steps: int = 0
    # completion tokens of the step being parsed (set before `Dialect.parse`): a continuation
    # dialect whose token budget spans the whole chain (Multiverse's engine) reads it
    step_tokens: int = 0
    ready_cp: float = 0.0  # critical-path time at which this thread may start its next step
    ready_level: int = 0
    ready_tail: float | None = None  # like ready_cp, counted from a streamed input's end (None: not after it)
    generation: int = 0  # bumped on spawn reset so stale in-flight results are ignored
    children: list[str] = field(default_factory=list)
    ended_by: str = ""  # why the thread ended: stop, protocol_error, truncated, preempted
    # continuation dialects (runtime/dialect.py): the assistant text so far, as segments; a
    # resume grows it instead of `segments`. None: every step is a fresh single-turn chat.
    assistant: list[str] | None = None

    @property
    def prompt(self) -> str:
        return "".join(self.segments)

    def ready(self) -> bool:
        """Can the pending recv complete with what is in the inbox now?"""
        w = self.waiting_for
        if w is None:
            return False
        if w.ids is None:
            return bool(self.inbox)
        senders = {m.sender for m in self.inbox}
        return all(i in senders for i in w.ids)

    def take_messages(self) -> list[Message]:
        """Consume what the pending recv asked for, ordered by sender id then send order.

        Sender order (not arrival order) matches the published trace programs and keeps a
        thread's prompt independent of timing, so async runs stay reproducible.
        """
        w = self.waiting_for
        if w is None or w.ids is None:
            taken, self.inbox = self.inbox, []
        else:
            want = set(w.ids)
            taken = [m for m in self.inbox if m.sender in want]
            self.inbox = [m for m in self.inbox if m.sender not in want]
        taken.sort(key=lambda m: (thread_sort_key(m.sender), m.seq))
        return taken
