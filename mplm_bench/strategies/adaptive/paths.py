"""Parallel-R1's parallel thinking as a continuation dialect.

Controller rules from zhengkid/Parallel-R1,
`verl/verl/parallel_thinking_generation_v3/parallel_thinking_loop_v3.py` (docs/parallel.md):

- the trunk decodes with stop at `<Parallel>` or EOS; a step that did not end at `<Parallel>`
  ends the trace;
- on `<Parallel>`: `num_paths` children on the trunk + `<Path>`, stop at `</Path>` or EOS, at
  temperature 1.0, each with its own seed, cut at `max_path_response_length` tokens; a path ended
  by EOS gets `</Path>` in the EOS's place, one cut by length gets `</Path>` appended;
- join: `<Path>` + each path, concatenated with no separator, then `</Parallel>`, `⏎`,
  `<Summary>`; the trunk decodes the summary over all of it with its own sampling (stop
  `</Summary>` or EOS; a summary that did not end at `</Summary>` gets it appended), then decodes
  on with stop at `<Parallel>` again;
- after `max_iterations` blocks the trace ends: right after a block's summary, or at a trunk step
  that asked for one more block.

The upstream loop draws path seeds from Python's global `random`; here path k of block b gets
the run's seed (0 when unset) + 1000·b + k, so a run repeats. The upstream skips the summary when
the context would overflow; here such a summary is cut by the window like any step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.dialect import ContinuationDialect
from mplm_bench.runtime.protocol import MASTER_ID, ParsedStep, Recv, Send, Spawn, Stop
from mplm_bench.runtime.threads import Message, Thread

OPEN, CLOSE = "<Parallel>", "</Parallel>"
PATH, END_PATH = "<Path>", "</Path>"
SUMMARY, END_SUMMARY = "<Summary>", "</Summary>"
# the published training scripts (verl/training_scripts/*.sh); the config file's defaults are 2/256/5
NUM_PATHS, MAX_PATH_TOKENS, MAX_BLOCKS = 2, 4096, 4


@dataclass(frozen=True, slots=True)
class PathsDialect(ContinuationDialect):
    num_paths: int = NUM_PATHS
    max_path_tokens: int | None = MAX_PATH_TOKENS
    max_iterations: int = MAX_BLOCKS  # `max_iterations_for_parallel_thinking`
    path_temperature: float = 1.0

    def step(self, thread: Thread, sampling: Sampling) -> tuple[Sampling, tuple[str, ...]]:
        if thread.id != MASTER_ID:
            block, k = (int(x) for x in thread.id.split("."))
            seed = (sampling.seed or 0) + 1000 * block + k
            limit = self.max_path_tokens or sampling.max_tokens
            if sampling.max_tokens is not None and limit is not None:
                limit = min(limit, sampling.max_tokens)
            return replace(sampling, temperature=self.path_temperature, seed=seed, max_tokens=limit), (END_PATH,)
        if in_summary(thread):
            return sampling, (END_SUMMARY,)
        return sampling, (OPEN,)

    def fork(self, parent: Thread, child: str, body: str) -> tuple[str, ...]:
        return (body, PATH)

    def parse(self, thread: Thread, text: str, finish_reason: str) -> ParsedStep:
        if thread.id != MASTER_ID:
            closed = finish_reason == "stop" and text.endswith(END_PATH)
            return ParsedStep(sends=[Send((MASTER_ID,), PATH + (text if closed else text + END_PATH))],
                              terminal=Stop(None), kept=text, errors=[] if closed else ["unclosed path"])
        trunk = "".join(thread.assistant or ()) + text
        blocks = count_blocks(thread)
        if in_summary(thread):
            kept = text if text.endswith(END_SUMMARY) else text + END_SUMMARY
            if blocks >= self.max_iterations:
                return ParsedStep(terminal=Stop(trunk if kept is text else trunk + END_SUMMARY), kept=kept)
            # the trunk decodes on after its summary (a recv on itself)
            return ParsedStep(sends=[Send((MASTER_ID,), "")], terminal=Recv((MASTER_ID,)), kept=kept)
        if finish_reason == "length":  # the upstream controllers keep a cut trace and score it
            return ParsedStep(terminal=Stop(trunk, truncated=True), kept=text)
        if not text.endswith(OPEN) or blocks >= self.max_iterations:
            return ParsedStep(terminal=Stop(trunk), kept=text)
        ids = tuple(f"{blocks + 1}.{k}" for k in range(1, self.num_paths + 1))
        return ParsedStep(spawns=[Spawn(ids, text)], terminal=Recv(ids), kept=text)

    def resume(self, thread: Thread, messages: list[Message]) -> tuple[str, ...]:
        if [m.sender for m in messages] == [MASTER_ID]:
            return (thread.last_kept,)  # after the summary: decode on
        return (thread.last_kept, *(m.payload for m in messages), CLOSE + "\n" + SUMMARY)

    def closes(self, thread: Thread, messages: list[Message]) -> bool:
        """Never: after every join the trunk decodes its summary."""
        return False


def in_summary(thread: Thread) -> bool:
    """The trunk's next step is a summary: its text so far ends with the join's `<Summary>`."""
    return bool(thread.assistant and thread.assistant[-1].endswith(SUMMARY))


def count_blocks(thread: Thread) -> int:
    """Blocks the trunk has joined so far (each join ends with `</Parallel>⏎<Summary>`)."""
    return sum(1 for seg in thread.assistant or () if seg == CLOSE + "\n" + SUMMARY)
