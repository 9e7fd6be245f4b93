"""The text of APR's Countdown traces: prompts, search lines, spawn and join blocks.

Every string here is byte-for-byte what Parallel-Reasoning/APR (commit 5577928) writes:
search lines from `src/data/search.py`, the solution path from `get_path_to_target` in
`src/countdown_utils.py`, prompts, child prompts, the join block and a search's result from
`src/eval/eval_apr.py` and `src/eval/parallel_infernce_utils.py`. See docs/countdown.md.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from mplm_bench.tasks.countdown.rules import Node

CALL = "<Calling Sub Searches>\n"
END_CALL = "<End Calling Sub Searches>"
JOIN = "<Sub Searches>\n"
END_JOIN = "<End Sub Searches>\n"
SELF_JOIN = "<Sub Searches>"  # what a parent must never write (eval_apr.py's stop string)
GOAL = "Goal Reached"


def state_line(target: int, nums: list[int], operations: list[str]) -> str:
    return f"Current State: {target}:{nums}, Operations: {operations}\n"


def sos_prompt(target: int, nums: list[int]) -> str:
    """SoS+ decoding starts from the root state (eval_sosp.py, without its BOS)."""
    return f"Current State: {target}:{nums}, Operations: []"


def apr_prompt(target: int, nums: list[int], sub_calls: int | None = None) -> str:
    """The root prefix of `get_prefix` in eval_apr.py, with its `Sub Call Budget: N ` prefix."""
    prefix = f"Moving to Node #0\nCurrent State: {target}:{nums}, Operations: []"
    return prefix if sub_calls is None else f"Sub Call Budget: {sub_calls} " + prefix


def child_prompt(node_id: str, target: int, nums: list[int], operations: list[str],
                 budget: int | None = None) -> str:
    """A sub search's whole prompt: the message naming its node (`construct_sub_search_prefix`)."""
    prefix = (f"Moving to Node #{node_id}\nCurrent State: {target}:[{', '.join(map(str, nums))}], "
              f"Operations: {operations}")
    return prefix if budget is None else f"Token Budget: {budget} {prefix}"


def path_to_target(node: Node, start: Node) -> str:
    """The solution path from `start` down to the goal `node` (`get_path_to_target`)."""
    target = node.nums[0]
    chain = [node]
    while chain[-1] is not start:
        parent = chain[-1].parent
        if parent is None:
            raise ValueError("start node is not an ancestor of the goal")
        chain.append(parent)
    chain.reverse()
    out = [f"Moving to Node #{start.idx}\n"]
    for cur, nxt in zip(chain, chain[1:], strict=False):
        out.append(state_line(target, cur.nums, cur.operations))
        out.append(f"Exploring Operation: {nxt.operations[-1]}, Resulting Numbers: {nxt.nums}\n")
        if len(nxt.nums) == 1 and nxt.nums[0] == target:
            out.append(f"{nxt.nums[0]},{target} equal: Goal Reached\n")
            return "".join(out)
        out.append(f"Generated Node #{nxt.idx}: {target}:{nxt.nums} Operation: {nxt.operations[-1]}\n")
        out.append(f"Moving to Node #{nxt.idx}\n")
    raise ValueError("the path does not end at the target")


def search_result(trace: str) -> str | None:
    """A finished search's answer: from the second-to-last `Goal Reached` on, that line itself
    dropped, i.e. the solution path (`get_search_result`); None without two goal lines."""
    if trace.count(GOAL) < 2:
        return None
    goal = trace.rfind(GOAL, 0, trace.rfind(GOAL))
    return trace[goal:].strip()[13:]


def spawn_block(node_ids: list[str], level: int = 1) -> str:
    lines = [f"<Start Sub Search {i} at level {level}> Moving to Node #{n}\n" for i, n in enumerate(node_ids)]
    return CALL + "".join(lines) + END_CALL + "\n"


def join_block(node_ids: list[str], results: list[str | None]) -> str:
    """`get_main_trace_after_sub_search`'s block: one line (and the path) per sub search."""
    out = [JOIN]
    for i, (nid, res) in enumerate(zip(node_ids, results, strict=True)):
        if res is None:
            out.append(f"<No Solution in Sub Search {i} at level 1 at Node #{nid}>\n")
        else:
            out.append(f"<Goal Reached in Sub Search {i} at level 1 at Node #{nid}>\n{res}\n")
    out.append(END_JOIN)
    return "".join(out)


def is_calling(trace: str) -> bool:
    """The step ends in a spawn block (`is_calling_subsearch`, after decode_trace drops one
    trailing newline)."""
    if trace.endswith("\n"):
        trace = trace[:-1]
    return END_CALL in trace.rsplit("\n", 1)[-1]


@dataclass(frozen=True, slots=True)
class SubSearch:
    node_id: str
    target: int
    nums: list[int]
    operations: list[str]


def _literal(text: str) -> Any:
    return ast.literal_eval(text.strip())  # upstream eval()s these; a literal parser is enough


def sub_searches(trace: str) -> list[SubSearch]:
    """The sub searches the last spawn block asks for, with the state of each named node as the
    trace describes it (`_get_subsearch_info`). Raises ValueError on an unknown node or a bad
    state line, where upstream's controller raises and drops the sample."""
    nodes: dict[str, SubSearch] = {}
    lines = trace.split("\n")
    for cur, nxt in zip(lines, lines[1:], strict=False):
        if "Moving to Node #" in cur and "Current State:" in nxt:
            nid = cur.split("Moving to Node #")[1].strip()
            state = nxt.split("Current State:")[1].split("],")[0].strip()
            ops = nxt.split("Operations:")[1].strip()
            try:
                t, nums = int(state.split(":")[0]), _literal(state.split(":")[1] + "]")
                operations = _literal(ops)
            except (ValueError, SyntaxError, IndexError) as e:
                raise ValueError(f"bad state line {nxt[:80]!r}") from e
            nodes[nid] = SubSearch(nid, t, list(nums), list(operations))
    for line in lines:
        if "Generated Node" in line:
            m = re.match(r".*?Generated Node #([^:]*): (\d+):(\[[^\]]*\]) Operation: (.*)$", line)
            if m is None:
                raise ValueError(f"bad generated-node line {line[:80]!r}")
            nid = m.group(1)
            if nid in nodes:
                continue
            parent = nodes.get(",".join(nid.split(",")[:-1]))
            if parent is None:
                raise ValueError(f"node #{nid} has no known parent")
            nodes[nid] = SubSearch(nid, int(m.group(2)), list(_literal(m.group(3))),
                                   [*parent.operations, m.group(4).strip()])
    section = trace.split(CALL)[-1].split("\n" + END_CALL)[0]
    out = []
    for line in section.split("\n"):
        if "<Start Sub Search" in line and "Moving to Node" in line:
            nid = line.split("Moving to Node #")[1].strip()
            if nid not in nodes:
                raise ValueError(f"sub search at unknown node #{nid}")
            out.append(nodes[nid])
    if not out:
        raise ValueError("spawn block names no sub search")
    return out
