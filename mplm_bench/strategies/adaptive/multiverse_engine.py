"""Multiverse's own engine (arXiv 2506.09991; Multiverse4FM/Multiverse-Engine) as a continuation dialect.

Source: the authors' engine, an SGLang fork, read as mirrored at Swapnil-Gandhi/Multiverse-Engine
@b3ed243 (the last upstream commit; the mirror's later commits touch only benchmarking). Files,
with line numbers at b3ed243: SB = `sglang/python/sglang/srt/managers/schedule_batch.py`,
SCH = `sglang/python/sglang/srt/managers/scheduler.py`, EX = `example/example.py`. The tags are
the special tokens added in ryogishiki-0217/Multiverse @6283064, `Multiverse/train/utils.py`
(`add_and_init_special_tokens`). Rules, in text space (docs/parallel.md):

1. Stops: every request, trunk and path alike, stops at `</Goal>` or `</Path>` (EX `stop_token_ids:
   [151670, 151674]`, the ids of `</Goal>` and `</Path>` when the 12 tags follow Qwen2.5's 151665
   tokens; a child inherits its parent's `sampling_params`, SB `filter_batch` L1586) or at EOS.
2. Fork: a request that stops at `</Goal>` forks (SB `Req.check_finished` L707-708, `filter_batch`
   L1523-1605). Its outline numbers are read with `<Outline>\\s*([0-9]+(?:\\.[0-9]+)*)\\s*:` from its
   text after the last `<Goal>` (L1558-1570); duplicates are kept and their number is not capped
   (more than 20 is only logged, L1572). One child per number, in order, on the text through
   `</Goal>` + `⏎<Path>⏎{n}:` (L1584). No `<Goal>` raises (L1566); no number forks nothing and the
   request is never answered: here either ends the thread as a protocol error.
3. Fork limits (SB `filter_batch` L1538-1547): a request with more than 5 enclosing paths, or within
   30 tokens of `max_new_tokens`, does not fork: `</Goal>` stays text and it decodes on. Here: a
   thread deeper than `max_depth` (5; the trunk is depth 0, so paths go 6 deep), one whose
   children would pass `Caps.max_depth`, or one past `max_tokens - 30` tokens on its chain.
4. Path end: a path ends at `</Path>` (finished two tokens later, keeping the first, L709-715), at
   EOS (L728; the EOS is dropped) or at the length limit (L685); every ending joins (L1609-1643).
5. Join (SCH `merge_zombie_batch_to_run` L1526-1602, `split_merge_zombie_batch_to_run` L1399): when
   every path of a block has ended, the parent's text becomes its text through `</Goal>`, then for
   each path in outline order its header and text (the first path's header is `⏎<Path>⏎{n}:`; for
   the others `start_path_idx`, one token past the parent's text (SB L1581, SCH L1565), drops the
   header's leading `⏎`), then `<Conclusion>⏎` (SCH L1577). Nothing else is inserted (no `</Path>`
   for a cut path, no `</Parallel>`); the parent decodes on and writes `</Conclusion>`,
   `</Parallel>` itself. A path cut by EOS or length joins like the others.
6. Nesting: a path is a request like the trunk: at `</Goal>` it forks (rules 2-3), its own join
   appends `<Conclusion>⏎` and it decodes on; what enters its parent's join is all of its text
   after its header (SCH L1565 slices its whole sequence from its start).
7. Trunk end: EOS or `</Path>` ends the trace (a top-level request is returned at any finish but
   `</Goal>`, `scheduler_output_processor_mixin.py` L519). A trunk cut by the length limit ends the
   trace `truncated`, its text kept and scored.
8. Budget: `max_new_tokens` bounds positions past the prompt along the chain, not one request
   (SB L685 `right_most_pos - init_input_len`, SCH L947; a child starts at its parent's position,
   SB L1593; a join goes on from its furthest path, SCH L1578). Here the run's `max_tokens` plays
   that part: a step gets `max_tokens` minus the tokens generated on its chain so far (at least 1).
9. No iteration cap (the engine's README lists "Avoid Infinite Parallelism" as an open issue).

On a stock engine (docs/parallel.md): the join is re-prefilled (the engine stitches the paths' KV);
the one token the engine keeps after `</Path>` cannot be decoded past a stop, so `⏎`, what the
trained format has there, stands in for it; a path cut by length keeps its last token (the engine
drops it, `output_ids[:-1]`); the inserted header and join tokens do not count against the budget.
Not upstream: `max_path_tokens` (a path's own cap) and `max_blocks` (forks per sample).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.dialect import ContinuationDialect
from mplm_bench.runtime.protocol import MASTER_ID, ParsedStep, Recv, Send, Spawn, Stop
from mplm_bench.runtime.threads import Message, Thread

GOAL, END_GOAL, END_PATH = "<Goal>", "</Goal>", "</Path>"
STOPS = (END_GOAL, END_PATH)  # EX L36: stop_token_ids [151670, 151674], every request (SB L1586)
OUTLINE = re.compile(r"<Outline>\s*([0-9]+(?:\.[0-9]+)*)\s*:")  # SB filter_batch L1568 `extract`
FIRST_HEADER = "\n<Path>\n{n}:"  # SB L1584: origin_input_text=prefix_input + f"\n<Path>\n{e}"
HEADER = "<Path>\n{n}:"  # SCH L1565: later paths from start_path_idx (SB L1581), past the leading ⏎
CONCLUSION = "<Conclusion>\n"  # SCH L1577 (and L1435): appended after the paths
AFTER_PATH = "\n"  # stands in for the token SB L709-715 keeps after </Path> (the trained format's ⏎)
MAX_DEPTH = 5  # SB L1541: no fork with len(parent_start_path_idx_stack) > 5
END_MARGIN = 30  # SB L1540: no fork within 30 tokens of max_new_tokens


def outline_numbers(text: str) -> list[str] | None:
    """Outline numbers after the last `<Goal>`, in order, duplicates kept (SB L1558-1570); None
    when there is no `<Goal>` (SB L1566 raises)."""
    at = text.rfind(GOAL)
    if at < 0:
        return None
    return OUTLINE.findall(text, at)


@dataclass(slots=True)
class MultiverseEngineDialect(ContinuationDialect):
    """One sample's controller. A block's children are `{parent}.{b}.{k}` (`{b}.{k}` under the
    trunk): b counts the parent's blocks, k is the outline position, so the runtime's sender order
    (`thread_sort_key`) is outline order and ids do not depend on timing."""

    max_depth: int = MAX_DEPTH  # the deepest thread that may fork (the trunk is 0)
    caps_depth: int | None = None  # Caps.max_depth: a child deeper than this is not forked
    max_path_tokens: int | None = None  # not upstream: a path's own per-step cap
    max_blocks: int | None = None  # not upstream: forks per sample
    _budget: int | None = None  # the run's max_tokens: the engine's max_new_tokens (rule 8)
    _blocks: dict[str, int] = field(default_factory=dict)  # thread -> blocks it forked
    _numbers: dict[str, list[str]] = field(default_factory=dict)  # block id -> outline numbers
    _start: dict[str, int] = field(default_factory=dict)  # path -> its first assistant segment after its header

    # -- requests --------------------------------------------------------------------------
    def step(self, thread: Thread, sampling: Sampling) -> tuple[Sampling, tuple[str, ...]]:
        self._budget = sampling.max_tokens
        left = sampling.max_tokens
        if left is not None:  # rule 8: what is left of max_new_tokens on this chain (SB L685)
            left = max(1, left - int(thread.ready_cp))
        if thread.id != MASTER_ID and self.max_path_tokens is not None:
            left = self.max_path_tokens if left is None else min(left, self.max_path_tokens)
        if left != sampling.max_tokens:
            sampling = replace(sampling, max_tokens=left)
        return sampling, STOPS

    def fork(self, parent: Thread, child: str, body: str) -> tuple[str, ...]:
        """A child's assistant text grows by its parent's last response and its header (SB L1584)."""
        block, k = child.rsplit(".", 1)
        self._start[child] = len(parent.assistant or ()) + 2
        return (body, FIRST_HEADER.format(n=self._numbers[block][int(k) - 1]))

    # -- responses -------------------------------------------------------------------------
    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if finish_reason == "stop" and text.endswith(END_GOAL):
            return self._goal(thread, text)
        if thread.id == MASTER_ID:  # rule 7
            trunk = "".join(thread.assistant or ()) + text
            return ParsedStep(terminal=Stop(trunk, truncated=finish_reason == "length"), kept=text)
        # rule 4: a path ends at </Path>, EOS or its length limit, and joins whichever it was
        closed = finish_reason == "stop" and text.endswith(END_PATH)
        own = "".join((thread.assistant or [])[self._start[thread.id]:]) + text
        return ParsedStep(sends=[Send((thread.parent or MASTER_ID,), own + AFTER_PATH if closed else own)],
                          terminal=Stop(None), kept=text)

    def _goal(self, thread: Thread, text: str) -> ParsedStep:
        used = thread.ready_cp + thread.step_tokens  # tokens on this chain so far (rule 8)
        refused = (thread.depth > self.max_depth  # SB L1541
                   or (self.caps_depth is not None and thread.depth + 1 > self.caps_depth)
                   or (self._budget is not None and used >= self._budget - END_MARGIN)  # SB L1540
                   or (self.max_blocks is not None and len(self._numbers) >= self.max_blocks))
        if refused:  # SB L1542-1547: the finish is cleared and the request decodes on (a recv on itself)
            return ParsedStep(sends=[Send((thread.id,), "")], terminal=Recv((thread.id,)), kept=text)
        user = "".join(thread.segments)
        numbers = outline_numbers(user + "".join(thread.assistant or ()) + text)
        if not numbers:  # SB L1566 raises / no child and no answer: the engine cannot go on
            return ParsedStep(kept=text, errors=["</Goal> without <Goal>" if numbers is None else "no outlines"])
        b = self._blocks.get(thread.id, 0) + 1
        self._blocks[thread.id] = b
        block = str(b) if thread.id == MASTER_ID else f"{thread.id}.{b}"
        self._numbers[block] = numbers
        ids = tuple(f"{block}.{k}" for k in range(1, len(numbers) + 1))
        return ParsedStep(spawns=[Spawn(ids, text)], terminal=Recv(ids), kept=text)

    # -- joins -----------------------------------------------------------------------------
    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        if all(m.sender == thread.id for m in messages):
            return (thread.last_kept,)  # a refused fork: decode on
        numbers = self._numbers[messages[0].sender.rsplit(".", 1)[0]]
        parts = [thread.last_kept]
        for i, m in enumerate(messages):  # outline order: senders sorted by thread_sort_key
            k = int(m.sender.rsplit(".", 1)[1])
            parts += [(FIRST_HEADER if i == 0 else HEADER).format(n=numbers[k - 1]), m.payload]
        parts.append(CONCLUSION)
        return tuple(p for p in parts if p)

    def closes(self, thread: Thread, messages: list[Message]) -> bool:
        """Never: after every join the parent decodes on, a cut path included (SCH L1577-1602)."""
        return False
