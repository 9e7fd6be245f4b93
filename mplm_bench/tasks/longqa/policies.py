"""Scripted reference policies for the offline set: each reads only its prompt, like a model.

- MPLM reader: its first step names what its part is about and every person, town, variable and
  collected item the part mentions (not the facts themselves: a summary under a budget, written
  before the question is known); asked about an entity, it quotes the sentences of its part that
  mention it, following a link to another entity when that is in its part too.
- MPLM master: asks the readers whose summaries name the entity the question needs next (the
  question's own, then the town or variable an answer pointed to), one round at a time, and
  answers as soon as the quoted sentences settle the question (an aggregate: once every reader
  that named the item has answered). Out of rounds or leads, it guesses (A) / "unknown".
- FJ worker: quotes the sentences of its part that could bear on the question; the FJ master
  (the reducer) answers from all the quotes.
- CoT: reads the facts of the whole document in its prompt; a PaCoRe synthesis prompt is
  answered by checking each reference's answer against the document.
"""

from __future__ import annotations

import re

from mplm_bench.runtime.synthesis import is_synthesis, parse_synthesis
from mplm_bench.tasks.base import Policy
from mplm_bench.tasks.longqa import prompts
from mplm_bench.tasks.longqa.facts import (
    Fact,
    Question,
    find_facts,
    find_question,
    relevant,
    resolve,
)
from mplm_bench.tasks.longqa.scoring import normalize, parse_letter, parse_short

_TITLE = re.compile(r"^(\S[^\n]{2,80})\n[*=]{3,}$", re.M)
_ABOUT = re.compile(r"about (?:VAR |the town of )?(.+?)\?")
UNKNOWN = "unknown"


def entity_phrase(entity: str, facts: list[Fact]) -> str:
    """How a summary or question names an entity: `VAR X`, `the town of T`, or as is."""
    if any(f.kind in ("value", "alias") and entity in (f.subject, f.value) for f in facts):
        return f"VAR {entity}"
    if any((f.kind == "known" and f.subject == entity) or (f.kind == "lives" and f.value == entity)
           for f in facts):
        return f"the town of {entity}"
    return entity


def _names(text: str, entity: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(entity)}(?![\w])", text) is not None


def final_line(answer: str | None, choices: dict[str, str]) -> str:
    if not choices:
        return f"Answer: {answer or UNKNOWN}"
    want = normalize(answer or "")
    letter = next((k for k, c in sorted(choices.items()) if normalize(c) == want), "A")
    return f"The correct answer is ({letter})"


def answer_text(question: Question, facts: list[Fact], choices: dict[str, str], complete: bool = True) -> str:
    res = resolve(question, facts, complete=complete)
    lines = [f.sentence for f in res.used]
    if res.answer is None:
        lines.append("The evidence does not settle it, so I guess.")
    return "\n".join([*lines, final_line(res.answer, choices)])


# -- MPLM ---------------------------------------------------------------------------------------
def reader_summary(chunk: str) -> str:
    titles = list(dict.fromkeys(_TITLE.findall(chunk)))[:3]
    about = "; ".join(titles) if titles else "a stretch of technical prose"
    facts = find_facts(chunk)
    names = list(dict.fromkeys(entity_phrase(e, facts) for f in facts for e in f.entities()))
    mentions = f"It mentions {', '.join(names)}." if names else "It names no people, towns, variables or collections."
    return f"This part is mostly Python documentation: {about}. {mentions}"


def reader_answer(chunk: str, question: str) -> str:
    facts = find_facts(chunk)
    wanted = set(_ABOUT.findall(question))
    quoted: list[Fact] = []
    while True:  # follow links that stay inside this part
        new = [f for f in facts if f not in quoted and any(f.mentions(e) for e in wanted)]
        if not new:
            break
        quoted += new
        wanted |= {f.value for f in new if f.kind in ("lives", "alias")}
    if not quoted:
        return prompts.NOT_IN_PART
    return "From my part: " + " ".join(f.sentence for f in quoted)


def reader_policy(prompt: str) -> str:
    part = prompts.read_part(prompt)
    chunk = part[2] if part else ""
    if prompts.COORDINATOR_ASKS not in prompt:
        return reader_summary(chunk)
    return reader_answer(chunk, prompts.last_coordinator_question(prompt))


def mplm_master_policy(prompt: str) -> str:
    question = find_question(prompt)
    choices = prompts.read_choices(prompt)
    if question is None:
        return final_line(None, choices)
    summaries = dict(prompts.read_blocks(prompt, prompts.SUMMARY_FROM))
    answers = prompts.read_blocks(prompt, prompts.ANSWER_FROM)
    facts = find_facts("\n".join(t for _, t in answers) + "\n" + "\n".join(summaries.values()))
    asked: dict[str, set[str]] = {}
    for rid, line in prompts.read_asked(prompt):
        for entity in _ABOUT.findall(line):
            asked.setdefault(entity, set()).add(rid.strip())
    # an aggregate is settled once every reader that named the item has been asked about it
    mentioners = {e: {rid for rid, s in summaries.items() if _names(s, e)} for e in [question.entity]}
    complete = question.kind != "aggregate" or mentioners[question.entity] <= asked.get(question.entity, set())
    res = resolve(question, facts, complete=complete)
    if res.answer is None and res.needed is not None and prompts.read_rounds_left(prompt) > 0:
        targets = sorted((rid for rid, s in summaries.items() if _names(s, res.needed)
                          and rid not in asked.get(res.needed, set())), key=int)
        if targets:
            if question.kind == "chain":
                phrase = f"VAR {res.needed}"
            elif question.kind == "multihop" and res.needed != question.entity:
                phrase = f"the town of {res.needed}"
            else:
                phrase = res.needed
            return "\n".join(f"[{rid}]: What does your part say about {phrase}?" for rid in targets)
    return answer_text(question, facts, choices, complete=True)


def mplm_policy(prompt: str) -> str:
    return reader_policy(prompt) if prompt.startswith("You are reader ") else mplm_master_policy(prompt)


# -- fork-join ---------------------------------------------------------------------------------
def worker_policy(prompt: str) -> str:
    part = prompts.read_part(prompt)
    chunk = part[2] if part else ""
    question = find_question(prompt[prompt.rfind("\n</part>"):])
    facts = [f for f in find_facts(chunk) if question is not None and relevant(f, question)]
    if not facts or question is None:
        return prompts.NOTHING_RELEVANT
    report = "From this part: " + " ".join(f.sentence for f in facts)
    settled = resolve(question, facts, complete=False).answer
    return report + (f"\nThis settles it: {settled}." if settled is not None else "")


def fj_master_policy(prompt: str) -> str:
    question = find_question(prompt)
    choices = prompts.read_choices(prompt)
    if question is None:
        return final_line(None, choices)
    reports = prompts.read_blocks(prompt, prompts.REPORT_FROM)
    return answer_text(question, find_facts("\n".join(t for _, t in reports)), choices)


def fj_policy(prompt: str) -> str:
    return worker_policy(prompt) if prompt.startswith("You are worker ") else fj_master_policy(prompt)


# -- serial (CoT, and PaCoRe's synthesis) ----------------------------------------------------------
def _document(prompt: str) -> str:
    start = prompt.find(prompts.COT_HEAD)
    end = prompt.rfind("\n</document>")
    return prompt[start + len(prompts.COT_HEAD) : end] if start >= 0 and end > start else ""


def cot_policy(prompt: str) -> str:
    tail = prompt[prompt.rfind("\n</document>"):]
    question, choices = find_question(tail), prompts.read_choices(tail)
    if question is None:
        return final_line(None, choices)
    return answer_text(question, find_facts(_document(prompt)), choices)


def synthesis_policy(prompt: str) -> str:
    """Check each reference's answer against the document in the original problem; keep the
    first that the document bears out, else answer from the document alone."""
    view = parse_synthesis(prompt)
    tail = view.original[view.original.rfind("\n</document>"):]
    question, choices = find_question(tail), prompts.read_choices(tail)
    own = cot_policy(view.original)
    if question is None:
        return own
    want = resolve(question, find_facts(_document(view.original))).answer
    mine = parse_letter(own) if choices else parse_short(own)
    lines = []
    for i, ref in enumerate(view.references, 1):
        theirs = parse_letter(ref) if choices else parse_short(ref)
        if theirs is not None and want is not None and theirs == mine:
            lines.append(f"Reference {i} answers {theirs}, and the document bears it out.")
            return "\n".join([*lines, final_line(want, choices)])
        lines.append(f"Reference {i} answers {theirs or 'nothing'}, which the document does not bear out.")
    return "\n".join([*lines, own])


def serial_policy(prompt: str) -> str:
    return synthesis_policy(prompt) if is_synthesis(prompt) else cot_policy(prompt)


POLICIES: dict[str, Policy] = {"serial": serial_policy, "fj": fj_policy, "mplm": mplm_policy}
