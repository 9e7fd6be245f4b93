"""The prompt contract between strategies and the tasks' scripted reference policies.

A strategy sends prompts of a few kinds; a reference policy must tell them apart from the text
alone (it sees nothing else), so every kind has one renderer and one reader, here or referenced
from here. A strategy declares the kinds it sends (`Strategy.sends`), a task the kinds its policy
answers under a protocol (`Task.answers`); `plan` refuses a scripted run whose strategy sends a
kind the policy does not answer, and `mplm-bench list` marks the pair the same way
(strategies/contract.py). docs/architecture.md §5 lists the kinds.

- `problem`: the task's own prompt under the protocol (`Task.prompt` / `Task.setup`), and every
  prompt that protocol's own threads send each other (fj workers, MPLM peers). Rendered by the
  task; what every strategy sends.
- `synthesis`: PaCoRe's template, the problem and earlier responses as references
  (`render_synthesis` / `parse_synthesis` in runtime/synthesis.py, an interface kept verbatim).
- `verify`: a problem and one candidate response, to be judged; the reply ends with a verdict
  line (`render_verify` / `parse_verify`, `render_verdict` / `read_verdict` below).
- `continuation`: a step inside one assistant turn (the adaptive controllers, docs/parallel.md):
  the user text, `ASSISTANT_MARK`, and the assistant text so far (`Request.policy_text`;
  `split_continuation` below).

A prompt of a kind the policy does not answer must never be answered as its own problem: the
reference policy refuses it (`tasks/base.ReferencePolicy`), so an undeclared pairing fails loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mplm_bench.runtime.backend import ASSISTANT_MARK
from mplm_bench.runtime.synthesis import (
    is_synthesis,
    parse_synthesis,
    render_synthesis,
    two_sections,
)

__all__ = [
    "ASSISTANT_MARK", "PromptKind", "UnansweredPrompt", "VerifyView", "is_synthesis", "is_verify", "kind_of",
    "parse_synthesis", "parse_verify", "read_verdict", "render_synthesis", "render_verdict", "render_verify",
    "split_continuation",
]


class PromptKind(StrEnum):
    PROBLEM = "problem"
    SYNTHESIS = "synthesis"
    VERIFY = "verify"
    CONTINUATION = "continuation"


class UnansweredPrompt(ValueError):
    """A reference policy got a prompt of a kind it does not answer."""


def kind_of(policy_text: str) -> PromptKind:
    """The kind of a prompt as a policy reads it (`Request.policy_text`); `problem` when it is
    none of the others."""
    if ASSISTANT_MARK in policy_text:
        return PromptKind.CONTINUATION
    if is_synthesis(policy_text):
        return PromptKind.SYNTHESIS
    if is_verify(policy_text):
        return PromptKind.VERIFY
    return PromptKind.PROBLEM


def split_continuation(policy_text: str) -> tuple[str, str | None]:
    """(user text, assistant text so far); None for a prompt that is not a continuation."""
    user, marked, assistant = policy_text.partition(ASSISTANT_MARK)
    return (user, assistant) if marked else (user, None)


# -- verify ------------------------------------------------------------------------------------
VERIFY_PREFIX = "You are given a problem and a candidate response to it."
_VERIFY_HEAD = (VERIFY_PREFIX + " Check the response step by step and judge whether its final "
                "answer is correct.")
_PROBLEM = "\n\nProblem:\n"
_CANDIDATE = "\n\nCandidate Response:\n"
_VERIFY_CLOSING = '\n\nEnd your reply with one line: "Verdict: correct" or "Verdict: incorrect".'
_VERDICT = re.compile(r"^[ \t]*Verdict:[ \t]*(correct|incorrect)\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class VerifyView:
    problem: str  # the task's prompt for the problem, as the candidate got it
    candidate: str  # the candidate's whole response


def render_verify(problem: str, candidate: str) -> str:
    return f"{_VERIFY_HEAD}{_PROBLEM}{problem}{_CANDIDATE}{candidate}{_VERIFY_CLOSING}"


def is_verify(prompt: str) -> bool:
    return prompt.startswith(VERIFY_PREFIX)


def parse_verify(prompt: str) -> VerifyView:
    """Invert `render_verify`. The candidate is the text between its header and the closing
    instruction (the last one: a candidate that quotes the closing line is still read whole)."""
    if not is_verify(prompt):
        raise ValueError("not a verify prompt")
    found = two_sections(prompt, _PROBLEM, _CANDIDATE, _VERIFY_CLOSING)
    if found is None:
        raise ValueError("verify prompt without its problem or candidate")
    return VerifyView(*found)


def render_verdict(correct: bool) -> str:
    return f"Verdict: {'correct' if correct else 'incorrect'}"


def read_verdict(response: str | None) -> bool | None:
    """The last verdict line of a verifier's reply: True (correct), False, None (no verdict)."""
    found = _VERDICT.findall(response or "")
    return None if not found else found[-1].lower() == "correct"
