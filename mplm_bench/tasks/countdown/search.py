"""APR's reference searches, written as the traces its data generators write.

`sos_trace` is `sosp`/`_search` and `ParallelSearch` is `_parallel_search` of
`src/data/search.py` in Parallel-Reasoning/APR (commit 5577928), line for line where the order of
random draws or the text depends on it — including a quirk that shapes the traces: after a spawn,
the "next node in this beam" check reads the index of the last sub search (upstream reuses the
loop variable).

The one deliberate difference is where randomness comes from: upstream draws every search from
one global `random` stream, so a sub search's shuffles depend on all that ran before it; here each
search draws from its own `random.Random` (see `policies.py`), because a child sees only its
prompt. A sub search whose beam is 1 draws nothing, and then the two agree exactly
(tests/tasks/test_countdown_golden.py).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from mplm_bench.tasks.countdown.formats import path_to_target, spawn_block, state_line
from mplm_bench.tasks.countdown.rules import Node, combine_nums

Heuristic = Callable[[list[int], int], float]


def _expand(node: Node, target: int, heuristic: Heuristic) -> list[tuple[float, Node]]:
    out = []
    nums = node.nums
    for i, j in itertools.combinations(range(len(nums)), 2):
        for result, op in combine_nums(nums[i], nums[j]):
            new = [nums[k] for k in range(len(nums)) if k != i and k != j] + [result]
            h = heuristic(new, target)
            out.append((h, Node(None, node, new, [*node.operations, op], h)))
    return out


def _prune(generated: list[tuple[float, Node]], beam: int) -> list[tuple[float, Node]]:
    generated.sort(key=lambda t: t[0])  # the tuples' order: heuristic, ties stable (Node has no ==)
    return generated[:beam]


@dataclass(slots=True)
class Goals:
    """Goals a noisy search misjudges: the first `miss` it meets are written as no solution."""

    miss: int = 0

    def seen(self) -> bool:
        if self.miss > 0:
            self.miss -= 1
            return False
        return True


def sos_trace(target: int, nums: list[int], beam: int, rng: random.Random, heuristic: Heuristic,
              promising: float = 0.5, goals: Goals | None = None) -> str:
    """The whole SoS+ trace for a root state (`sosp`)."""
    root = Node(0, None, nums, [], heuristic(nums, target))
    out: list[str] = []
    _sos(target, root, beam, rng, heuristic, promising, 0, root, out, goals or Goals())
    return "".join(out)


def _sos(target: int, start: Node, beam: int, rng: random.Random, heuristic: Heuristic,
         promising: float, level: int, root: Node, out: list[str], goals: Goals) -> bool:
    open_set: list[tuple[float, Node]] = []
    heapq.heappush(open_set, (heuristic(start.nums, target), start))
    while open_set:
        current = [heapq.heappop(open_set) for _ in range(min(beam, len(open_set)))]
        if not current:
            break
        for idx, (_, node) in enumerate(current):
            out.append(state_line(target, node.nums, node.operations))
            generated = _prune(_expand(node, target, heuristic), beam)
            rng.shuffle(generated)
            explore = _write_children(generated, target, goals, root, out)
            if explore is None:
                return True
            double_down = rng.random() < promising
            for child in explore:
                if double_down:
                    out.append(f"Start Sub Search at level {level + 1}: Moving to Node #{child.idx}\n")
                    found = _sos(target, child, beam, rng, heuristic, promising, level + 1, root, out, goals)
                    out.append(f"Exit Sub Search at level {level + 1}\n")
                    if found:
                        return True
                    out.append("No solution found in sub search\n")
                else:
                    heapq.heappush(open_set, (child.heuristic, child))
            if idx < len(current) - 1:
                out.append(f"Moving to Node #{current[idx + 1][1].idx}\n")
        if current and open_set:
            out.append(f"Moving to Node #{open_set[0][1].idx}\n")
    out.append("No solution found.\n")
    return False


def _write_children(generated: list[tuple[float, Node]], target: int, goals: Goals, root: Node,
                    out: list[str]) -> list[Node] | None:
    """A node's generated children as both of upstream's searches write them: each explored, a
    goal written with its path from `root` (then None: the search is over), the others kept to
    explore, sorted."""
    explore: list[Node] = []
    for _, child in generated:
        child.idx = f"{child.parent.idx},{len(explore)}"  # type: ignore[union-attr]
        op = child.operations[-1]
        out.append(f"Exploring Operation: {op}, Resulting Numbers: {child.nums}\n")
        if len(child.nums) == 1 and child.nums[0] == target and goals.seen():
            out.append(f"{child.nums[0]},{target} equal: Goal Reached\n")
            out.append(path_to_target(child, root))
            return None
        if len(child.nums) == 1:  # upstream tests its last generated node: same length
            out.append(f"{child.nums[0]},{target} unequal: No Solution\n")
        else:
            out.append(f"Generated Node #{child.idx}: {target}:{child.nums} Operation: {op}\n")
            explore.append(child)
    explore.sort()
    return explore


@dataclass(slots=True)
class Spawn:
    """A parent's request for sub searches: its trace so far and the nodes handed out."""

    nodes: list[Node]


@dataclass(slots=True)
class ParallelSearch:
    """One APR search (`_parallel_search`) as a generator of text.

    `run()` yields a `Spawn` where the parent hands its frontier to sub searches and is sent back
    each sub search's result (the solution path text, or None); it returns whether a goal was
    reached. Text accumulates in `out`. A search at level 1 never spawns (one nesting level).
    """

    target: int
    beam: int
    rng: random.Random
    heuristic: Heuristic
    promising: float = 0.9
    level: int = 0
    max_children: int | None = None  # `Sub Call Budget: N`: at most N sub searches per spawn
    goals: Goals = field(default_factory=Goals)
    out: list[str] = field(default_factory=list)

    def run(self, start: Node) -> Generator[Spawn, list[str | None], bool]:
        target, out = self.target, self.out
        open_set: list[tuple[float, Node]] = []
        heapq.heappush(open_set, (self.heuristic(start.nums, target), start))
        out.append(f"Moving to Node #{start.idx}\n")
        while open_set:
            current = [heapq.heappop(open_set) for _ in range(min(self.beam, len(open_set)))]
            if not current:
                break
            for idx, (_, node) in enumerate(current):
                out.append(state_line(target, node.nums, node.operations))
                generated = _prune(_expand(node, target, self.heuristic), self.beam)
                self.rng.shuffle(generated)
                explore = _write_children(generated, target, self.goals, start, out)
                if explore is None:
                    return True
                double_down = (self.level == 0 and len(explore) > 1
                               and self.rng.random() < self.promising)
                if double_down and self.max_children is not None:
                    explore, rest = explore[: self.max_children], explore[self.max_children:]
                    for child in rest:  # beyond the budget: searched later by the parent itself
                        heapq.heappush(open_set, (child.heuristic, child))
                if double_down:
                    results = yield Spawn(explore)
                    for child, res in zip(explore, results, strict=True):
                        if res is not None:
                            out.append(f"{target},{target} equal: Goal Reached\n")
                            out.append(_through(child, start, target, res))
                            return True
                    idx = len(explore) - 1  # upstream reuses the loop variable of its sub-search loops
                else:
                    for child in explore:
                        heapq.heappush(open_set, (child.heuristic, child))
                if idx < len(current) - 1:
                    out.append(f"Moving to Node #{current[idx + 1][1].idx}\n")
            if current and open_set:
                out.append(f"Moving to Node #{open_set[0][1].idx}\n")
        out.append("No solution found.\n")
        return False


def _through(child: Node, start: Node, target: int, result: str) -> str:
    """The root-to-goal path through a sub search's reported path, as `get_path_to_target` of
    the goal writes it: the parent's own path down to the child's node, then the child's path
    (which starts with `Moving to Node #<child>`)."""
    chain = [child]
    while chain[-1] is not start:
        chain.append(chain[-1].parent)  # type: ignore[arg-type]
    chain.reverse()
    out = [f"Moving to Node #{start.idx}\n"]
    for k, (cur, nxt) in enumerate(zip(chain, chain[1:], strict=False)):
        if k:
            out.append(f"Moving to Node #{cur.idx}\n")
        out.append(state_line(target, cur.nums, cur.operations))
        out.append(f"Exploring Operation: {nxt.operations[-1]}, Resulting Numbers: {nxt.nums}\n")
        out.append(f"Generated Node #{nxt.idx}: {target}:{nxt.nums} Operation: {nxt.operations[-1]}\n")
    out.append(result + "\n")
    return "".join(out)


def spawn_text(spawn: Spawn, level: int = 1) -> str:
    return spawn_block([n.idx for n in spawn.nodes], level)
