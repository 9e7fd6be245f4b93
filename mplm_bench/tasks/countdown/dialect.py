"""`sos` and `apr` as harness-driven dialects: APR's eval controller on the one runtime.

The controller of `src/eval/eval_apr.py` / `parallel_infernce_utils.py` (Parallel-Reasoning/APR,
commit 5577928), step by step:

| thread | its response becomes |
|---|---|
| sos root | a stop whose answer is the search's result (the solution path), None without one |
| apr root, ending in a spawn block | one thread per `<Start Sub Search i …> Moving to Node #id` line, whose whole prompt is the node's message (`[Token Budget: B ]Moving to Node #id⏎Current State: …`), and a recv on all of them |
| apr root, otherwise | a stop with the search's result |
| apr sub search | a message to the root with its result ("" for none), then stop |
| any apr thread writing `<Sub Searches>` | cut there, `<Calling Sub Searches>` written in its place, and the thread decodes again (the controller's stop string and its fix) |

On the recv the root's prompt becomes: its trace up to its last `<Calling Sub Searches>⏎`, then
the join block (`<Sub Searches>⏎`, per child `<No Solution in Sub Search i at level 1 at Node #id>`
or `<Goal Reached in Sub Search i …>⏎path`, `<End Sub Searches>⏎`). Sub searches never spawn
(one nesting level, as the controller). A step cut by max_tokens without an answer ends the
sample `truncated`; a spawn block naming a node the trace never generated is a protocol error
(upstream's controller raises and drops the sample).
"""

from __future__ import annotations

from dataclasses import dataclass

from mplm_bench.runtime.dialect import Rewind, SpawnDialect
from mplm_bench.runtime.protocol import MASTER_ID, ParsedStep, Recv, Send, Spawn, Stop
from mplm_bench.runtime.threads import Message, Thread
from mplm_bench.tasks.countdown.formats import (
    CALL,
    SELF_JOIN,
    child_prompt,
    is_calling,
    join_block,
    search_result,
    sub_searches,
)

CONTINUE = "<continue>"  # a thread's message to itself: decode again after the correction


@dataclass(frozen=True, slots=True)
class SosDialect:
    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        answer = search_result(thread.prompt + text)
        if answer is None and finish_reason == "length":
            return ParsedStep(kept=text)  # outgrew the window: the runtime records `truncated`
        return ParsedStep(terminal=Stop(answer), kept=text)

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        raise AssertionError("a serial search never waits")


@dataclass(frozen=True, slots=True)
class AprDialect(SpawnDialect):
    child_budget: int | None = None  # `Token Budget: B ` in front of every sub search's prompt

    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if (cut := text.find(SELF_JOIN)) >= 0:  # (`<Calling Sub Searches>` does not contain it)
            kept = text[:cut] + CALL.rstrip("\n")
            return ParsedStep(sends=[Send((thread.id,), CONTINUE)], terminal=Recv((thread.id,)), kept=kept)
        if thread.id != MASTER_ID:
            result = search_result(thread.prompt + text)
            return ParsedStep(sends=[Send((thread.parent or MASTER_ID,), result or "")],
                              terminal=Stop(None), kept=text)
        trace = thread.prompt + text
        if finish_reason != "length" and is_calling(trace) and CALL in trace:
            try:
                subs = sub_searches(trace)
            except ValueError as e:
                return ParsedStep(kept=text, errors=[str(e)])
            first = len(thread.children) + 1
            ids = tuple(str(first + i) for i in range(len(subs)))
            spawns = [Spawn((tid,), child_prompt(s.node_id, s.target, s.nums, s.operations, self.child_budget))
                      for tid, s in zip(ids, subs, strict=True)]
            return ParsedStep(spawns=spawns, terminal=Recv(ids), kept=text)
        answer = search_result(trace)
        if answer is None and finish_reason == "length":
            return ParsedStep(kept=text)
        return ParsedStep(terminal=Stop(answer), kept=text)

    def spawn(self, thread_id: str, body: str) -> tuple[str, ...]:
        return (body,)  # the message is the child's whole prompt

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...] | Rewind:
        if all(m.sender == thread.id for m in messages):
            return (thread.last_kept,)  # decoding goes on from the corrected text
        prompt = thread.prompt
        trace = prompt + thread.last_kept
        by_sender = {m.sender: m.payload for m in messages}
        results = [by_sender[i] or None for i in sorted(by_sender, key=int)]
        join = join_block([s.node_id for s in sub_searches(trace)], results)
        cut = trace.rfind(CALL)  # the trace up to its last `<Calling Sub Searches>⏎`, then the join
        if cut >= len(prompt):
            return (trace[len(prompt):cut], join)
        # the block opened in an earlier step (a corrected `<Sub Searches>`): rewrite that tail
        drop, kept = 0, len(prompt)
        while kept > cut:
            drop += 1
            kept -= len(thread.segments[-drop])
        return Rewind(drop, (trace[kept:cut], join))
