"""What a task plugin provides: instances, prompts per protocol, scoring, a reference policy."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mplm_bench.runtime.answers import CONVENTIONS, AnswerConvention, serial_dialect
from mplm_bench.runtime.prompt_kinds import PromptKind, UnansweredPrompt, kind_of

# defined once in the runtime; re-exported here, where tasks import them from
from mplm_bench.runtime.protocol import Protocol as Protocol
from mplm_bench.runtime.protocol import SchedulerKind as SchedulerKind

if TYPE_CHECKING:
    from mplm_bench.runtime.dialect import Dialect
    from mplm_bench.runtime.world import Seed

# A reference policy acts like a model: it sees only the thread's prompt text and writes the
# next response. It must derive everything from that text (no peeking at the solution).
Policy = Callable[[str], str]
# Makes one step wrong for the noisy scripted backend: (prompt, response, rng) -> a response that
# is still well-formed protocol text, so the error travels on as a wrong answer.
Corrupt = Callable[[str, str, random.Random], str]


@dataclass(frozen=True, slots=True)
class ReferencePolicy:
    """A task's scripted policy for one protocol, carrying how that task's steps go wrong and the
    kinds of prompt it answers (runtime/prompt_kinds.py).

    Callable like any `Policy`; the scripted backend uses `corrupt` when `-M error_rate>0`. A
    prompt of a kind it does not answer raises `UnansweredPrompt` instead of being answered as
    the task's own problem (`plan` refuses such a run before it starts; this is the backstop).
    """

    write: Policy
    corrupt: Corrupt
    answers: frozenset[PromptKind] = frozenset({PromptKind.PROBLEM})

    def __call__(self, prompt: str) -> str:
        if (kind := kind_of(prompt)) not in self.answers:
            raise UnansweredPrompt(f"the reference policy does not answer {kind} prompts "
                                   f"(it answers: {', '.join(sorted(self.answers))})")
        return self.write(prompt)


class TaskError(ValueError):
    """Bad task input (options, data file, dataset); the message is shown to the user as is."""


class NoReferencePolicy(TaskError):
    """The task has no scripted reference policy for a protocol: it runs on real models only."""


def no_policy_message(task: str, protocol: str) -> str:
    return (f"task {task!r} has no scripted reference policy for the {protocol!r} protocol, so it "
            "runs on a real model (-b vllm or -b openai), not on -b scripted, -M replay or export-sft")


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


@dataclass(frozen=True, slots=True)
class SetupContext:
    """What a task may know when it sets up a sample: the strategy's options, the backend's
    context window (None: none known) and the per-step budget the run sends (None: unbounded)."""

    strategy_options: BaseModel | None = None
    window: int | None = None
    max_tokens: int | None = None
    streamed: bool = False  # the input arrives over time (--input-rate): say what its pieces are


@dataclass(frozen=True, slots=True)
class SampleSetup:
    """How one sample's World starts. The default is the model-driven case: the master's prompt
    alone, under the tag grammar. A harness-driven protocol adds threads started before any model
    call (the master waits on all of them), its dialect, per-sample columns, or ends the sample
    `truncated` before it starts (`truncated`: why) when its input cannot fit."""

    prompt: str | tuple[str, ...]
    seeds: tuple[Seed, ...] = ()
    dialect: Dialect | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    truncated: str | None = None
    # the input was shortened to fit the window (why): the sample runs and its answer is scored,
    # but an `ok` ending is recorded `truncated`, so a cut never passes for the whole task
    cut: str | None = None
    # a streamed input (docs/streaming.md): its pieces' token counts in arrival order; which
    # piece (index) each thread needs before its first step ("0": the master); and, for a serial
    # prompt, after how many of its segments each piece ends (prefill_while_reading's prefixes)
    pieces: tuple[int, ...] = ()
    piece_of: dict[str, int] = field(default_factory=dict)
    piece_ends: tuple[int, ...] = ()


class TaskOptions(BaseModel):
    """Options a task takes through `-T key=value`; subclasses add fields with defaults."""

    model_config = ConfigDict(extra="forbid")


class Task(ABC):
    name: ClassVar[str]
    protocols: ClassVar[tuple[Protocol, ...]]
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    # raise it when instances or scoring change for the same options: a new run id
    # (option_defaults.py); 0 keys nothing, so runs keep their ids until then
    version: ClassVar[int] = 0
    # its input can arrive over time (`--input-rate`): `setup` fills `SampleSetup.pieces`
    streams_input: ClassVar[bool] = False
    # how its `serial` master carries the answer (runtime/answers.py, docs/protocols.md §1):
    # "stop", the body of `<stop>…</stop>`; "response", the whole response (`score` finds it)
    answer: ClassVar[AnswerConvention] = "stop"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.answer not in CONVENTIONS:  # a typo would silently score every sample 0
            raise TypeError(f"{cls.__name__}.answer = {cls.answer!r}: one of {', '.join(CONVENTIONS)}")

    def __init__(self, options: TaskOptions | None = None) -> None:
        self.options = options or self.Options()

    @abstractmethod
    def generate(self, n: int, seed: int) -> list[Instance]:
        """n instances from the seed; the same (options, n, seed) gives the same instances."""

    def instance_at(self, i: int, seed: int) -> Instance | None:
        """Instance i of `generate(n, seed)` alone, for runs too large to hold (mplm_bench/
        instances.py); None: this task only generates in bulk."""
        return None

    def instance_id(self, i: int, seed: int) -> str | None:
        """The id of `instance_at(i, seed)` without building it (a resume skips done ones)."""
        return None

    @abstractmethod
    def load(self, source: str, n: int | None) -> list[Instance]:
        """Instances from a local file or a dataset id; raise TaskError with a clear message."""

    @abstractmethod
    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        """The master thread's first prompt under this protocol."""

    def question(self, instance: Instance) -> str | None:
        """The problem as a bare statement, without the harness's answer instruction: what an
        upstream prompt profile wraps in the prompt a checkpoint was trained on
        (strategies/adaptive/prompts.py). None: this task states its problems only its own way."""
        return None

    @abstractmethod
    def score(self, instance: Instance, answer: str | None) -> Score:
        """Score the master's final answer (the body of its stop), None when it gave none."""

    def policy(self, protocol: Protocol) -> Policy | None:
        """The scripted reference policy for this protocol, or None (the default): a task for real
        models needs none, and `-b scripted`, replay and `export-sft` then say so in one line."""
        return None

    def setup(self, instance: Instance, protocol: Protocol, ctx: SetupContext) -> SampleSetup:
        """How a sample starts under this protocol (see `SampleSetup`); by default the master's
        `prompt` under the tag grammar, or this task's `dialect`."""
        return SampleSetup(self.prompt(instance, protocol), dialect=self.dialect(protocol))

    def dialect(self, protocol: Protocol) -> Dialect | None:
        """How responses become directives under this protocol when no setup gives one (the
        multi-trajectory strategies build their Worlds from `prompt`); None: the tag grammar.
        By default `serial` follows the task's `answer` convention."""
        return serial_dialect(self.answer) if protocol == "serial" else None

    def strategy_options(self, protocol: Protocol) -> frozenset[str]:
        """Names of task-specific strategy options (`Strategy.task_specific`) this task's
        protocol reads, e.g. `query_rounds` for harness-driven MPLM. Others are rejected."""
        return frozenset()

    def answers(self, protocol: Protocol) -> frozenset[PromptKind]:
        """The kinds of prompt (runtime/prompt_kinds.py) its reference policy for `protocol`
        answers; `problem` alone by default. A strategy that sends another kind (PaCoRe's
        `synthesis`) runs on `-b scripted` only where this lists it (strategies/contract.py)."""
        return frozenset({PromptKind.PROBLEM})

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """One wrong step for the noisy scripted backend: the reference response to `prompt` with
        a task-specific mistake (drawn from `rng`) that keeps the protocol text well-formed.
        Default: no mistake, and then `can_err` is False: `-M error_rate` is refused."""
        return response

    def can_err(self, protocol: Protocol) -> bool:
        """Whether `corrupt` makes mistakes under `protocol`: by default, whether the task
        overrides it. `-M error_rate>0` on a task that cannot err is refused at plan time."""
        return type(self).corrupt is not Task.corrupt

    def reference_policy(self, protocol: Protocol) -> ReferencePolicy:
        """`policy(protocol)` bound to this task's `corrupt` (what backends are built with);
        NoReferencePolicy when the task has none for this protocol."""
        if (found := self.reference_policy_or_none(protocol)) is None:
            raise NoReferencePolicy(no_policy_message(self.name, protocol))
        return found

    def reference_policy_or_none(self, protocol: Protocol) -> ReferencePolicy | None:
        write = self.policy(protocol)
        return None if write is None else ReferencePolicy(write, partial(self.corrupt, protocol),
                                                          self.answers(protocol))

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
