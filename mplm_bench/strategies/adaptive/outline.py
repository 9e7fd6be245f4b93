"""Outline-driven fork-join (ThreadWeaver) as a continuation dialect.

The controller rules are ThreadWeaver's RL controller (facebookresearch/threadweaver,
`threadweaver_rl/verl/experimental/agent_loop/single_turn_agent_loop.py`,
`ParallelBranchingController`), reproduced in text space (docs/parallel.md):

- the trunk decodes with stop at the outlines' close tag (`</Outlines>`) or EOS;
- on that stop, the outline numbers are read with `<Outline>\\s*([0-9]+(?:\\.[0-9]+)*)\\s*:` from
  the trunk after the last `<Outlines>`, duplicates dropped; none found: the trunk decodes on;
- one child per outline on the trunk + `⏎<Thread>⏎{n}:`, stop at `</Thread>` or EOS;
- join, in outline order: `⏎<Thread>⏎{n}:` + text for the first thread, `<Thread>⏎{n}:` + text
  for the others, each + `⏎</Thread>` when its stop was not `</Thread>`; then `⏎` and the trunk
  decodes on (it writes `</Parallel>` itself). If a thread ended by EOS or its length limit, the
  join is closed with `⏎</Parallel>` and the trace ends there;
- at most 32 controller iterations (a trunk step and a parallel block are one each); past the cap
  the trace ends as it is;
- no nesting: a thread stops only at `</Thread>`, so a `<Parallel>` inside it is text.

`no_conclusion=False` is the controller's other setting: the join continues with
`⏎<Conclusion>⏎`, and a cut join closes with `⏎<Conclusion>⏎</Conclusion>⏎</Parallel>`.
The SFT-side twin (`threadweaver_sft/src/simple_eval.py`, `branching_generate`) differs in small
ways (no dedup, `</Thread>` appended without a newline, no `</Parallel>` after a cut thread); this
follows the RL controller.

Multiverse looks alike but follows its own engine's rules (strategies/adaptive/multiverse_engine.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.dialect import ContinuationDialect
from mplm_bench.runtime.protocol import MASTER_ID, ParsedStep, Recv, Send, Spawn, Stop
from mplm_bench.runtime.threads import Message, Thread

# single_turn_agent_loop.py: ParallelBranchingController.OUTLINE_PATTERN
OUTLINE = re.compile(r"<Outline>\s*([0-9]+(?:\.[0-9]+)*)\s*:")
MAX_ITERATIONS = 32  # single_turn_agent_loop.py: `max_iterations = 32`


@dataclass(frozen=True, slots=True)
class OutlineFormat:
    name: str
    open_outlines: str  # the outlines are read after the last of these
    close_outlines: str  # the trunk's stop string
    first_header: str  # the first thread's header in the join; every child's prompt header
    header: str  # the later threads' headers in the join ({n}: the outline number)
    close_thread: str  # a child's stop string
    closure: str  # appended to a thread that did not end at its stop string
    join_end: str  # after the threads, when the trunk goes on
    cut_end: str  # after the threads, when a thread was cut: the trace ends


THREADWEAVER = OutlineFormat("threadweaver", "<Outlines>", "</Outlines>", "\n<Thread>\n{n}:",
                             "<Thread>\n{n}:", "</Thread>", "\n</Thread>", "\n", "\n</Parallel>")
THREADWEAVER_CONCLUSION = OutlineFormat(
    "threadweaver", "<Outlines>", "</Outlines>", "\n<Thread>\n{n}:", "<Thread>\n{n}:", "</Thread>",
    "\n</Thread>", "\n<Conclusion>\n", "\n<Conclusion>\n</Conclusion>\n</Parallel>")


def outline_numbers(trunk: str, fmt: OutlineFormat = THREADWEAVER) -> list[str]:
    """Outline numbers after the last outlines-open tag, in order, duplicates dropped."""
    at = trunk.rfind(fmt.open_outlines)
    if at < 0:
        return []
    return list(dict.fromkeys(OUTLINE.findall(trunk[at:])))


@dataclass(slots=True)
class OutlineDialect(ContinuationDialect):
    """One sample's controller. Children are `{block}.{k}` (k: the outline's position, so the
    runtime's sender order is outline order); it remembers each block's outline numbers, the
    iteration it used, and which threads were cut, for the join."""

    fmt: OutlineFormat = THREADWEAVER
    max_iterations: int = MAX_ITERATIONS
    max_thread_tokens: int | None = None  # a thread's own budget (None: the run's max_tokens)
    _numbers: dict[int, list[str]] = field(default_factory=dict)  # block -> outline numbers
    _iteration: dict[int, int] = field(default_factory=dict)  # block -> its controller iteration
    _cut: set[str] = field(default_factory=set)

    # -- requests --------------------------------------------------------------------------
    def step(self, thread: Thread, sampling: Sampling) -> tuple[Sampling, tuple[str, ...]]:
        if thread.id == MASTER_ID:
            return sampling, (self.fmt.close_outlines,)
        if self.max_thread_tokens is not None:
            sampling = replace(sampling, max_tokens=self.max_thread_tokens)
        return sampling, (self.fmt.close_thread,)

    def fork(self, parent: Thread, child: str, body: str) -> tuple[str, ...]:
        """A child's assistant text grows by the trunk's last response and its header."""
        block, k = (int(x) for x in child.split("."))
        return (body, self.fmt.first_header.format(n=self._numbers[block][k - 1]))

    # -- responses -------------------------------------------------------------------------
    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if thread.id != MASTER_ID:
            return self._thread(thread, text, finish_reason)
        trunk = "".join(thread.assistant or ()) + text
        if finish_reason == "length":  # the upstream controllers keep a cut trace and score it
            return ParsedStep(terminal=Stop(trunk, truncated=True), kept=text)
        if not text.endswith(self.fmt.close_outlines):  # EOS: the trace is complete
            return ParsedStep(terminal=Stop(trunk), kept=text)
        iteration = thread.steps + len(self._numbers)  # this trunk step's controller iteration
        if iteration + 1 > self.max_iterations:  # no iteration left for what comes next
            return ParsedStep(terminal=Stop(trunk), kept=text)
        numbers = outline_numbers(trunk, self.fmt)
        if not numbers:  # the trunk decodes on from its own text (a recv on itself)
            return ParsedStep(sends=[Send((MASTER_ID,), "")], terminal=Recv((MASTER_ID,)), kept=text,
                              errors=["no outlines"])
        block = len(self._numbers) + 1
        self._numbers[block], self._iteration[block] = numbers, iteration + 1
        ids = tuple(f"{block}.{k}" for k in range(1, len(numbers) + 1))
        return ParsedStep(spawns=[Spawn(ids, text)], terminal=Recv(ids), kept=text)

    def _thread(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        closed = finish_reason == "stop" and text.endswith(self.fmt.close_thread)
        if not closed:
            self._cut.add(thread.id)
        return ParsedStep(sends=[Send((MASTER_ID,), text if closed else text + self.fmt.closure)],
                          terminal=Stop(None), kept=text)

    # -- joins -----------------------------------------------------------------------------
    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        if [m.sender for m in messages] == [MASTER_ID]:
            return (thread.last_kept,)  # no outlines: decode on
        numbers = self._numbers[_block(messages)]
        parts = [thread.last_kept]
        for m in messages:
            k = int(m.sender.split(".")[1])
            header = self.fmt.first_header if k == 1 else self.fmt.header
            parts += [header.format(n=numbers[k - 1]), m.payload]
        cut = any(m.sender in self._cut for m in messages)
        parts.append(self.fmt.cut_end if cut else self.fmt.join_end)
        return tuple(p for p in parts if p)

    def closes(self, thread: Thread, messages: list[Message]) -> bool:
        """The trace ends at this join: a thread was cut (EOS or length), or the block used the
        last controller iteration."""
        if [m.sender for m in messages] == [MASTER_ID]:
            return False
        if any(m.sender in self._cut for m in messages):
            return True
        return self._iteration[_block(messages)] + 1 > self.max_iterations


def _block(messages: list[Message]) -> int:
    return int(messages[0].sender.split(".")[0])
