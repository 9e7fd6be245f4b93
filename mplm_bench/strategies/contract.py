"""Which strategy runs on which task, and on which backends: the one check behind `plan` and
`mplm-bench list`'s task × strategy matrix, so the two never disagree.

A pair runs on a real model when the task has the strategy's protocol. It runs on the scripted
backend (and replay, export-sft) only when the task's reference policy for that protocol answers
every kind of prompt the strategy sends (`Strategy.sends` ⊆ `Task.answers(protocol)`,
runtime/prompt_kinds.py): a policy that met a prompt it does not know would otherwise answer it
as its own problem, with status `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mplm_bench.strategies.base import Strategy
from mplm_bench.tasks.base import Task, no_policy_message


class Support(StrEnum):
    NONE = "none"  # the task has no format for the strategy's protocol
    MODELS = "models"  # real models only (no reference policy, or one that misses a kind)
    SCRIPTED = "scripted"  # real models and the scripted backend, replay, export-sft


@dataclass(frozen=True, slots=True)
class Pairing:
    support: Support
    why: str = ""  # one line: why the pair runs no further than `support`


def pairing(task: Task, strategy: type[Strategy]) -> Pairing:
    """How far `strategy` runs on `task` (an instance: its options may change its policy)."""
    protocol = strategy.protocol
    if protocol not in task.protocols and protocol != "any":
        if strategy.generic:  # `mplm-bench list` prints which pairs run
            return Pairing(Support.NONE, f"strategy {strategy.name!r} does not run on task {task.name!r}: the task "
                                         f"has no {protocol!r} format (has: {', '.join(task.protocols)}; "
                                         "see mplm-bench list)")
        return Pairing(Support.NONE, f"task {task.name!r} has no {protocol!r} protocol "
                                     f"(has: {', '.join(task.protocols)})")
    try:
        policy = task.policy(protocol)
    except Exception as e:  # a task may list a protocol it has no reference policy for
        return Pairing(Support.MODELS, f"{no_policy_message(task.name, protocol)} ({e})")
    if policy is None:
        return Pairing(Support.MODELS, no_policy_message(task.name, protocol))
    answered = task.answers(protocol)
    if missing := sorted(strategy.sends - answered):
        return Pairing(Support.MODELS, f"strategy {strategy.name!r} sends {' and '.join(missing)} prompts, which "
                                       f"task {task.name!r}'s scripted reference policy does not answer under "
                                       f"{protocol!r} (it answers: {', '.join(sorted(answered))}), so the pair runs "
                                       "on a real model (-b vllm or -b openai), not on -b scripted, -M replay or "
                                       "export-sft")
    return Pairing(Support.SCRIPTED)
