"""How a `\\boxed{}` step goes wrong under the noisy scripted backend (`Task.corrupt`).

Only the step that writes the final `\\boxed{…}` can carry a mistake to the score: the scripted
trace policy writes every later step from the problem alone, so a wrong digit in a thread or an
intermediate line would never reach the answer. That step's answer is made wrong: one digit of
it replaced by another (a miscounted product; drawn from `rng`, so wrong answers scatter as a
model's do and a vote over repeats can still find the right one), or, when it has no digit,
`+1` appended. Steps without a box stay as they are. A verifier's step (a `verify` prompt,
runtime/prompt_kinds.py) goes wrong by its verdict: correct becomes incorrect and back.

Under the default `tokens` error model the chance of a mistake grows with the step's length, and
the final step of a parallel trace is short; `-M error_model=step` makes every step wrong with
probability `error_rate` (so the final answer is wrong that often).
"""

from __future__ import annotations

import random

from mplm_bench.runtime.prompt_kinds import read_verdict, render_verdict

_BOX = "\\boxed{"


def corrupt_boxed(response: str, rng: random.Random) -> str:
    start = response.rfind(_BOX)
    if start < 0:
        return response
    i = start + len(_BOX)
    end = _close(response, i)
    if end < 0:
        return response  # an unclosed box reads as no answer already
    answer = response[i:end]
    return response[:i] + wrong_answer(answer, rng) + response[end:]


def wrong_answer(answer: str, rng: random.Random) -> str:
    digits = [k for k, c in enumerate(answer) if c.isdigit()]
    if not digits:
        return answer + "+1"
    k = rng.choice(digits)
    # no leading zero: `0123` would read as the number 123 with a dropped digit, not a wrong one
    lead = k == 0 or not answer[k - 1].isdigit()
    choices = [d for d in "0123456789" if d != answer[k] and not (d == "0" and lead and len(digits) > 1)]
    return answer[:k] + rng.choice(choices) + answer[k + 1:]


def _close(text: str, i: int) -> int:
    """Index of the brace closing the box opened just before `i`, or -1."""
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def corrupt_verdict(response: str) -> str:
    """The verifier's reply with its last verdict turned round (none: left as it is)."""
    verdict = read_verdict(response)
    if verdict is None:
        return response
    old = render_verdict(verdict)
    at = response.rfind(old)
    return response if at < 0 else response[:at] + render_verdict(not verdict) + response[at + len(old):]
