"""The final answer of a math response (the last `\\boxed{…}`) and its grade by math-verify.

PaCoRe, ThreadWeaver, Multiverse and Parallel-R1 all report on math graded this way: the last
boxed expression is the answer, compared symbolically with the reference by Hugging Face's
`math-verify` (it parses LaTeX, so `\\frac{1}{2}` and `0.5` agree).
"""

from __future__ import annotations

import re
from functools import lru_cache

_BOXES = ("\\boxed{", "\\fbox{")


def last_boxed(text: str | None) -> str | None:
    """The content of the last `\\boxed{…}` (braces balanced), or None."""
    if not text:
        return None
    start = max(text.rfind(b) for b in _BOXES)
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
        j += 1
    return None  # unbalanced: the box was never closed


# Parallel-R1's answer line (its prompt: "End your response with a line starting with Final Answer:";
# its reward, verl/verl/utils/reward_score/gsm8k*.py: r"Final Answer:\s*([-]?[0-9\.\,]+)"); read
# here up to the end of the line, so non-numeric answers are graded too
_FINAL_LINE = re.compile(r"Final Answer:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def final_answer(text: str | None) -> str | None:
    """The last `\\boxed{…}`; when there is none, the last `Final Answer:` line's text."""
    boxed = last_boxed(text)
    if boxed is not None or not text:
        return boxed
    lines = _FINAL_LINE.findall(text)
    return last_boxed(lines[-1]) or lines[-1].strip().rstrip(".") if lines else None


@lru_cache(maxsize=4096)
def _parsed(latex: str) -> object:
    from math_verify import parse

    return parse(f"${latex}$")


def verify(gold: str, answer: str) -> bool:
    """math-verify's verdict on `answer` against `gold` (both LaTeX, without `\\boxed`)."""
    from math_verify import verify as mv

    g, a = _parsed(gold), _parsed(answer)
    if not g or not a:
        return gold.strip() == answer.strip()  # nothing parsable: only an exact match counts
    try:
        return bool(mv(g, a))
    except Exception:  # math-verify raises on some exotic inputs; a failed compare is wrong
        return False
