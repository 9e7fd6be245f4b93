"""A task stated as text with a `\\boxed{}` answer: prompts, grading, and its scripted traces.

Every generic strategy runs on it: cot, sc and pacore on the `serial` protocol (the `response`
answer convention: the response is the answer), and the adaptive strategies on their own
dialects. The scripted reference policy writes one whole trace per problem and dialect (`trace`);
tasks/boxed/trace_policy.py answers each controller step from it. It answers every kind of
prompt (runtime/prompt_kinds.py): the problem, PaCoRe's synthesis, a verifier's check of a
candidate (`verify`: it solves the problem again and compares final answers) and, under the
adaptive protocols, continuation steps; its error model makes the final answer, or a verdict,
wrong (corrupt.py).
"""

from __future__ import annotations

import random
from abc import abstractmethod
from typing import Any, ClassVar

from mplm_bench.runtime.answers import AnswerConvention
from mplm_bench.runtime.prompt_kinds import (
    PromptKind,
    kind_of,
    parse_synthesis,
    parse_verify,
    render_verdict,
)
from mplm_bench.tasks.base import Instance, Policy, Protocol, Score, Task, TaskError
from mplm_bench.tasks.boxed.answers import final_answer, last_boxed, verify
from mplm_bench.tasks.boxed.corrupt import corrupt_boxed, corrupt_verdict
from mplm_bench.tasks.boxed.profiles import upstream_problem
from mplm_bench.tasks.boxed.trace_policy import trace_policy

# the instruction Qwen-family math models (and the adaptive-parallel checkpoints) are prompted with
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
PROTOCOLS = ("serial", "threadweaver", "parallel-r1", "multiverse")
STEP_BUDGET = 4096  # default per-step max_tokens: a small model that never stops must not decode long


def boxed_prompt(problem: str) -> str:
    return f"{problem}\n\n{INSTRUCTION}"


def problem_of(prompt: str) -> str:
    """The problem a policy reads back from the prompt: the text before the harness's
    instruction, or inside an upstream prompt profile's template."""
    if prompt.endswith("\n\n" + INSTRUCTION):
        return prompt.rsplit("\n\n" + INSTRUCTION, 1)[0]
    found = upstream_problem(prompt)
    return prompt if found is None else found


class BoxedTask(Task):
    protocols = PROTOCOLS
    answer: ClassVar[AnswerConvention] = "response"

    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        self._check(protocol)
        return boxed_prompt(instance.data["problem"])

    def question(self, instance: Instance) -> str:
        return str(instance.data["problem"])

    def score(self, instance: Instance, answer: str | None) -> Score:
        gold = str(instance.data["answer"])
        got = final_answer(answer)
        ok = got is not None and self.grade(gold, got)
        return Score(correct=ok, score=float(ok), parsed=got,
                     extra={"extracted_answer": got or "", "verdict": "correct" if ok else
                            ("no_answer" if got is None else "wrong")})

    def grade(self, gold: str, answer: str) -> bool:
        return verify(gold, answer)

    def policy(self, protocol: Protocol) -> Policy:
        self._check(protocol)
        return trace_policy(lambda user: self._write(protocol, user), protocol)

    def answers(self, protocol: Protocol) -> frozenset[PromptKind]:
        if protocol == "serial":
            return frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS, PromptKind.VERIFY})
        return frozenset({PromptKind.PROBLEM, PromptKind.CONTINUATION})

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """A wrong final answer, or a verifier's wrong verdict, for the noisy scripted backend
        (see `corrupt.py`)."""
        if kind_of(prompt) is PromptKind.VERIFY:
            return corrupt_verdict(response)
        return corrupt_boxed(response, rng)

    def _write(self, protocol: Protocol, user: str) -> str:
        kind = kind_of(user)
        if kind is PromptKind.SYNTHESIS:  # PaCoRe: synthesis over the references' final boxed answers
            view = parse_synthesis(user)
            answers = [last_boxed(r) or "none" for r in view.references]
            return (f"The references' final answers: {', '.join(answers)}. Checking the work again.\n"
                    + self.trace(protocol, problem_of(view.original)))
        if kind is PromptKind.VERIFY:
            asked = parse_verify(user)
            return self.judge(asked.problem, asked.candidate)
        return self.trace(protocol, problem_of(user))

    def judge(self, prompt: str, candidate: str) -> str:
        """The default verifier: solve the problem again (the serial trace) and compare the
        candidate's final answer with it, as `grade` compares an answer with the gold one."""
        theirs = final_answer(candidate)
        mine = final_answer(self.trace("serial", problem_of(prompt)))
        ok = theirs is not None and mine is not None and self.grade(mine, theirs)
        return (f"The candidate's final answer is {theirs or 'missing'}; solving the problem again gives "
                f"{mine or 'no answer'}.\n{render_verdict(ok)}")

    @abstractmethod
    def trace(self, protocol: Protocol, problem: str) -> str:
        """The whole reference response to `problem` in `protocol`'s format, from its text alone
        (a problem it cannot read gets a response without an answer)."""

    def max_tokens(self, instance: Instance, protocol: Protocol) -> int | None:
        return STEP_BUDGET

    def _check(self, protocol: Protocol) -> None:
        if protocol not in self.protocols:
            raise TaskError(f"{self.name} has no protocol {protocol!r} (has: {', '.join(self.protocols)})")


def wrap(protocol: Protocol, intro: str, parts: list[tuple[str, str]], outro: str) -> str:
    """One trace from its pieces: `intro`, independent parts (title, worked text), `outro`.

    serial: the parts one after another. threadweaver/multiverse: the parts as one block of
    threads in each system's tags. parallel-r1: the trunk opens a block whose paths each do
    every part (its paths explore, they do not split the work), then summarises.
    """
    if protocol == "serial":
        return intro + "".join(f"{t}:\n{w}\n" for t, w in parts) + outro
    if protocol == "threadweaver":
        outlines = "".join(f"<Outline>{i}: {t}</Outline>\n" for i, (t, _) in enumerate(parts, 1))
        threads = "".join(f"<Thread>\n{i}: {w}</Thread>" for i, (_, w) in enumerate(parts, 1))
        return f"{intro}<Parallel>\n<Outlines>\n{outlines}</Outlines>\n{threads}\n</Parallel>\n{outro}"
    if protocol == "multiverse":
        # the trained layout (ryogishiki-0217/Multiverse, data/prompt/step3-prompt.txt), which is
        # what the engine's join rebuilds: ⏎<Path>⏎{n}: headers, </Path>⏎, then <Conclusion>⏎
        outlines = "".join(f"<Outline>\n{i}: {t}\n</Outline>\n" for i, (t, _) in enumerate(parts, 1))
        paths = "".join(f"<Path>\n{i}: {w}\n</Path>\n" for i, (_, w) in enumerate(parts, 1))
        return (f"{intro}<Parallel>\n<Goal>\n{outlines}</Goal>\n{paths}"
                f"<Conclusion>\n{outro}\n</Conclusion>\n</Parallel>")
    if protocol == "parallel-r1":
        work = "".join(f"{t}: {w}\n" for t, w in parts)
        return (f"{intro}<Parallel><Path>{work}</Path><Path>{work}</Path></Parallel>\n"
                f"<Summary>The paths agree.</Summary>\n{outro}")
    raise ValueError(protocol)


def instance(id_: str, size: int, problem: str, answer: Any, **meta: Any) -> Instance:
    return Instance(id=id_, size=size, data={"problem": problem, "answer": str(answer)}, meta=meta)
