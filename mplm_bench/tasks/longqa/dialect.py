"""The long-context protocols as a harness-driven dialect (docs/protocols.md §4).

The model writes plain text; this decides what it means, for the runtime to carry out:

| protocol | thread | its response becomes |
|---|---|---|
| mplm | reader `i` | a message to the master (summary, later answers), then `recv` (any) |
| mplm | master | `[id]: question` lines → a send to each reader named and `recv` on exactly them, while query rounds are left; otherwise a stop whose body is the response |
| fj | worker `i` | a message to the master, then stop (stateless) |
| fj, serial | master | a stop whose body is the response |
| serial | prefill request (streamed input) | a stop, sent nowhere |

A master cut by `max_tokens` before it wrote an answer line has no terminal directive, so the
runtime ends the sample `truncated`; a cut reader still sends what it wrote (a summary budget is
the protocol's own limit). A master's `[id]` naming no reader is ignored; if none is left, the
response is its answer. Resumed prompts say what arrived in words (`prompts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mplm_bench.runtime.protocol import MASTER_ID, ParsedStep, Recv, Send, Stop
from mplm_bench.runtime.threads import Message, Thread
from mplm_bench.tasks.longqa import prompts
from mplm_bench.tasks.longqa.scoring import parse_letter, parse_short


def has_answer(text: str, multiple_choice: bool) -> bool:
    if multiple_choice:
        return parse_letter(text) is not None
    return any(line.strip().lower().startswith(("answer:", "the correct answer is", "final answer"))
               for line in text.splitlines()) and parse_short(text) is not None


@dataclass(frozen=True, slots=True)
class LongQADialect:
    protocol: str  # mplm | fj | serial
    readers: tuple[str, ...] = ()
    query_rounds: int = 0
    question: str = ""  # the question block the master answers
    multiple_choice: bool = True

    # -- parsing ----------------------------------------------------------------------------
    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if thread.id != MASTER_ID:
            if self.protocol == "serial":  # a prefill request (docs/streaming.md): it only warms a cache
                return ParsedStep(terminal=Stop(None), kept=text)
            terminal = Recv(None) if self.protocol == "mplm" else Stop(None)
            return ParsedStep(sends=[Send((MASTER_ID,), text.strip())], terminal=terminal, kept=text)
        cut = finish_reason == "length"
        answered = has_answer(text, self.multiple_choice)
        if self.protocol == "mplm" and not answered and thread.steps <= self.query_rounds:
            asked = self.queries(text, drop_last=cut)
            if asked:
                sends = [Send((rid,), q) for rid, q in asked.items()]
                return ParsedStep(sends=sends, terminal=Recv(tuple(asked)), kept=text)
        if cut and not answered:
            return ParsedStep(kept=text)  # the runtime records `truncated`
        return ParsedStep(terminal=Stop(text.strip()), kept=text)

    def queries(self, text: str, drop_last: bool = False) -> dict[str, str]:
        """Reader id -> its question(s), from `[id]: question` lines (ids as `[2]`, `[ 2 ]`,
        `[reader 2]`); a reader asked twice gets both lines in one message."""
        lines = text.splitlines()
        if drop_last and lines:
            lines = lines[:-1]  # the line the cut ended in
        out: dict[str, list[str]] = {}
        for raw, question in prompts.read_asked("\n".join(line.strip() for line in lines)):
            rid = raw.strip().lower().removeprefix("reader").strip()
            if rid in self.readers:
                out.setdefault(rid, []).append(question.strip())
        return {rid: "\n".join(qs) for rid, qs in sorted(out.items(), key=lambda kv: int(kv[0]))}

    # -- resuming ---------------------------------------------------------------------------
    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        if thread.id != MASTER_ID:
            return prompts.reader_resume(thread.last_kept, [m.payload for m in messages])
        items = [(m.sender, m.payload) for m in messages]
        if thread.steps == 0:  # the seeds' first messages: summaries (mplm) or reports (fj)
            header = prompts.SUMMARY_FROM if self.protocol == "mplm" else prompts.REPORT_FROM
            return ("\n\n", prompts.blocks(header, items), "\n\n", self.question, "\n\n", self._note(thread))
        return ("\n\n", thread.last_kept, "\n\n", prompts.blocks(prompts.ANSWER_FROM, items), "\n\n",
                self._note(thread))

    def _note(self, thread: Thread) -> str:
        if self.protocol == "fj":
            return "Combine the reports and answer: " + prompts.answer_line(self.multiple_choice)
        # the next step is the master's step `steps + 1`; it may ask while that is <= rounds
        return prompts.rounds_note(self.query_rounds - thread.steps, self.multiple_choice)


FINAL_ANSWER = LongQADialect("serial")  # CoT, PaCoRe and SC trajectories: the response is the answer
