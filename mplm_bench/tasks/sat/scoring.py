"""Score a final answer: the SAT/UNSAT verdict against the label, as in the MPLM paper, and —
beyond it — any assignment the answer carries, checked clause by clause against the formula."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mplm_bench.tasks.base import Score
from mplm_bench.tasks.sat.dpll import satisfies

_VERDICT = re.compile(r"\b(UNSAT(?:ISFIABLE)?|SAT(?:ISFIABLE)?)\b", re.I)
# `x3 = True`, `x3=1`, `x3: F` …
_PAIR = re.compile(r"\bx(\d+)\s*[=:]\s*(true|false|t|f|1|0)\b", re.I)
# a DIMACS solution line `v 1 -2 3 0`
_V_LINE = re.compile(r"^\s*v((?:\s+-?\d+)+)\s*$", re.M)
# a list of signed ints `[1, -2, 3]`
_INT_LIST = re.compile(r"\[\s*(-?\d+(?:\s*,\s*-?\d+)*)\s*,?\s*\]")


@dataclass(frozen=True, slots=True)
class Answer:
    verdict: str | None  # "SAT" / "UNSAT" / None when neither word is there
    assignment: dict[int, bool] | None  # None when the answer carries none
    consistent: bool = True  # False if the answer gives a variable both values


def parse_answer(text: str | None) -> Answer:
    if not text:
        return Answer(None, None)
    m = _VERDICT.search(text)
    verdict = None if m is None else ("UNSAT" if m.group(1).upper().startswith("UNSAT") else "SAT")
    lits: list[int] = []
    pairs = _PAIR.findall(text)
    if pairs:
        lits = [int(v) if val.lower() in ("true", "t", "1") else -int(v) for v, val in pairs]
    elif vlines := _V_LINE.findall(text):
        lits = [int(t) for line in vlines for t in line.split() if int(t) != 0]
    elif lst := _INT_LIST.search(text):
        lits = [int(t) for t in lst.group(1).split(",") if int(t) != 0]
    if not lits:
        return Answer(verdict, None)
    assignment: dict[int, bool] = {}
    consistent = True
    for lit in lits:
        if assignment.setdefault(abs(lit), lit > 0) != (lit > 0):
            consistent = False
    return Answer(verdict, assignment, consistent)


def score_answer(clauses: Sequence[Sequence[int]], label: str, text: str | None) -> Score:
    """`correct`: with a SAT verdict and an assignment, the assignment must satisfy every clause
    (`sat_verified="assignment"`); otherwise the verdict must equal the label
    (`sat_verified="label"`) — so an UNSAT answer on a satisfiable formula is wrong."""
    ans = parse_answer(text)
    extra = {"sat_verified": "label"}
    if ans.verdict == "SAT" and ans.assignment is not None:
        extra["sat_verified"] = "assignment"
        # a satisfying assignment is a proof: it wins even over a (wrong) UNSAT label
        correct = ans.consistent and satisfies(clauses, ans.assignment)
    else:
        correct = ans.verdict is not None and ans.verdict == label
    return Score(correct=correct, score=float(correct), parsed=ans.verdict, extra=extra)
