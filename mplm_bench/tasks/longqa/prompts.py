"""The prompts of the long-context protocols (docs/protocols.md §4), written for prompted instruct models.

Harness-driven: the model writes plain text, so prompts ask for plain text — a summary, an answer,
`[id]: question` lines, a final `The correct answer is (X)` — and resumed prompts say in words
what arrived ("Question from the coordinator: …"). The wording is this project's own; the answer
line is LongBench-v2's. The scripted policies read these prompts back with the helpers at the
end, which is all they know.
"""

from __future__ import annotations

import re

from mplm_bench.tasks.longqa.records import LETTERS, Record

CUT_MARKER = "[… {cut} tokens of the document are left out here …]"
QUESTION = "Question: "
ASK_EXAMPLE = "[2]: What does your part say about the harbour?"
NOT_IN_PART = "Not in my part."
NOTHING_RELEVANT = "Nothing relevant in this part."

COT_HEAD = "Read the document below, then answer the question that follows it.\n\n<document>\n"
READER_HEAD = "You are reader {i} of {n}."
WORKER_HEAD = "You are worker {i} of {n}."
MPLM_MASTER = ("You coordinate {n} readers. Each has read one part of a long document that you "
               "cannot see; their summaries follow, then the question you must answer.")
FJ_MASTER = ("You coordinate {n} workers. Each has read one part of a long document that you "
             "cannot see, together with the question; their reports follow, then the question.")
COORDINATOR_ASKS = "Question from the coordinator: "
SUMMARY_FROM, ANSWER_FROM, REPORT_FROM = "Summary from reader", "Answer from reader", "Report from worker"


def question_block(record: Record) -> str:
    lines = [QUESTION + record.question]
    lines += [f"({k}) {c}" for k, c in zip(LETTERS, record.choices, strict=False)]
    return "\n".join(lines)


def answer_line(multiple_choice: bool) -> str:
    if multiple_choice:
        return 'end with one line of the form "The correct answer is (X)", where X is A, B, C or D.'
    return 'end with one line of the form "Answer: ..." giving the short answer (a name, a word or a number).'


def cot_prompt(context: str, record: Record) -> tuple[str, ...]:
    """Segments: the document apart, so a token counter counts it once for K trajectories."""
    tail = f"\n</document>\n\n{question_block(record)}\n\nThink it through, then {answer_line(record.multiple_choice)}"
    return (COT_HEAD, context, tail)


def _part(i: int, n: int, chunk: str) -> tuple[str, str, str]:
    return (f"\n\n<part {i} of {n}>\n", chunk, "\n</part>\n\n")


def reader_prompt(i: int, n: int, chunk: str, budget_tokens: int) -> tuple[str, ...]:
    words = max(50, budget_tokens * 3 // 4)
    intro = (READER_HEAD.format(i=i, n=n) + f" You hold part {i} of {n} of a long document; other "
             "readers hold the other parts. A coordinator, who cannot see the document, will read "
             "your summary and may then ask you questions about your part.")
    ask = (f"Summarise your part for the coordinator in at most {words} words: what it is about, and "
           "every name, place, number and other specific fact it mentions. Write only the summary.")
    return (intro, *_part(i, n, chunk), ask)


def reader_resume(previous: str, questions: list[str]) -> tuple[str, ...]:
    asked = "\n".join(questions)
    return ("\n\n", previous, f"\n\n{COORDINATOR_ASKS}{asked}\n\nAnswer from your part of the document, "
            f"quoting the sentences that support your answer. If your part does not say, answer: {NOT_IN_PART}")


def worker_prompt(i: int, n: int, chunk: str, record: Record) -> tuple[str, ...]:
    intro = (WORKER_HEAD.format(i=i, n=n) + f" You see part {i} of {n} of a long document and a question "
             "about the whole document; other workers see the other parts, and a coordinator will "
             "combine your report with theirs.")
    ask = (f"{question_block(record)}\n\nReport in a few sentences what your part says that bears on the "
           "question: quote each sentence of your part that could matter, and give the answer if your "
           f"part settles it. If nothing in your part matters, write: {NOTHING_RELEVANT}")
    return (intro, *_part(i, n, chunk), ask)


def rounds_note(rounds_left: int, multiple_choice: bool) -> str:
    if rounds_left <= 0:
        return f"No questions are left: answer now, and {answer_line(multiple_choice)}"
    s = "" if rounds_left == 1 else "s"
    return (f"You may ask readers about their parts before you answer ({rounds_left} round{s} of "
            "questions left). To ask, write one line per reader you want to ask, of the form "
            f'"[id]: question", for example "{ASK_EXAMPLE}", and nothing else. When you can answer, '
            f"{answer_line(multiple_choice)}")


def blocks(header: str, items: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"{header} [{sender}]:\n{text}" for sender, text in items)


# -- reading prompts back (the scripted policies) ---------------------------------------------
_PART = re.compile(r"\n<part (\d+) of (\d+)>\n(.*?)\n</part>\n", re.S)
_BLOCK = re.compile(rf"^({SUMMARY_FROM}|{ANSWER_FROM}|{REPORT_FROM}) \[([^\]\n]+)\]:\n", re.M)
_ASKED = re.compile(r"^\[([^\]\n]+)\]:[ \t]*(\S.*)$", re.M)
_ROUNDS = re.compile(r"\((\d+) rounds? of questions left\)|(No questions are left)")
_CHOICE = re.compile(r"^\(([A-D])\) (.*)$", re.M)
_AFTER_BLOCKS = ("\n\n" + QUESTION, "\n\nYou may ask readers", "\n\nNo questions are left",
                 "\n\nCombine the reports")


def read_part(prompt: str) -> tuple[int, int, str] | None:
    m = _PART.search(prompt)
    return (int(m.group(1)), int(m.group(2)), m.group(3)) if m else None


def read_blocks(prompt: str, header: str) -> list[tuple[str, str]]:
    """(sender, text) of every `HEADER [id]:` block; a block runs to the next block or blank-line
    paragraph that is not its own (summaries may hold blank lines: they end at the question)."""
    heads = list(_BLOCK.finditer(prompt))
    out = []
    for k, m in enumerate(heads):
        if m.group(1) != header:
            continue
        end = heads[k + 1].start() if k + 1 < len(heads) else len(prompt)
        text = prompt[m.end() : end]
        stops = [i for s in _AFTER_BLOCKS if (i := text.find(s)) >= 0]
        out.append((m.group(2), text[: min(stops, default=len(text))].strip()))
    return out


def read_asked(prompt: str) -> list[tuple[str, str]]:
    """The `[id]: question` lines a master has written so far."""
    return _ASKED.findall(prompt)


def read_rounds_left(prompt: str) -> int:
    found = _ROUNDS.findall(prompt)
    if not found:
        return 0
    number, none = found[-1]
    return 0 if none else int(number)


def read_choices(prompt: str) -> dict[str, str]:
    """The options of the prompt's (last) question block; {} for a short-answer question."""
    i = prompt.rfind("\n" + QUESTION)
    block = prompt[i + 1 :].split("\n\n", 1)[0] if i >= 0 else ""
    return dict(_CHOICE.findall(block))


def last_coordinator_question(prompt: str) -> str:
    i = prompt.rfind(COORDINATOR_ASKS)
    if i < 0:
        return ""
    text = prompt[i + len(COORDINATOR_ASKS):]
    return text.split("\n\nAnswer from your part", 1)[0]
