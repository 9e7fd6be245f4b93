"""Answer conventions: how the master's final response carries the answer a task scores.

One per (task, protocol), declared, never guessed (docs/protocols.md §1, "Answers"):

- `stop`: the body of the master's `<stop>…</stop>` (the tag grammar, runtime/protocol.py). A
  master step with neither `recv` nor `stop` ends the sample `protocol_error`, never `ok`.
  Every MPLM-family protocol (fj, mplm), and `serial` for a task that prompts for `<stop>`
  (sudoku, sat).
- `response`: the master's whole final response; the task's `score` finds the answer in it (the
  last `\\boxed{}`, an answer line). The adaptive protocols (their controllers score the final
  trace), and `serial` for a task that prompts in a model's own format (boxed math, longqa).

`serial` is the one protocol both conventions share, so a task declares its own
(`Task.answer`, default `stop`); `serial_dialect` is where the declaration takes effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from mplm_bench.runtime.protocol import ParsedStep, Stop
from mplm_bench.runtime.threads import Message, Thread

AnswerConvention = Literal["stop", "response"]
CONVENTIONS: tuple[str, ...] = get_args(AnswerConvention)


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """The `response` convention on one thread (CoT, SC and PaCoRe trajectories): one step whose
    text is the answer; a step cut by `max_tokens` has none (the runtime records `truncated`)."""

    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if finish_reason == "length":
            return ParsedStep(kept=text)
        return ParsedStep(terminal=Stop(text), kept=text)

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        return ()  # never waits


FINAL_ANSWER = FinalAnswer()


def serial_dialect(convention: AnswerConvention) -> FinalAnswer | None:
    """The `serial` master's dialect under a convention (None: the tag grammar)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"answer convention {convention!r}: one of {', '.join(CONVENTIONS)}")
    return FINAL_ANSWER if convention == "response" else None
