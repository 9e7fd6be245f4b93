"""Prompt profiles: the first prompt each adaptive checkpoint was trained on (docs/checkpoints.md).

A checkpoint forks only when it sees the prompt it was trained with. `-S prompt=upstream` (the
default) sends the dialect's own; `-S prompt=harness` the harness's (system "You are a helpful
assistant." and the task's instruction, as before); `-S prompt=FILE` a YAML file with `system`
(or null) and `user` (holding `{problem}`). The problem is the task's bare statement
(`Task.question`), with no answer instruction of the harness's. The manifest's strategy options
and each sample's `prompt_profile` column record which was sent.

- threadweaver: no system message; user `{q} Let's think step by step and output the final answer
  within \\boxed{}.` — facebookresearch/threadweaver @2662232,
  `data_generation/src/save_dataset.py` (`maybe_build_chat`: `f"{q} {instruction}"`, the default
  instruction at line 320); eval reads that prompt from the data (`threadweaver_sft/src/simple_eval.py`).
- parallel-r1: no system message; user = the v3 parallel-thinking instruction, then
  `Problem: {q}` — zhengkid/Parallel-R1 @7c3a8f3, the committed eval set
  `verl/data_preprocess_scripts/data/APO_combine/adaptive_parallel_thinking_final_with_prompt_v3/
  rl_all_accuracy_reward/test.parquet` (every row), filled by `template.format(Problem=...)` in
  `dapo_parallel_thinking.py`. Its answer is a `Final Answer:` line (tasks/boxed/answers.py).
- multiverse: system `You are Qwen, created by Alibaba Cloud. You are a helpful assistant.`; user
  `{q}\\n` — Swapnil-Gandhi/Multiverse-Engine @b3ed243, `example/example.py` (its raw prompt
  `<|im_start|>user\\n{user_query}\\n<|im_end|>`: the query and a newline as the user content).
"""

from __future__ import annotations

from pathlib import Path

from mplm_bench.config import ConfigError, read_yaml
from mplm_bench.runtime.protocol import SYSTEM_PROMPT
from mplm_bench.tasks.boxed.profiles import HARNESS, UPSTREAM, PromptProfile

__all__ = ["HARNESS", "UPSTREAM", "PromptProfile", "first_prompt", "load_profile"]


def load_profile(spec: str, dialect: str) -> PromptProfile | None:
    """`upstream` (the dialect's), `harness` (None: the task's prompt), or a YAML file."""
    if spec == "upstream":
        return UPSTREAM[dialect]
    if spec == HARNESS:
        return None
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(f"-S prompt={spec}: not upstream, harness, or a YAML file with `system` and `user`")
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("user"), str) or "{problem}" not in data["user"]:
        raise ConfigError(f"{path}: a prompt file needs `user:` text holding {{problem}} (and `system:`, or null)")
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise ConfigError(f"{path}: `system:` must be text or null")
    return PromptProfile(path.name, system, data["user"])


def first_prompt(profile: PromptProfile | None, question: str | None, harness_prompt: str) -> tuple[str | None, str]:
    """(system message, user message) of a sample's first request."""
    if profile is None:
        return SYSTEM_PROMPT, harness_prompt
    assert question is not None  # AdaptiveStrategy.check refused a task without one
    return profile.system, profile.render(question)
