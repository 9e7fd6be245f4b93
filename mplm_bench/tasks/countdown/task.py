"""Countdown under serial search (`sos`, SoS+) and adaptive parallel reasoning (`apr`), after APR
(arXiv 2504.15466; Parallel-Reasoning/APR). Formats and controller: docs/countdown.md.

Both protocols are harness-driven (`dialect.py`) and run on the one runtime: a sub search is a
spawned thread whose whole prompt is its message, its result comes back as a message, and the
root's next prompt is its trace with the join block, so tokens, critical path and the longest
call are accounted for as for every other protocol. With `-M max_model_len=4096` a trace that
outgrows the window is cut and the sample ends `truncated` (counted wrong): accuracy within a
context window, as APR reports it.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field, model_validator

from mplm_bench.registry import tasks
from mplm_bench.runtime.protocol import MASTER_ID
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
from mplm_bench.tasks.countdown.data import read_source
from mplm_bench.tasks.countdown.dialect import AprDialect, SosDialect
from mplm_bench.tasks.countdown.formats import END_JOIN, apr_prompt, sos_prompt
from mplm_bench.tasks.countdown.generator import generate
from mplm_bench.tasks.countdown.policies import (
    Policies,
    SearchConfig,
    child_response,
    reference_draws,
    root_response,
    sos_response,
)
from mplm_bench.tasks.countdown.prompts import read_head
from mplm_bench.tasks.countdown.scoring import score_answer

STEP_BUDGET = 4096  # eval_apr.py's max_tokens per generation
SOS_BUDGET = 1 << 17  # a whole SoS+ search in one step (5 numbers: tens of thousands of tokens)


class CountdownOptions(TaskOptions):
    """`-T numbers=4 -T max_target=100` (APR's create_prob.sh); the rest are the reference
    searches' knobs (create_search.sh: beams up to 10 and 15, promising 0.9; SoS+ beams up to 5)."""

    numbers: int = Field(4, ge=2, le=6, description="numbers per problem (upstream --start_range)")
    min_numbers: int | None = Field(None, ge=2, le=6, description="draw the count from min..numbers")
    max_target: int = Field(100, ge=10, le=10_000, description="targets in 10..max_target, numbers below it")
    search_seed: int = Field(0, description="seeds the reference searches' random choices")
    max_beam: int = Field(10, ge=1, le=64, description="APR root beam drawn from min_beam..max_beam")
    min_beam: int | None = Field(None, ge=1, le=64)
    max_sub_beam: int = Field(15, ge=1, le=64, description="APR sub-search beam")
    promising: float = Field(0.9, ge=0, le=1, description="chance an APR root spawns at a node")
    sos_max_beam: int = Field(5, ge=1, le=64, description="SoS+ beam drawn from sos_min_beam..sos_max_beam")
    sos_min_beam: int | None = Field(None, ge=1, le=64, description="the SoS+ beam's lower bound (None: 1)")

    @model_validator(mode="after")
    def _ranges(self) -> CountdownOptions:
        for low, high in (("min_beam", "max_beam"), ("sos_min_beam", "sos_max_beam"), ("min_numbers", "numbers")):
            if getattr(self, low) is not None and getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low}={getattr(self, low)} is above {high}={getattr(self, high)}")
        return self


@tasks.register("countdown", options=CountdownOptions, protocols=("sos", "apr"))
class CountdownTask(Task):
    options: CountdownOptions

    @property
    def search(self) -> SearchConfig:
        o = self.options
        return SearchConfig(o.search_seed, o.max_beam, o.min_beam, o.max_sub_beam, o.promising, o.sos_max_beam,
                            sos_min_beam=o.sos_min_beam)

    # -- instances ---------------------------------------------------------------------------
    def generate(self, n: int, seed: int) -> list[Instance]:
        o = self.options
        low = o.numbers if o.min_numbers is None else o.min_numbers
        if low > o.numbers:
            raise TaskError(f"countdown: min_numbers={low} is above numbers={o.numbers}")
        problems = generate(random.Random(seed), n, o.numbers, low, o.max_target)
        return [self._instance(f"cd{o.numbers}-{seed}-{i}", p.nums, p.target, p.solution)
                for i, p in enumerate(problems)]

    def load(self, source: str, n: int | None) -> list[Instance]:
        return [self._instance(r.id, r.nums, r.target, r.solution) for r in read_source(source, n)]

    def _instance(self, iid: str, nums: list[int], target: int, solution: list[str] | None) -> Instance:
        # the reference searches' drawn beams (sos_beam, apr_beam, apr_sub_beam): what the scripted
        # backend's trace for this instance was searched with
        draws = reference_draws(self.search, sos_prompt(target, nums), apr_prompt(target, nums))
        return Instance(id=iid, size=len(nums), data={"nums": nums, "target": target, "solution": solution},
                        meta={"n_numbers": len(nums), "target": target, **draws})

    # -- prompts and setups ------------------------------------------------------------------
    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        self._check(protocol)
        d = instance.data
        return sos_prompt(d["target"], d["nums"]) if protocol == "sos" else apr_prompt(d["target"], d["nums"])

    def setup(self, instance: Instance, protocol: Protocol, ctx: SetupContext) -> SampleSetup:
        self._check(protocol)
        d = instance.data
        if protocol == "sos":
            return SampleSetup(sos_prompt(d["target"], d["nums"]), dialect=SosDialect())
        sub_calls = getattr(ctx.strategy_options, "sub_calls", None)
        budget = getattr(ctx.strategy_options, "child_budget", None)
        return SampleSetup(apr_prompt(d["target"], d["nums"], sub_calls), dialect=AprDialect(budget))

    def dialect(self, protocol: Protocol) -> SosDialect | AprDialect:
        self._check(protocol)
        return SosDialect() if protocol == "sos" else AprDialect()

    def strategy_options(self, protocol: Protocol) -> frozenset[str]:
        return frozenset({"sub_calls", "child_budget"}) if protocol == "apr" else frozenset()

    # -- answers -----------------------------------------------------------------------------
    def score(self, instance: Instance, answer: str | None) -> Score:
        return score_answer(instance.data["nums"], instance.data["target"], answer)

    def policy(self, protocol: Protocol) -> Policy:
        self._check(protocol)
        policies = Policies(self.search)
        return policies.sos if protocol == "sos" else policies.apr

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """One wrong, well-formed step: a search that misjudges the first goal it reaches as no
        solution and searches on (a wrong branch), or a root that reads a join's goal results as
        no solution and goes on searching itself (a misjudged child result)."""
        cfg = self.search
        if protocol == "sos":
            return sos_response(cfg, prompt, miss=1)
        head = read_head(prompt)
        if head.node_id != "0":
            return child_response(cfg, head, miss=1)
        last_join = prompt[prompt.rfind("<Sub Searches>\n"):]
        if prompt.endswith(END_JOIN) and "<Goal Reached in Sub Search" in last_join:
            return root_response(cfg, prompt, misjudge_last=True)
        return response

    def max_tokens(self, instance: Instance, protocol: Protocol) -> int | None:
        return SOS_BUDGET if protocol == "sos" else STEP_BUDGET

    def trace_columns(self, calls: list[Any]) -> dict[str, Any]:
        """`sub_searches` (threads the root spawned), `spawn_rounds` and `longest_call_tokens`
        (the largest prompt + completion of one call: what must fit the window)."""
        spawned = {c.thread_id for c in calls if c.thread_id != MASTER_ID}
        rounds = sum(1 for c in calls if c.thread_id == MASTER_ID and c.directives.startswith("spawn"))
        longest = max((c.prompt_tokens + c.completion_tokens for c in calls), default=0)
        return {"sub_searches": len(spawned), "spawn_rounds": rounds, "longest_call_tokens": longest}

    def scheduler(self, protocol: Protocol) -> SchedulerKind:
        return "sync"

    def _check(self, protocol: Protocol) -> None:
        if protocol not in self.protocols:
            raise TaskError(f"countdown has no protocol {protocol!r} (has: {', '.join(self.protocols)})")
