"""The final answer of a math response (the last `\\boxed{…}`) and its grade by math-verify.

PaCoRe, ThreadWeaver, Multiverse and Parallel-R1 all report on math graded this way: the last
boxed expression is the answer, compared symbolically with the reference by Hugging Face's
`math-verify` (it parses LaTeX, so `\\frac{1}{2}` and `0.5` agree).
"""

from __future__ import annotations

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
