"""Does a server say which stop string ended a completion? One probe at backend start.

The adaptive dialects decide on the stop that ended a step (`</Outlines>`: fork; EOS: the trace
is done). Servers differ: vLLM reports it (`stop_reason`) and keeps it when asked
(`include_stop_str_in_output`); SGLang trims it unless `no_stop_trim` and reports it
(`matched_stop`); llama.cpp and OpenAI trim it and report nothing, and then a stop cannot be told
from the end of the sequence: every step looks final, nothing forks, and the run would be a silent
serial run reported `ok`. So the openai backend asks once, before any sample, and a run whose
strategy needs stop strings is refused in one line on a server that cannot say (`refusal`).

The probe: a greedy completion of a counting prompt (8 tokens, EOS ignored where the server allows),
special tokens kept as text, then the same request with a stop string cut from that output's
middle. The answer is
`reported` (the matched stop is named), `kept` (the text ends with it), `trimmed` (neither: the
text stops just before it) or `inconclusive` (the two greedy outputs disagree, or nothing to cut).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROBE_PROMPT = "1, 2, 3, 4, 5, 6, 7, 8, 9,"
PROBE_TOKENS = 8
USABLE = ("reported", "kept", "unchecked")  # "unchecked": the user turned the probe off


def pick_stop(text: str) -> tuple[int, str] | None:
    """A two-character stop string whose first occurrence is inside `text`, not at its start."""
    for i in range(1, len(text) - 1):
        s = text[i:i + 2]
        if s.strip() and text.find(s) == i:
            return i, s
    return None


def classify(free: str, choice: dict[str, Any], at: int, stop: str) -> str:
    reported = choice.get("stop_reason", choice.get("matched_stop"))
    text = choice.get("text") or ""
    if reported == stop:
        return "reported"
    if text.endswith(stop) and text == free[: at + len(stop)]:
        return "kept"
    if text == free[:at]:
        return "trimmed"
    return "inconclusive"


def probe_stops(complete: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
    """`complete(body)` posts a non-streamed /completions request and returns its first choice."""
    # special tokens as text: a model that only writes end-of-sequence (EOS ignored) still gives
    # text to cut a stop string from. No `min_tokens`: vLLM checks no stop string before it
    base = {"prompt": PROBE_PROMPT, "max_tokens": PROBE_TOKENS, "temperature": 0.0, "ignore_eos": True,
            "skip_special_tokens": False, "spaces_between_special_tokens": False}
    free = complete(base).get("text") or ""
    picked = pick_stop(free)
    if picked is None:
        return "inconclusive"
    at, stop = picked
    cut = complete(base | {"stop": [stop], "include_stop_str_in_output": False})
    return classify(free, cut, at, stop)


def refusal(stop_report: str | None, strategy: str) -> str | None:
    """The one line that refuses a run needing stop strings on a server that cannot say which
    matched; None when the run may go on."""
    if stop_report is None or stop_report in USABLE:
        return None
    why = {"trimmed": "trims the matched stop string and does not say which one matched",
           "inconclusive": "gave no clear answer to the stop-string probe"}.get(stop_report, stop_report)
    return (f"-s {strategy} decides on the stop string that ended each step, and the server {why}, so a "
            "fork could not be told from the end of the trace (a silent serial run): serve the model "
            "with vLLM or SGLang, which report it; or -M stop_probe=false if you know the server keeps "
            "stop strings in the text")
