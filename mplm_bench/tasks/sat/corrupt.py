"""How a 3-SAT step goes wrong under the noisy scripted backend (`Task.corrupt`).

Every mistake is a wrong verdict, written in the step's own protocol text (docs/protocols.md §3):
- a leaf or a conclusion (FJ/MPLM thread, or the root's `<stop>`): SAT and UNSAT are swapped
  throughout the step, so the message its parent receives is the wrong one;
- a branch step: the thread decides its subformula on the spot instead of branching, with a
  verdict drawn at random (a premature leaf) — so under `error_model=step` every kind of step can
  err, not only the half of the steps that carry a verdict;
- an MPLM thread that should wait for its second child after one `{UNSAT.}`: it concludes UNSAT;
- a serial trace or a synthesizer's answer: the final verdict is flipped and the work above it
  left as it was (a careful reader of the text can catch that; the scorer does not).
"""

from __future__ import annotations

import random
import re

from mplm_bench.tasks.sat.policies import read_prompt
from mplm_bench.tasks.sat.traces import CONCLUSION, TRY_UNITS, WAIT, conclusion, report, verdict

_VERDICT = re.compile(r"\b(UN)?SAT\.")
_STOP_BODY = re.compile(r"<\s*stop\s*>(.*?)<\s*/\s*stop\s*>", re.I | re.S)


def _flip(text: str, count: int = 0) -> str:
    return _VERDICT.sub(lambda m: "SAT." if m.group(1) else "UNSAT.", text, count=count)


def corrupt_step(prompt: str, response: str, rng: random.Random) -> str:
    if "<spawn" in response and response.startswith(TRY_UNITS):
        head = response[: response.find("\nBranch on")]
        sat = rng.random() < 0.5
        return f"{head}\nResult: {verdict(sat)}\n{report(sat, read_prompt(prompt).parent)}"
    if response.strip() == WAIT:
        return conclusion(False, read_prompt(prompt).parent)
    body = list(_STOP_BODY.finditer(response))
    if response.startswith((TRY_UNITS, CONCLUSION)) or (body and body[-1].start() == 0):
        return _flip(response)  # a leaf or conclusion: one verdict, written up to three times
    if body:
        m = body[-1]
        return response[: m.start(1)] + _flip(m.group(1), count=1) + response[m.end(1) :]
    return response
