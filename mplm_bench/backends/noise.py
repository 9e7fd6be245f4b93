"""A noisy reference policy: each step is wrong with a probability set by an error model.

The scripted backend is exact; an imperfect model is not. With `-M error_rate=p` every step first
draws a coin; on heads the task's `corrupt` rewrites the step with a task-specific mistake (a wrong
candidate set, a flipped SAT/UNSAT, a wrong cell in a grid) that is still well-formed protocol
text, so the mistake travels on and shows up as a wrong answer, as a model's would.

Error models (probability that a step is wrong):
- `step`: p, whatever the step;
- `tokens` (default): 1-(1-p)^(generated tokens/1000) — long outputs err more;
- `context`: 1-(1-p)^(context tokens/1000), context = prompt + generated tokens of the step (the
  context the step ends with) — long contexts err more, what MPLM's short threads avoid. Being
  per step, it also charges every short step its whole context: a protocol of many short steps
  (MPLM: ~190 steps of ~0.5-1k tokens on a 9x9 Sudoku) sums far more hazard than one long trace;
- `position`: 1-(1-p)^((generated/1000) x (mean context position/1000)), the mean position being
  prompt + generated/2 — every generated token errs at a rate that grows linearly with how deep
  in the context it is written, equal to `tokens` at a 1000-token context. This is the "long
  contexts err more" effect per token, so a short thread's steps stay cheap however many there are.

The coin and the mistake come from a generator seeded by (error_seed, the sample's key = the
request id without its `/call` suffix, the thread id, a hash of the prompt), never from a shared
generator: a step's fate depends only on what the step is, not on when the scheduler ran it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Literal

from mplm_bench.runtime.backend import Request
from mplm_bench.tasks.base import Corrupt

ErrorModel = Literal["step", "tokens", "context", "position"]
PER_TOKENS = 1000  # p is the error rate per 1000 tokens under `tokens` and `context`


def error_probability(rate: float, model: ErrorModel, prompt_tokens: int, gen_tokens: int) -> float:
    if rate <= 0:
        return 0.0
    if model == "step":
        return rate
    if model == "tokens":
        exposure = gen_tokens / PER_TOKENS
    elif model == "context":
        exposure = (prompt_tokens + gen_tokens) / PER_TOKENS
    else:  # position
        exposure = gen_tokens / PER_TOKENS * (prompt_tokens + gen_tokens / 2) / PER_TOKENS
    return 1.0 - (1.0 - rate) ** exposure


def step_rng(seed: int, request: Request, stream: str = "") -> random.Random:
    """A generator seeded by what the step is (seed, sample, thread, prompt), not by when it ran;
    `stream` names another draw of the same step (conformity, confidence) that must not shift
    this one's coins."""
    sample = request.request_id.rsplit("/", 1)[0]
    digest = hashlib.sha256(request.prompt.encode()).hexdigest()
    # a str seed is hashed with SHA-512 by `random`, the same in every process
    key = f"{seed}|{sample}|{request.thread_id}|{digest}"
    return random.Random(f"{stream}|{key}" if stream else key)


@dataclass(frozen=True, slots=True)
class Noise:
    rate: float
    model: ErrorModel
    seed: int
    corrupt: Corrupt

    def apply(self, request: Request, text: str, prompt_tokens: int, gen_tokens: int) -> str | None:
        """The corrupted response, or None when this step stays right (or the task has no
        mistake to make here)."""
        rng = step_rng(self.seed, request)
        p = error_probability(self.rate, self.model, prompt_tokens, gen_tokens)
        if rng.random() >= p:
            return None
        wrong = self.corrupt(request.prompt, text, rng)
        return wrong if wrong != text else None
