"""What a task plugin provides: instances, prompts per protocol, scoring, a reference policy."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

# A protocol is the trace format threads follow: `serial` (one CoT thread), `fj`, `mplm`.
Protocol = str
SchedulerKind = Literal["sync", "async"]

# A reference policy acts like a model: it sees only the thread's prompt text and writes the
# next response. It must derive everything from that text (no peeking at the solution).
Policy = Callable[[str], str]
# Makes one step wrong for the noisy scripted backend: (prompt, response, rng) -> a response that
# is still well-formed protocol text, so the error travels on as a wrong answer.
Corrupt = Callable[[str, str, random.Random], str]


@dataclass(frozen=True, slots=True)
class ReferencePolicy:
    """A task's scripted policy for one protocol, carrying how that task's steps go wrong.

    Callable like any `Policy`; the scripted backend uses `corrupt` when `-M error_rate>0`.
    """

    write: Policy
    corrupt: Corrupt

    def __call__(self, prompt: str) -> str:
        return self.write(prompt)


class TaskError(ValueError):
    """Bad task input (options, data file, dataset); the message is shown to the user as is."""


class Instance(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    size: int  # the task's natural size axis (Sudoku: N; SAT: variables)
    data: dict[str, Any]  # what scoring needs (puzzle, solution, ...), never shown to policies
    meta: dict[str, Any] = Field(default_factory=dict)  # extra sample columns


class Score(BaseModel):
    correct: bool
    score: float
    parsed: str | None = None  # the normalised answer, comparable across samples (for votes)
    extra: dict[str, Any] = Field(default_factory=dict)


class TaskOptions(BaseModel):
    """Options a task takes through `-T key=value`; subclasses add fields with defaults."""

    model_config = ConfigDict(extra="forbid")


class Task(ABC):
    name: ClassVar[str]
    protocols: ClassVar[tuple[Protocol, ...]]
    Options: ClassVar[type[TaskOptions]] = TaskOptions

    def __init__(self, options: TaskOptions | None = None) -> None:
        self.options = options or self.Options()

    @abstractmethod
    def generate(self, n: int, seed: int) -> list[Instance]:
        """n instances from the seed; the same (options, n, seed) gives the same instances."""

    @abstractmethod
    def load(self, source: str, n: int | None) -> list[Instance]:
        """Instances from a local file or a dataset id; raise TaskError with a clear message."""

    @abstractmethod
    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        """The master thread's first prompt under this protocol."""

    @abstractmethod
    def score(self, instance: Instance, answer: str | None) -> Score:
        """Score the master's final answer (the body of its stop), None when it gave none."""

    @abstractmethod
    def policy(self, protocol: Protocol) -> Policy:
        """The scripted reference policy for this protocol."""

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """One wrong step for the noisy scripted backend: the reference response to `prompt` with
        a task-specific mistake (drawn from `rng`) that keeps the protocol text well-formed.
        Default: no mistake (a task without an error model stays exact under noise)."""
        return response

    def reference_policy(self, protocol: Protocol) -> ReferencePolicy:
        """`policy(protocol)` bound to this task's `corrupt` (what backends are built with)."""
        return ReferencePolicy(self.policy(protocol), partial(self.corrupt, protocol))

    def max_tokens(self, instance: Instance, protocol: Protocol) -> int | None:
        """Default per-step generation budget when the user sets none (`-M max_tokens=`).

        Generous next to the reference traces (so the scripted policy is never cut), yet finite:
        a small real model that never writes end-of-sequence must not decode for an hour.
        None: whatever the context window leaves.
        """
        return None

    def trace_columns(self, calls: list[Any]) -> dict[str, Any]:
        """Extra sample columns computed from the sample's call records (e.g. SAT tree nodes).

        `calls` are `runtime.accounting.CallRecord`s; values must be int/float/bool/str.
        """
        return {}

    def scheduler(self, protocol: Protocol) -> SchedulerKind:
        """The scheduler the published protocol runs under (MPLM Sudoku: sync; MPLM SAT: async)."""
        return "sync"
