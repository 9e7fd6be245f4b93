"""Dialects: how a thread's response becomes directives, and how its prompt grows on a recv.

The MPLM-family protocols for Sudoku and 3-SAT are model-driven: the model writes tag directives
(`runtime/protocol.py`). A harness-driven protocol (long-context QA with prompted instruct models,
docs/protocols.md §4) lets the model write plain text and has the *harness* decide what it means: a
reader's summary is a message to the master, a master's `[id]: question` lines are sends, its
answer line is the stop. Such a protocol is a `Dialect` given to the World; everything else —
routing, caps, deadlock, preemption, accounting — stays the runtime's, so critical path, peak
context and messages are computed the same way for every protocol.

A dialect is pure: it sees the thread (id, steps so far, last kept response) and the text.

Optional capabilities are declared protocols a dialect class subclasses (so a type checker
holds it to the signatures), and the World picks them up once, by type:

- `SpawnDialect` frames a spawned thread's first prompt itself (`spawn`); the default is the tag
  grammar's `Your id is: …` line, then the body.
- `ContinuationDialect` (the model-driven fork-join systems of docs/parallel.md): every thread's
  prompt ends inside one assistant turn (`Thread.assistant`); `step` shapes each request (its
  sampling and stop strings), a spawned child starts on its parent's user segments and assistant
  text plus what `fork` returns (its branch header), a resume grows the assistant text, and
  `closes` may end a thread at a join with no further step (its whole assistant text is then the
  answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mplm_bench.runtime.backend import Sampling
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
    __slots__ = ()  # a dataclass(slots=True) that subclasses it keeps no __dict__

    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        """The directives of one finished step. `thread.steps` already counts this step.

        A step without a terminal directive ends the thread as the tag grammar's would
        (`truncated` when `finish_reason` is `length`, else `protocol_error`)."""
        ...

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...] | Rewind:
        """What the thread's prompt grows by when its recv completes with `messages`
        (ordered by sender, then send order); `thread.last_kept` is its previous response."""
        ...


@runtime_checkable
class SpawnDialect(Dialect, Protocol):
    """A dialect that writes a spawned thread's first prompt itself."""

    __slots__ = ()

    def spawn(self, thread_id: str, body: str) -> tuple[str, ...]:
        """The first prompt segments of thread `thread_id`, spawned with `body`."""
        ...


@runtime_checkable
class ContinuationDialect(Dialect, Protocol):
    """A dialect whose threads all continue one assistant turn (module docstring)."""

    __slots__ = ()

    def step(self, thread: Thread, sampling: Sampling) -> tuple[Sampling, tuple[str, ...]]:
        """The sampling and stop strings of the thread's next request."""
        ...

    def fork(self, parent: Thread, child: str, body: str) -> tuple[str, ...]:
        """What the child's assistant text adds to its parent's (`body`: the spawn's)."""
        ...

    def closes(self, thread: Thread, messages: list[Message]) -> bool:
        """True: the thread ends at this join (its recv completed with `messages`), no step more."""
        ...
