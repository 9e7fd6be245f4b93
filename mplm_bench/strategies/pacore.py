"""PaCoRe: rounds of parallel trajectories, each round reading the previous one's compacted answers.

docs/protocols.md §5, after stepfun-ai/PaCoRe (arXiv 2601.05593; its reference `Exp` class): rounds =
the preset's widths + a final round of 1. Round 1 sends the task's CoT prompt unchanged; each later
round sends the synthesis template with the original prompt and the previous round's references.
The answer is the single final response (no vote).

Details the protocol text leaves open, resolved as the reference code does or said here:
- ordering: the round's responses are sorted by the length of their reference text (stable, so
  ties keep trajectory order), shuffled with a fresh `random.Random(42)`, and only then filtered,
  as the reference code filters empty contents after shuffling;
- drops: a truncated response (finish reason `length`) and an empty reference (whitespace only,
  after compaction) are not passed on;
- a round left with no references at all gets the original prompt, not an empty template (the
  PaCoRe report: an empty message set bypasses the template);
- `sequential=true` keeps the trajectory count and gives every round one trajectory.
"""

from __future__ import annotations

import random
import re
import time
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from mplm_bench.registry import strategies
from mplm_bench.runtime.accounting import Status
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.runtime.synthesis import synthesis_segments
from mplm_bench.strategies.base import RunContext, SampleResult, Strategy
from mplm_bench.strategies.trajectories import (
    EnsembleOptions,
    Rounds,
    Trajectory,
    merge,
    round_stats,
    trajectory_sampling,
)
from mplm_bench.tasks.base import Instance, Task

# docs/protocols.md §5: widths before the final round of 1.
PRESETS: dict[str, tuple[int, ...]] = {"low": (4,), "medium": (16,), "high": (32, 4)}
SHUFFLE_SEED = 42  # stepfun-ai/PaCoRe `Exp.random_seed`
THINK_END = "</think>"


class PaCoReOptions(EnsembleOptions):
    """`-S preset=low|medium|high` or `-S rounds=32,4` (a final round of 1 is always added)."""

    preset: Literal["low", "medium", "high"] | None = None  # neither given: low
    rounds: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)
    compaction: bool = True  # False: pass whole responses, reasoning included (ablation)
    sequential: bool = False  # one trajectory per round, same total count (ablation)

    @field_validator("rounds", mode="before")
    @classmethod
    def _parse_rounds(cls, v: Any) -> Any:
        """`32,4` arrives from the command line as a string, `4` as an int."""
        if isinstance(v, int) and not isinstance(v, bool):
            return [v]
        if isinstance(v, str):
            parts = [p for p in re.split(r"[\s,]+", v.strip().strip("[]")) if p]
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError(f"rounds must be widths like 32,4, got {v!r}") from None
        return v

    @field_validator("rounds")
    @classmethod
    def _one_of(cls, v: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if v is not None and info.data.get("preset") is not None:
            raise PydanticCustomError("exclusive", "give preset or rounds, not both (preset=high is rounds=32,4)")
        return v

    def schedule(self) -> list[int]:
        """Trajectories per round, final round included: low -> [4, 1]; sequential -> [1]*5."""
        widths = list(self.rounds or PRESETS[self.preset or "low"])
        if self.sequential:
            widths = [1] * sum(widths)
        return [*widths, 1]


def compact(text: str) -> str:
    """The text after the last `</think>`, or all of it when there is none (docs/protocols.md §5)."""
    return text.rsplit(THINK_END, 1)[-1]


def references(trajs: list[Trajectory], compaction: bool = True) -> tuple[list[str], list[str], dict[str, int]]:
    """(reference texts, ids of their trajectories, drop counts) handed to the next round."""
    items = [(compact(t.response) if compaction else t.response, t) for t in trajs]
    items.sort(key=lambda it: len(it[0]))
    random.Random(SHUFFLE_SEED).shuffle(items)
    texts, ids = [], []
    drops = {"truncated": 0, "empty": 0}
    for text, t in items:
        if t.finish_reason == "length":
            drops["truncated"] += 1
        elif not text.strip():
            drops["empty"] += 1
        else:
            texts.append(text)
            ids.append(t.id)
    return texts, ids, drops


@strategies.register("pacore", options=PaCoReOptions, protocol="serial", generic=True)
class PaCoReStrategy(Strategy):
    options: PaCoReOptions
    sends = frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS})

    def trajectories(self) -> int:
        return sum(self.options.schedule())

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        started = time.perf_counter()
        original = task.prompt(instance, self.protocol)
        sampling = trajectory_sampling(self, task, instance, ctx)
        schedule = self.options.schedule()
        runner = Rounds(self, task, key, ctx, sampling)
        rounds = runner.rounds
        refs: list[str] = []
        ref_ids: list[str] = []
        refs_in, dropped = [], {"truncated": 0, "empty": 0}
        inputs: list[list[str]] = []  # the ids of the references each round read
        generated, capped = 0, False
        for r, width in enumerate(schedule, 1):
            # round 1, and any round whose predecessor left nothing usable, sends the task prompt
            prompt = synthesis_segments(original, refs) if refs else original
            trajs = await runner.run_round([prompt] * width, consumed=",".join(ref_ids))
            refs_in.append(len(refs))
            inputs.append(list(ref_ids) if refs else [])
            generated += sum(t.world.metrics.gen_tokens for t in trajs)
            if r == len(schedule):
                break
            if generated > ctx.caps.max_total_tokens:  # the cap is per sample, not per World
                capped = True
                break
            refs, ref_ids, drops = references(trajs, self.options.compaction)
            for k, v in drops.items():
                dropped[k] += v

        final = rounds[-1][0]
        ens = merge(key, rounds, root=None if capped else final.id, latency=ctx.latency)
        m = ens.metrics
        if capped:
            m.status, m.detail = Status.CAP_EXCEEDED, f"more than {ctx.caps.max_total_tokens} generated tokens"
        else:
            fm = final.world.metrics
            m.status, m.detail, m.answer = fm.status, fm.detail, fm.answer
        # each reference is a message to every trajectory of the round that reads it
        m.n_messages += sum(n * len(trajs) for n, trajs in zip(refs_in, rounds, strict=True))
        m.wall_s = time.perf_counter() - started
        correct = {t.id: task.score(instance, t.world.metrics.answer).correct for trajs in rounds for t in trajs}
        m.extra = {
            "rounds": [len(t) for t in rounds],
            "effective_ttc_tokens": m.gen_tokens,  # every trajectory, final round included
            **round_stats(rounds),
            "round_refs": refs_in,
            "round_correct": [sum(correct[t.id] for t in trajs) for trajs in rounds],
            "dropped_truncated": dropped["truncated"],
            "dropped_empty": dropped["empty"],
            "compaction": self.options.compaction,
            "sequential": self.options.sequential,
            "temperature": sampling.temperature,
        }
        score = task.score(instance, m.answer)
        columns = {"effective_ttc_tokens": m.gen_tokens, **emergent(inputs, rounds, correct)}
        return SampleResult(ens, score.model_copy(update={"extra": {**columns, **score.extra}}))


def emergent(inputs: list[list[str]], rounds: list[list[Trajectory]], correct: dict[str, bool]) -> dict[str, int]:
    """PaCoRe's Emergent Correctness Rate, per sample (its report, §4 and Figure 5: "the
    probability of generating a correct solution given input messages that are all incorrect"):
    `emergent_trials`, the trajectories that read references all of which were wrong, and
    `emergent_correct`, how many of them were right. The rate is their ratio over a group."""
    trials = hits = 0
    for ids, trajs in zip(inputs, rounds, strict=True):
        if ids and not any(correct[i] for i in ids):
            trials += len(trajs)
            hits += sum(correct[t.id] for t in trajs)
    return {"emergent_trials": trials, "emergent_correct": hits}
