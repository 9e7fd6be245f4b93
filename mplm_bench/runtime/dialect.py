"""Dialects: how a thread's response becomes directives, and how its prompt grows on a recv.

The MPLM-family protocols for Sudoku and 3-SAT are model-driven: the model writes tag directives
(`runtime/protocol.py`). A harness-driven protocol (long-context QA with prompted instruct models,
docs/protocols.md §4) lets the model write plain text and has the *harness* decide what it means: a
reader's summary is a message to the master, a master's `[id]: question` lines are sends, its
answer line is the stop. Such a protocol is a `Dialect` given to the World; everything else —
routing, caps, deadlock, preemption, accounting — stays the runtime's, so critical path, peak
context and messages are computed the same way for every protocol.

A dialect is pure: it sees the thread (id, steps so far, last kept response) and the text.

A *continuation* dialect (the model-driven fork-join systems of docs/parallel.md) also has
`continuation = True`, `step(thread, sampling) -> (sampling, stop strings)` and
`fork(parent, child_id, body) -> segments`: every thread's prompt then ends inside one assistant
turn (`Thread.assistant`), a spawned child starts on its parent's user segments and assistant
text plus what `fork` returns (its branch header), and a resume grows the assistant text. Its
optional `closes(thread, messages) -> bool` ends a thread at a join, with no further step (the
thread's whole assistant text is then the answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mplm_bench.runtime.protocol import ParsedStep
    from mplm_bench.runtime.threads import Message, Thread


@dataclass(frozen=True, slots=True)
class Rewind:
    """A resume that first drops the thread's last `drop` prompt segments, then appends
    `segments`: for a controller that rewrites the tail of a trace written over several steps
    (APR's join replaces a spawn block whose opening line an earlier step wrote)."""

    drop: int
    segments: tuple[str, ...]


class Dialect(Protocol):
    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        """The directives of one finished step. `thread.steps` already counts this step.

        A step without a terminal directive ends the thread as the tag grammar's would
        (`truncated` when `finish_reason` is `length`, else `protocol_error`)."""
        ...

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...] | Rewind:
        """What the thread's prompt grows by when its recv completes with `messages`
        (ordered by sender, then send order); `thread.last_kept` is its previous response."""
        ...

    # Optional: `spawn(thread_id, body) -> tuple[str, ...]`, a spawned thread's first prompt
    # (default: the tag grammar's `Your id is: …` line, then the body).
