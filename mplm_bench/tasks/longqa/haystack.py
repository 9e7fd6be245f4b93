"""The offline long-context set: needles of fact scattered through a haystack of real prose.

The haystack is the Python documentation's topic pages shipped with the standard library
(`pydoc_data.topics`, ~465k characters), taken a whole topic at a time in a seeded order, so it
reads as ordinary technical prose with no connection to the needles. Into it go, each as its own
paragraph at a seeded random place, the facts of `facts.py` about invented people, towns,
variables and collections: every instance carries all kinds (so a question's facts hide among
look-alikes), and asks one question about them. Every answer follows from the context alone.

Instance i of seed s is the same whatever n is (one generator per instance). The length is in
tokens of the embedded SmolLM2 tokenizer, met to within one paragraph.
"""

from __future__ import annotations

import random
from functools import lru_cache

from mplm_bench.tasks.longqa.chunking import SEPARATOR, Counter
from mplm_bench.tasks.longqa.facts import Fact, Question, resolve
from mplm_bench.tasks.longqa.records import LETTERS, Record, length_class

KINDS = ("single", "multihop", "chain", "aggregate")
DIFFICULTY = {"single": "easy", "multihop": "hard", "chain": "hard", "aggregate": "hard"}
DOMAIN = "Synthetic haystack"

FIRST = ("Orla", "Bram", "Cato", "Dara", "Elin", "Finn", "Greta", "Hugo", "Ilse", "Joren", "Kaia",
         "Lorne", "Mira", "Nils", "Oona", "Pim", "Rhea", "Soren", "Tova", "Ulric", "Vera", "Wren",
         "Ysolde", "Zane", "Anouk", "Benno", "Cosima", "Dietrich", "Esme", "Fenna")
LAST = ("Vance", "Hale", "Marsh", "Quist", "Rowe", "Stroud", "Thorne", "Wick", "Yates", "Abbot",
        "Brandt", "Corr", "Dunmore", "Eske", "Falk", "Gale", "Hoyt", "Ives", "Jessup", "Kroll",
        "Lusk", "Mott", "Nye", "Orr", "Pratt", "Sallow", "Tamsin", "Voss")
TOWN_HEAD = ("Tar", "Vel", "Mor", "Ash", "Bryn", "Cal", "Dun", "Eld", "Fen", "Gal", "Hal", "Ist",
             "Jor", "Kel", "Lon", "Mir", "Nor", "Orm", "Pel", "Ros", "Sel", "Thal", "Vor", "Wen")
TOWN_TAIL = ("sk", "mora", "wick", "ford", "haven", "dale", "mere", "stead", "gard", "holm",
             "rith", "vane")
PRODUCTS = ("copper bells", "blue cheese", "glass lanterns", "salt cod", "wool blankets",
            "rose honey", "clay pipes", "silver combs", "plum brandy", "cedar chests",
            "reed baskets", "iron nails", "linen sails", "amber beads", "pear cider", "slate tiles")
ITEMS = ("sea shells", "brass buttons", "old coins", "pine cones", "river stones",
         "postage stamps", "bird feathers", "glass marbles", "maple leaves", "paper cranes")

N_PEOPLE, N_CHAINS, CHAIN_LINKS = 6, 3, 3
TARGET_COLLECTORS, OTHER_ITEMS, OTHER_COLLECTORS = 3, 2, 2


@lru_cache(maxsize=1)
def filler_topics() -> tuple[tuple[str, ...], ...]:
    """The prose of `pydoc_data.topics`, as paragraphs per topic (sorted by topic name)."""
    from pydoc_data.topics import topics

    out = []
    for name in sorted(topics):
        paras = tuple(p.strip("\n") for p in topics[name].split("\n\n") if len(p.strip()) >= 40)
        if paras:
            out.append(paras)
    return tuple(out)


def _filler(rng: random.Random, counter: Counter, tokens: int) -> list[str]:
    """Paragraphs of whole topics in a seeded order until `tokens` tokens (reshuffled when the
    corpus runs out, for contexts beyond its ~110k tokens). Near the end, a paragraph that would
    overshoot by more than 1% (a long table, say) is passed over for a shorter one."""
    sep = counter.count(SEPARATOR)
    slack = max(20, tokens // 100)
    out: list[str] = []
    total = 0
    strict = True
    while total < tokens:
        order = list(filler_topics())
        rng.shuffle(order)
        before = len(out)
        for topic in order:
            for para in topic:
                if total >= tokens:
                    return out
                cost = counter.count(para) + sep
                if strict and total + cost > tokens + slack:
                    continue
                out.append(para)
                total += cost
        strict = len(out) > before  # a pass that added nothing: accept an overshoot
    return out


def _names(rng: random.Random, k: int) -> list[str]:
    pool = [f"{a} {b}" for a in FIRST for b in LAST]
    return rng.sample(pool, k)


def _towns(rng: random.Random, k: int) -> list[str]:
    pool = [a + b for a in TOWN_HEAD for b in TOWN_TAIL]
    return rng.sample(pool, k)


def _variables(rng: random.Random, k: int) -> list[str]:
    out: dict[str, None] = {}  # insertion-ordered (a set's order would vary with the hash seed)
    while len(out) < k:
        out["".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))] = None
    return list(out)


def _facts(rng: random.Random) -> tuple[list[Fact], dict[str, list]]:
    """All the facts of one instance, and what questions can be asked about them."""
    people = _names(rng, N_PEOPLE + 1)  # one more: a collector who lives nowhere said
    towns = _towns(rng, N_PEOPLE)
    products = rng.sample(PRODUCTS, N_PEOPLE)
    facts = [Fact("lives", p, t) for p, t in zip(people, towns, strict=False)]
    facts += [Fact("known", t, g) for t, g in zip(towns, products, strict=True)]
    variables = _variables(rng, N_CHAINS * CHAIN_LINKS)
    values = rng.sample(range(10_000, 100_000), N_CHAINS)
    chains = []
    for c in range(N_CHAINS):
        names = variables[c * CHAIN_LINKS : (c + 1) * CHAIN_LINKS]
        facts.append(Fact("value", names[0], str(values[c])))
        facts += [Fact("alias", b, a) for a, b in zip(names, names[1:], strict=False)]
        chains.append(names[-1])
    items = rng.sample(ITEMS, 1 + OTHER_ITEMS)
    for k, item in enumerate(items):
        for person in rng.sample(people, TARGET_COLLECTORS if k == 0 else OTHER_COLLECTORS):
            facts.append(Fact("collected", person, f"{rng.randint(2, 40)} {item}"))
    topics = {"single": people[:N_PEOPLE], "multihop": people[:N_PEOPLE], "chain": chains,
              "aggregate": items[:1]}
    return facts, topics


def _distractors(rng: random.Random, question: Question, answer: str, facts: list[Fact]) -> list[str]:
    """Three wrong choices of the answer's own kind, taken from the instance where possible."""
    if question.kind == "single":
        pool = [f.value for f in facts if f.kind == "lives"]
    elif question.kind == "multihop":
        pool = [f.value for f in facts if f.kind == "known"]
    elif question.kind == "chain":
        pool = [f.value for f in facts if f.kind == "value"] + [str(rng.randint(10_000, 99_999)) for _ in range(2)]
    else:
        total = int(answer)
        pool = [str(total + d) for d in (-9, -6, -4, -2, 3, 5, 7, 10) if total + d > 0]
    pool = [p for p in dict.fromkeys(pool) if p != answer]
    return rng.sample(pool, 3)


def generate_record(index: int, seed: int, length: int, fmt: str, counter: Counter) -> Record:
    """Instance `index` of seed `seed`: `length` tokens of context, one question about it.

    Kinds cycle single, multihop, chain, aggregate; with `fmt="mixed"` the first four are
    multiple choice, the next four short answer, and so on."""
    rng = random.Random(f"longqa/{seed}/{index}")
    kind = KINDS[index % len(KINDS)]
    mc = fmt == "mc" or (fmt == "mixed" and (index // len(KINDS)) % 2 == 0)
    facts, topics = _facts(rng)
    question = Question(kind, rng.choice(topics[kind]))
    answer = resolve(question, facts).answer
    assert answer is not None, "the generator planted an unanswerable question"
    sep = counter.count(SEPARATOR)
    needle_tokens = sum(counter.count(f.sentence) + sep for f in facts)
    paragraphs = _filler(rng, counter, max(0, length - needle_tokens))
    for f in rng.sample(facts, len(facts)):
        paragraphs.insert(rng.randint(0, len(paragraphs)), f.sentence)
    context = SEPARATOR.join(paragraphs)
    choices: tuple[str, ...] = ()
    label = answer
    if mc:
        options = [answer, *_distractors(rng, question, answer, facts)]
        rng.shuffle(options)
        choices, label = tuple(options), LETTERS[options.index(answer)]
    return Record(
        id=f"longqa-{length}-{fmt}-s{seed}-{index:05d}",
        context=context,
        question=question.text,
        choices=choices,
        answer=label,
        domain=DOMAIN,
        sub_domain=kind,
        difficulty=DIFFICULTY[kind],
        length=length_class(len(context.split())),
        extra={"needle_kind": kind, "n_needles": len(facts)},
    )
