"""Reference policies for `sos` and `apr`: APR's generators, run from what each thread sees.

A policy sees one prompt and writes one response (tasks/base.py), so each search draws from its
own stream, seeded by the search seed and the state it starts from (see `search.py`):
- `sos`: the root state → the whole SoS+ trace, after `generate_sosp.py`'s draws (a heuristic
  it records but never uses, then the beam in 1..sos_max_beam).
- `apr` root: `generate_apr.py`'s draws (beam in min_beam..max_beam, sub-call beam), then the
  search. A resumed root replays its own search from the top, taking each join block in its prompt
  as the sub searches' results, and writes what follows the last one. A join the parent already
  answered is read as the parent acted on it (a goal it did not take, under noise, stays untaken).
- `apr` sub search: its node's state → a level-1 search with beam `max_sub_beam` (a child cannot
  know the beam its parent drew).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from dataclasses import dataclass

from mplm_bench.tasks.countdown.formats import GOAL, spawn_block
from mplm_bench.tasks.countdown.prompts import Head, read_head, read_join
from mplm_bench.tasks.countdown.rules import Node, mult_heuristic, sum_heuristic
from mplm_bench.tasks.countdown.search import Goals, ParallelSearch, Spawn, sos_trace

NO_SOLUTION = "No solution found.\n"


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """The generators' knobs (create_search.sh: beams up to 10 and 15, promising 0.9; SoS+: 5)."""

    seed: int = 0
    max_beam: int = 10
    min_beam: int | None = None
    max_sub_beam: int = 15
    promising: float = 0.9
    sos_max_beam: int = 5
    sos_promising: float = 0.5
    sos_min_beam: int | None = None  # None: 1, as upstream

    def rng(self, key: str) -> random.Random:
        digest = hashlib.sha256(f"countdown/{self.seed}/{key}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


def sos_response(cfg: SearchConfig, prompt: str, miss: int = 0) -> str:
    head = read_head(prompt)
    rng = cfg.rng(head.key)
    beam = sos_beam(cfg, rng)
    trace = sos_trace(head.target, head.nums, beam, rng, mult_heuristic, cfg.sos_promising, Goals(miss))
    return trace[len(head.body):]


def sos_beam(cfg: SearchConfig, rng: random.Random) -> int:
    """The SoS+ beam, drawn from sos_min_beam..sos_max_beam (upstream: 1..max)."""
    rng.choice([sum_heuristic, mult_heuristic])  # drawn and recorded upstream, never used
    return rng.choice(range(cfg.sos_min_beam or 1, cfg.sos_max_beam + 1))


def root_beams(cfg: SearchConfig, rng: random.Random) -> tuple[int, int | None]:
    """The APR root's beam and its drawn sub-call beam (None when max_sub_beam is not above the
    beam: upstream draws none then). Sub searches run with max_sub_beam: a child cannot know it."""
    beam = rng.randint(cfg.min_beam, cfg.max_beam) if cfg.min_beam else rng.randint(1, cfg.max_beam)
    sub = rng.randint(beam, cfg.max_sub_beam) if cfg.max_sub_beam > beam else None
    return beam, sub


def reference_draws(cfg: SearchConfig, sos: str, apr: str) -> dict[str, int | None]:
    """What the reference searches draw for one instance (its sos and apr prompts): recorded as
    the columns `sos_beam`, `apr_beam`, `apr_sub_beam`."""
    beam, sub = root_beams(cfg, cfg.rng(read_head(apr).key))
    return {"sos_beam": sos_beam(cfg, cfg.rng(read_head(sos).key)), "apr_beam": beam, "apr_sub_beam": sub}


def child_response(cfg: SearchConfig, head: Head, miss: int = 0) -> str:
    start = Node(head.node_id, None, head.nums, head.operations, mult_heuristic(head.nums, head.target))
    search = ParallelSearch(head.target, cfg.max_sub_beam, cfg.rng(head.key), mult_heuristic,
                            cfg.promising, level=1, goals=Goals(miss))
    with contextlib.suppress(StopIteration):  # a level-1 search never spawns: it just ends
        next(search.run(start))
    return "".join(search.out)[len(head.body):]


def root_search(cfg: SearchConfig, head: Head) -> ParallelSearch:
    rng = cfg.rng(head.key)
    beam, _ = root_beams(cfg, rng)  # the sub-call beam is drawn as upstream draws it
    return ParallelSearch(head.target, beam, rng, mult_heuristic, cfg.promising,
                          max_children=head.budget)


def root_response(cfg: SearchConfig, prompt: str, misjudge_last: bool = False) -> str:
    head = read_head(prompt)
    body = head.body
    search = root_search(cfg, head)
    gen = search.run(Node(0, None, head.nums, head.operations, mult_heuristic(head.nums, head.target)))
    goal_line = f"{head.target},{head.target} equal: {GOAL}"
    try:
        spawn: Spawn = next(gen)
        while True:
            before = "".join(search.out)
            joined = read_join(body, len(before)) if len(body) > len(before) else None
            if joined is None:  # the prompt ends in this round: write up to its spawn block
                return (before + spawn_block([n.idx for n in spawn.nodes]))[len(body):]
            results, end = joined
            results += [None] * (len(spawn.nodes) - len(results))
            results = results[: len(spawn.nodes)]
            answered = end < len(body)
            if (answered and not body.startswith(goal_line, end)) or (not answered and misjudge_last):
                results = [None] * len(results)  # the parent went on as if no sub search succeeded
            search.out[:] = [body[:end]]
            spawn = gen.send(results)
    except StopIteration:
        pass
    return "".join(search.out)[len(body):]


@dataclass(frozen=True, slots=True)
class Policies:
    cfg: SearchConfig

    def sos(self, prompt: str) -> str:
        return sos_response(self.cfg, prompt)

    def apr(self, prompt: str) -> str:
        head = read_head(prompt)
        if head.node_id == "0":
            return root_response(self.cfg, prompt)
        return child_response(self.cfg, head)
