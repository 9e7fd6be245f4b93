"""Per-sample diversity and influence metrics over a sample's branches (docs/metrics.md,
"Diversity and influence"). Pure functions: a `SampleBranches` whose branches are already graded
(`parsed`, `correct`) in, numbers out; the report (diversity_report.py) does the reading.

- agreement: share of the inputs that give the modal answer (None, no answer, would count in the
  denominator, never as the mode; the report passes answered branches only, `keep_answered`);
  entropy (bits) of the answers given; mean pairwise n-gram Jaccard of texts;
- oracle gap: some input was correct, the final answer is wrong; emergent correctness: the final
  answer is correct while every input was wrong;
- conformity, per reader (a branch that read other branches and has a previous answer of its own):
  vulnerable = was right, now wrong; vulnerable_majority = was right, now gives the wrong modal
  answer of what it read; recovered = was wrong, now right; adopted = now gives the modal answer of
  what it read;
- influence: messages the final answer read directly, and the threads in its causal past.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import combinations
from typing import Any

from mplm_bench.analysis.branches import Branch, SampleBranches

NGRAM = 3  # word trigrams: cheap, and blind to a shared prompt's boilerplate only when it differs
MAX_SIMILARITY_BRANCHES = 32  # pairs grow quadratically; the first 32 inputs by id stand for all
_TOKEN = re.compile(r"\w+|[^\w\s]")
NAN = float("nan")


def modal(parsed: list[str | None]) -> tuple[str | None, int]:
    """(modal answer, its count): the most common given answer, ties to the smallest string (as
    self-consistency's vote breaks them, strategies/sc.py); None answers never win."""
    counts = Counter(p for p in parsed if p is not None)
    if not counts:
        return None, 0
    best = max(counts.values())
    return min(a for a, n in counts.items() if n == best), best


def modal_share(parsed: list[str | None]) -> float:
    return modal(parsed)[1] / len(parsed) if parsed else NAN


def answer_entropy(parsed: list[str | None]) -> float:
    """Shannon entropy in bits of the answers given (0: all agree); nan when none answered."""
    counts = Counter(p for p in parsed if p is not None)
    total = sum(counts.values())
    if not total:
        return NAN
    return max(0.0, -sum(n / total * math.log2(n / total) for n in counts.values()))


def shingles(text: str, n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < n:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def mean_pairwise_similarity(texts: list[str], n: int = NGRAM) -> float:
    """Mean n-gram Jaccard over all pairs of texts; nan with fewer than two."""
    sets = [shingles(t, n) for t in texts[:MAX_SIMILARITY_BRANCHES]]
    pairs = list(combinations(sets, 2))
    return sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else NAN


def conformity(sample: SampleBranches) -> dict[str, int]:
    """Counts over the sample's readers (see the module docstring)."""
    out = {"readers": 0, "prior_right": 0, "vulnerable": 0, "vulnerable_majority": 0, "prior_wrong": 0,
           "recovered": 0, "adopted": 0}
    for b in sample.branches.values():
        read = [sample.branches[t] for t in b.consumed if t in sample.branches and t != b.thread_id]
        prior = sample.prior(b.thread_id)
        if not read or prior is None:
            continue
        mode, _ = modal([r.parsed for r in read])
        out["readers"] += 1
        out["adopted"] += b.parsed is not None and b.parsed == mode
        if prior.correct:
            out["prior_right"] += 1
            out["vulnerable"] += not b.correct
            out["vulnerable_majority"] += not b.correct and b.parsed is not None and b.parsed == mode
        else:
            out["prior_wrong"] += 1
            out["recovered"] += b.correct
    return out


def influence(calls: list[dict[str, Any]], thread_id: str) -> tuple[int, int]:
    """(messages the thread's calls read, other threads in its causal past). A call depends on its
    thread's earlier calls and, per sender it read, on the sender's latest call of a lower round
    (`round` is the dependency level: runtime/accounting.py)."""
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(calls, key=lambda c: int(c["call"])):
        by_thread.setdefault(str(c["thread_id"]), []).append(c)
    own = by_thread.get(thread_id, [])
    received = sum(len([x for x in str(c.get("consumed_from") or "").split(",") if x]) for c in own)
    seen: set[tuple[str, int]] = set()
    stack = [(thread_id, len(own) - 1)] if own else []
    while stack:  # depth-first over (thread, index of its call); iterative: MPLM cones are deep
        tid, k = stack.pop()
        if (tid, k) in seen:
            continue
        seen.add((tid, k))
        c = by_thread[tid][k]
        if k > 0:
            stack.append((tid, k - 1))
        for s in (x for x in str(c.get("consumed_from") or "").split(",") if x):
            earlier = [j for j, d in enumerate(by_thread.get(s, [])) if int(d["round"]) < int(c["round"])]
            if earlier:
                stack.append((s, earlier[-1]))
    return received, len({t for t, _ in seen} - {thread_id})


def sample_metrics(sample: SampleBranches, final_correct: bool, final_parsed: str | None = None) -> dict[str, Any]:
    """One sample's row. `final_correct`: the sample's own score (a vote has no final thread)."""
    inputs: list[Branch] = sample.inputs()
    parsed = [b.parsed for b in inputs]
    any_right = any(b.correct for b in inputs)
    row: dict[str, Any] = {
        "instance_id": sample.instance_id, "repeat": sample.repeat, "correct": bool(final_correct),
        "branches": len(sample.branches), "inputs": len(inputs),
        "agreement": modal_share(parsed), "entropy": answer_entropy(parsed),
        "similarity": mean_pairwise_similarity([b.response for b in inputs]),
        "oracle": any_right if inputs else NAN,
        "oracle_gap": (any_right and not final_correct) if inputs else NAN,
        "emergent": (final_correct and not any_right) if inputs else NAN,
        "final_is_modal": (final_parsed is not None and final_parsed == modal(parsed)[0]) if inputs else NAN,
    }
    row |= conformity(sample)
    if sample.final is not None:
        row["received"], row["depends_on"] = influence(sample.calls, sample.final)
    else:
        row["received"], row["depends_on"] = NAN, NAN
    return row
