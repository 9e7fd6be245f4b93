"""A complete third-party task: add up a list of numbers, serially, fork-join or with PaCoRe.

It shows the whole Task interface a plugin needs: seeded instances, loading a file, the master's
first prompt per protocol, scoring, and a scripted reference policy that writes each step from
the prompt text alone (so `--backend scripted` runs it end to end, and `export-sft` can make
training data of it), built and read with the tag grammar's helpers in `runtime/protocol.py`
instead of matching prompt text by hand. The decorator registers it (name, options, protocols,
written once); the entry point in pyproject.toml tells mplm-bench which module to import for
`addition`. Or run it from the file itself: `mplm-bench run -t examples/plugin/mplm_addition.py:AdditionTask ...`.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from pydantic import Field

from mplm_bench.registry import tasks
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.runtime.protocol import (
    MASTER_ID,
    is_resumed,
    read_worker_id,
    received_blocks,
    render_recv,
    render_send,
    render_spawn,
    render_stop,
)
from mplm_bench.runtime.synthesis import is_synthesis, parse_synthesis
from mplm_bench.tasks.base import Instance, Policy, Protocol, Score, Task, TaskError, TaskOptions

PROMPT = "Add these numbers: "
PART = "Add the numbers in your part: "


class AdditionOptions(TaskOptions):
    size: int = Field(8, ge=2, le=1000)  # how many numbers (`-T size=8`)


@tasks.register("addition", options=AdditionOptions, protocols=("serial", "fj"))
class AdditionTask(Task):
    options: AdditionOptions

    def generate(self, n: int, seed: int) -> list[Instance]:
        out = []
        for i in range(n):
            iid = f"addition-{self.options.size}-s{seed}-{i:05d}"
            rng = random.Random(iid)  # instance i does not depend on n
            out.append(self._instance(iid, [rng.randint(1, 99) for _ in range(self.options.size)]))
        return out

    def load(self, source: str, n: int | None) -> list[Instance]:
        """JSONL lines `{"id": ..., "numbers": [...]}`."""
        try:
            lines = Path(source).read_text().splitlines()
            rows = [json.loads(line) for line in lines if line.strip()]
            return [self._instance(str(r["id"]), [int(x) for x in r["numbers"]]) for r in rows[:n]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TaskError(f"{source}: not a JSONL file of {{id, numbers}} ({e})") from None

    @staticmethod
    def _instance(iid: str, numbers: list[int]) -> Instance:
        return Instance(id=iid, size=len(numbers), data={"numbers": numbers})

    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        return PROMPT + " ".join(map(str, instance.data["numbers"]))

    def score(self, instance: Instance, answer: str | None) -> Score:
        found = re.findall(r"-?\d+", answer or "")
        correct = bool(found) and int(found[-1]) == sum(instance.data["numbers"])
        return Score(correct=correct, score=float(correct), parsed=found[-1] if found else None)

    def answers(self, protocol: Protocol) -> frozenset[PromptKind]:
        """Its serial policy also answers PaCoRe's synthesis prompts."""
        return frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS} if protocol == "serial" else {PromptKind.PROBLEM})

    def policy(self, protocol: Protocol) -> Policy:
        return serial_policy if protocol == "serial" else fj_policy


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"-?\d+", text)]


def serial_policy(prompt: str) -> str:
    if is_synthesis(prompt):
        # PaCoRe's later rounds wrap the problem and earlier answers in its synthesis template;
        # this synthesizer re-adds the original numbers (tasks/sudoku/synthesis.py checks the
        # references instead, as a careful solver would)
        return serial_policy(parse_synthesis(prompt).original)
    numbers = _numbers(prompt.split(":", 1)[1])
    lines, total = [], numbers[0]
    for x in numbers[1:]:
        lines.append(f"{total} + {x} = {total + x}")
        total += x
    return "\n".join(lines) + f"\n<stop>{total}</stop>"


def fj_policy(prompt: str) -> str:
    """The master splits the list between two workers and joins on both; a worker adds its part
    and sends the sum back; the master, resumed with their messages, adds the two."""
    worker, start = read_worker_id(prompt)
    if worker is not None:  # a worker: `Your id is: W.⏎` + the spawn body
        part = sum(_numbers(prompt[start:].split(PART, 1)[1]))
        return render_send([MASTER_ID], str(part)) + render_stop()
    if is_resumed(prompt):  # the master, resumed: one message per line in the received block
        return render_stop(str(sum(_numbers(received_blocks(prompt)[-1]))))
    numbers = _numbers(prompt.split(":", 1)[1])
    half = len(numbers) // 2
    a, b = " ".join(map(str, numbers[:half])), " ".join(map(str, numbers[half:]))
    return (render_spawn(["1"], PART + a) + render_spawn(["2"], PART + b) + "\n"
            + render_recv(["1", "2"], sep=", "))
