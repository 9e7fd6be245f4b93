"""A seeded token-confidence signal for the scripted backend: what a model's top-k
log-probabilities would say, so that DeepConf (docs/deepconf.md) runs and sweeps without a model.

Asked for only when a request wants log-probabilities (`Sampling.logprobs`). Each generated token
gets a confidence C = trace level + per-token noise, the trace level drawn once per step around
`confidence_level` (spread `confidence_spread`), the noise Gaussian (sd `confidence_noise`). A
step the noisy policy made wrong (backends/noise.py) is less confident from its first changed
token on: C drops by `confidence_gap` from an onset drawn uniformly between its first token and the token where its text
first differs from the right step's (a mistake is preceded by a stretch of hesitation, DeepConf's
premise; the task's mistakes are often written late, e.g. a Sudoku trace's one wrong cell is in
its final grid). So a low sliding-window confidence is evidence, not proof, of a mistake, as with
a real model: right traces dip by chance, and a wrong one whose onset is late looks confident
for most of it.

The generator is seeded by (error_seed, the step's sample key, thread, prompt), as the noise's
coin is (`noise.step_rng`), plus a tag that keeps the two streams apart: a step's confidences
depend only on what the step is, not on when it ran, and adding this signal changes no coin.
"""

from __future__ import annotations

from dataclasses import dataclass

from mplm_bench.backends.noise import step_rng
from mplm_bench.runtime.backend import Request


@dataclass(frozen=True, slots=True)
class ConfidenceSignal:
    level: float = 3.0  # mean token confidence of a right step
    gap: float = 0.5  # how much lower it is from a wrong step's first mistake on
    noise: float = 1.0  # sd of one token's confidence around its step's level
    spread: float = 0.2  # sd of a step's level across steps
    seed: int = 0

    def confidences(self, request: Request, n_tokens: int, wrong_from: int | None) -> list[float]:
        """`n_tokens` confidences; the step's text is wrong from token `wrong_from` on (None: right)."""
        rng = step_rng(self.seed, request, "confidence")
        level = rng.gauss(self.level, self.spread)
        cut = n_tokens if wrong_from is None else rng.randint(0, max(0, min(wrong_from, n_tokens)))
        return [round(rng.gauss(level - (self.gap if i >= cut else 0.0), self.noise), 3)
                for i in range(n_tokens)]
