"""PaCoRe's synthesis prompt: the published template, its rendering, and a reader for policies.

The template is an interface (docs/protocols.md §5): PaCoRe-8B was trained on exactly this text
(stepfun-ai/PaCoRe, report Table 6; arXiv 2601.05593). It is reproduced byte for byte, as the
reference code writes it: a Python string with a leading line continuation and a trailing newline,
rendered by `jinja2.Template` with default settings (which drop that single trailing newline).

The reader lives here too, next to the template it inverts, because the scripted reference
policies of every task must recognise and parse a synthesis prompt from its text alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# stepfun-ai/PaCoRe (report Table 6, arXiv 2601.05593): the controller prompt, verbatim.
SYNTHESIS_TEMPLATE = """\
You are given a problem and a list of reference responses. Your job is to analyze these references and provide your own response.

Original Problem:
{{ original_prompt }}

Reference Responses:
{% for response in ref_responses %}
Reference {{ loop.index }}:
{{ response }}
{% endfor %}

Now, based on the original problem and reference responses above, please provide your own comprehensive solution.
"""

# What a rendered synthesis prompt starts with, and the fixed text around its two slots.
SYNTHESIS_PREFIX = "You are given a problem and a list of reference responses."
_ORIGINAL = "\n\nOriginal Problem:\n"
_REFERENCES = "\n\nReference Responses:\n"
_CLOSING = (
    "\n\nNow, based on the original problem and reference responses above, please provide your "
    "own comprehensive solution."
)


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2  # light, but only runs that synthesise need it

    return jinja2.Template(SYNTHESIS_TEMPLATE)


def render_synthesis(original_prompt: str, ref_responses: list[str]) -> str:
    return str(_template().render(original_prompt=original_prompt, ref_responses=ref_responses))


def synthesis_segments(original_prompt: str, ref_responses: list[str]) -> list[str]:
    """`render_synthesis` cut into segments: the text between references, and each reference
    whole. Joined, exactly the Jinja rendering (the cut points are found in it, not assumed);
    apart, a token counter sees each reference as the response text it has already counted."""
    text = render_synthesis(original_prompt, ref_responses)
    cuts: list[int] = []
    pos = text.find(_REFERENCES) + len(_REFERENCES)
    for ref in ref_responses:
        start = text.find(f"Reference {len(cuts) // 2 + 1}:\n", pos)
        start = text.find(ref, start) if start >= 0 else -1
        if start < 0 or not ref:
            return [text]  # not expected; one segment is always right
        cuts += [start, start + len(ref)]
        pos = start + len(ref)
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@dataclass(frozen=True, slots=True)
class SynthesisView:
    original: str
    references: list[str]


def is_synthesis(prompt: str) -> bool:
    return prompt.startswith(SYNTHESIS_PREFIX)


def two_sections(prompt: str, first: str, second: str, closing: str) -> tuple[str, str] | None:
    """The texts after the `first` and `second` headers of a rendered template, up to the last
    `closing` (a body that quotes the closing line is still read whole); None if one is missing."""
    a = prompt.find(first)
    b = prompt.find(second, a + len(first)) if a >= 0 else -1
    end = prompt.rfind(closing)
    if min(a, b, end) < 0 or end < b:
        return None
    return prompt[a + len(first) : b], prompt[b + len(second) : end]


def parse_synthesis(prompt: str) -> SynthesisView:
    """Invert `render_synthesis`: the original problem and the references, in order.

    The rendered loop is `⏎Reference i:⏎TEXT⏎` per reference, so references are split at
    `⏎Reference 1:⏎`, `⏎Reference 2:⏎`, … found one after the other. A reference that itself
    contains the next header line is ambiguous to any reader (a model too); it splits there.
    """
    if not is_synthesis(prompt):
        raise ValueError("not a PaCoRe synthesis prompt")
    found = two_sections(prompt, _ORIGINAL, _REFERENCES, _CLOSING)
    if found is None:
        raise ValueError("synthesis prompt without its original problem or references")
    original, section = found
    refs: list[str] = []
    header = "\nReference 1:\n"
    pos = section.find(header)
    while pos >= 0:
        start = pos + len(header)
        header = f"\nReference {len(refs) + 2}:\n"
        nxt = section.find(header, start)
        stop = nxt if nxt >= 0 else len(section)
        refs.append(section[start : stop - 1] if stop > start else "")  # drop the loop's `⏎`
        pos = nxt
    return SynthesisView(original, refs)
