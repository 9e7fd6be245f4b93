"""The random 3-SAT task (docs/protocols.md §3): instances, prompts, scoring, reference policies."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

from pydantic import Field

from mplm_bench.registry import tasks
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.tasks.base import (
    Instance,
    Policy,
    Protocol,
    SchedulerKind,
    Score,
    Task,
    TaskError,
    TaskOptions,
)
from mplm_bench.tasks.sat.corrupt import corrupt_step
from mplm_bench.tasks.sat.data import read_source
from mplm_bench.tasks.sat.formula import SERIAL_EMPTY, Formula, render_formula
from mplm_bench.tasks.sat.generator import generate
from mplm_bench.tasks.sat.policies import POLICIES
from mplm_bench.tasks.sat.scoring import score_answer
from mplm_bench.tasks.sat.stats import search_columns


class SATOptions(TaskOptions):
    """`-T vars=10 -T ratio=4.3 -T sat_fraction=0.5` (the paper's setting at 10 variables)."""

    vars: int = Field(10, ge=3, le=200, description="variables per formula")
    ratio: float = Field(4.3, gt=0, le=100, description="clauses per variable: int(vars × ratio)")
    sat_fraction: float = Field(0.5, ge=0, le=1, description="share of satisfiable instances")


def make_instance(iid: str, clauses: Formula, label: str, n_vars: int, origin: str) -> Instance:
    return Instance(
        id=iid,
        size=n_vars,
        data={"clauses": clauses, "label": label, "origin": origin},
        meta={"n_vars": n_vars, "n_clauses": len(clauses), "label": label},
    )


@tasks.register("sat", options=SATOptions, protocols=("serial", "fj", "mplm"))
class SATTask(Task):
    options: SATOptions

    def satisfiable_at(self, i: int) -> bool:
        """Instance i is satisfiable iff ⌈(i+1)·f⌉ > ⌈i·f⌉: every prefix of a run holds
        ⌈n·f⌉ satisfiable instances (f = 0.5 alternates SAT, UNSAT, SAT, …)."""
        f = Fraction(repr(self.options.sat_fraction))
        return math.ceil((i + 1) * f) > math.ceil(i * f)

    def generate(self, n: int, seed: int) -> list[Instance]:
        return [self.instance_at(i, seed) for i in range(n)]

    def instance_id(self, i: int, seed: int) -> str:
        return f"sat{self.options.vars}-{seed}-{i}"

    def instance_at(self, i: int, seed: int) -> Instance:
        o = self.options
        # one generator per instance: instance i is the same whatever n is (resumable runs)
        rng = random.Random(f"sat/{seed}/{i}")
        try:
            g = generate(rng, o.vars, o.ratio, self.satisfiable_at(i))
        except ValueError as e:
            raise TaskError(f"sat: {e}") from None
        label = "SAT" if g.satisfiable else "UNSAT"
        return make_instance(self.instance_id(i, seed), g.clauses, label, o.vars,
                             "planted" if g.satisfiable else "sampled")

    def load(self, source: str, n: int | None) -> list[Instance]:
        return [make_instance(r.id, r.clauses, r.label, r.n_vars, f"file ({r.label_source} label)")
                for r in read_source(source, n)]

    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        """The bare formula, no instructions (docs/protocols.md §3), for every protocol; a formula
        without clauses is `TRUE` for serial and empty otherwise, as in the trace programs."""
        self._check(protocol)
        empty = SERIAL_EMPTY if protocol == "serial" else ""
        return render_formula(instance.data["clauses"], empty=empty)

    def score(self, instance: Instance, answer: str | None) -> Score:
        return score_answer(instance.data["clauses"], instance.data["label"], answer)

    def answers(self, protocol: Protocol) -> frozenset[PromptKind]:
        """Its serial policy also answers PaCoRe's synthesis prompts."""
        return frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS} if protocol == "serial" else {PromptKind.PROBLEM})

    def policy(self, protocol: Protocol) -> Policy:
        self._check(protocol)
        return POLICIES[protocol]

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """One wrong step for the noisy scripted backend (see `corrupt.py`)."""
        return corrupt_step(prompt, response, rng)

    def trace_columns(self, calls: list[Any]) -> dict[str, Any]:
        """`search_nodes` / `preempted_nodes` of the sample's DPLL tree (see `stats.py`)."""
        return search_columns(calls)

    def max_tokens(self, instance: Instance, protocol: Protocol) -> int | None:
        # serial writes the whole search (~15k tokens at 12 variables, doubling every ~2 more);
        # an FJ/MPLM step writes one node's propagation and two sub-formulas
        if protocol == "serial":
            return 65_536 * 2 ** max(0, (instance.size - 12) // 2)
        return 8192

    def scheduler(self, protocol: Protocol) -> SchedulerKind:
        """MPLM SAT runs asynchronously so a stop's preemption saves time (docs/protocols.md §3)."""
        return "async" if protocol == "mplm" else "sync"

    def _check(self, protocol: Protocol) -> None:
        if protocol not in self.protocols:
            raise TaskError(f"sat has no protocol {protocol!r} (has: {', '.join(self.protocols)})")
