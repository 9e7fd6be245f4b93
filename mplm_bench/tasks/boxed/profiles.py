"""The first prompts the adaptive checkpoints were trained on, around a bare problem statement.

The templates of strategies/adaptive/prompts.py (which cites each to its upstream file), kept here
beside the boxed tasks: a scripted reference policy reads the problem back out of whichever
profile wrote the prompt (`upstream_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PromptProfile:
    name: str
    system: str | None
    user: str  # holds {problem}

    def render(self, problem: str) -> str:
        return self.user.replace("{problem}", problem)


THREADWEAVER = PromptProfile(
    "threadweaver", None, "{problem} Let's think step by step and output the final answer within \\boxed{}.")
PARALLEL_R1 = PromptProfile("parallel-r1", None, (
    "Solve the following problem step by step.\n"
    "During the reasoning process, whenever you encounter a step that may benefit from multiple "
    "perspectives or independent reasoning, insert a parallel block at that point.\n\n"
    "Within each parallel block:\n"
    "Begin the block with <Parallel>.\n"
    "Include at least two distinct and independent reasoning paths.\n"
    "Each path must be enclosed within <Path> and </Path> tags.\n"
    "Do not include any ordering information or cross-references between paths, as they are "
    "generated simultaneously and independently.\n"
    "Close the block with </Parallel>.\n"
    "Immediately after each </Parallel>, write a concise summary of insights or conclusions drawn "
    "from all paths, enclosed in <Summary> and </Summary> tags.\n\n"
    "Repeat this process adaptively as needed throughout the reasoning.\n"
    "Do not explicitly mention that you are triggering parallel thinking\u2014just insert the "
    "parallel block naturally within the reasoning chain.\n\n"
    "End your response with a line starting with Final Answer: followed by the final result.\n\n"
    "Problem: {problem}"))
MULTIVERSE = PromptProfile(
    "multiverse", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", "{problem}\n")
# The control tags each system adds to its tokenizer as special tokens: what a checkpoint built
# like theirs holds (train/recipe.py), and why the engines must keep special tokens in the text.
# threadweaver_sft/src/utils.py `add_and_init_special_tokens`; Parallel-R1's controller encodes these
# six as single tokens (verl/verl/parallel_thinking_generation_v3/parallel_thinking_loop_v3.py);
# ryogishiki-0217/Multiverse @6283064 Multiverse/train/utils.py.
SPECIAL_TAGS = {
    "threadweaver": ("<Think>", "</Think>", "<Parallel>", "</Parallel>", "<Outlines>", "</Outlines>",
                     "<Outline>", "</Outline>", "<Thread>", "</Thread>", "<Conclusion>", "</Conclusion>"),
    "parallel-r1": ("<Parallel>", "</Parallel>", "<Path>", "</Path>", "<Summary>", "</Summary>"),
    "multiverse": ("<Think>", "</Think>", "<Parallel>", "</Parallel>", "<Goal>", "</Goal>", "<Outline>",
                   "</Outline>", "<Path>", "</Path>", "<Conclusion>", "</Conclusion>"),
}
UPSTREAM = {p.name: p for p in (THREADWEAVER, PARALLEL_R1, MULTIVERSE)}
HARNESS = "harness"  # the task's own prompt under `serial`, with the harness's system message


def upstream_problem(user: str) -> str | None:
    """The problem inside a user message written by an upstream profile, or None (a scripted
    policy reads the problem back from the prompt, whichever profile wrote it)."""
    for p in UPSTREAM.values():
        head, _, tail = p.user.partition("{problem}")
        if user.startswith(head) and user.endswith(tail) and len(user) >= len(head) + len(tail):
            return user[len(head): len(user) - len(tail)]
    return None
