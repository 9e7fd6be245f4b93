"""The serial dialect of tasks whose answer is free text (`\\boxed{}` math): the response is it."""

from __future__ import annotations

from dataclasses import dataclass

from mplm_bench.runtime.protocol import ParsedStep, Stop
from mplm_bench.runtime.threads import Message, Thread


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """CoT, SC and PaCoRe trajectories: one step whose text is the answer; a step cut by
    `max_tokens` has none (the runtime records `truncated`)."""

    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if finish_reason == "length":
            return ParsedStep(kept=text)
        return ParsedStep(terminal=Stop(text), kept=text)

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        return ()  # never waits


FINAL_ANSWER = FinalAnswer()
