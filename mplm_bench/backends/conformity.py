"""Conformity for the noisy scripted policy: a step that adopts an answer it received.

With `-M conformity=p`, a step whose prompt carries other threads' answers to the same problem
(PaCoRe's references, runtime/synthesis.py) copies one of them, drawn uniformly, with
probability p, instead of reasoning for itself (the task's reference policy, which checks the
references or solves the problem again). A uniform draw is the voter model of opinion dynamics: a
copier adopts an answer with the probability of its share among what it read, so a majority is
adopted most often and a shared error travels on. Copied text is adopted as it is, without the
error coin (nothing new was written).

MPLM and fork-join on Sudoku and SAT pass sub-results (a cell's value, a sub-formula's verdict),
not answers to the whole problem: there is nothing to adopt there, and the knob leaves them alone.

The coin and the draw come from their own generator, seeded like the error noise
(`backends/noise.py` `step_rng`: error_seed, sample, thread, prompt) but salted, so conformity
and errors are independent and a step's fate does not depend on when it ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from mplm_bench.backends.noise import step_rng
from mplm_bench.runtime.backend import Request
from mplm_bench.runtime.synthesis import is_synthesis, parse_synthesis


def received_answers(prompt: str) -> list[str]:
    """The other threads' answers a prompt carries (PaCoRe references); [] when none."""
    if not is_synthesis(prompt):
        return []
    try:
        return [r for r in parse_synthesis(prompt).references if r.strip()]
    except ValueError:
        return []


@dataclass(frozen=True, slots=True)
class Conformity:
    rate: float
    seed: int

    def adopt(self, request: Request) -> str | None:
        """The received answer this step copies, or None when it reasons for itself."""
        if self.rate <= 0:
            return None
        refs = received_answers(request.prompt)
        if not refs:
            return None
        rng = step_rng(self.seed, request, "conformity")
        if rng.random() >= self.rate:
            return None
        return rng.choice(refs)
