"""The dataset card (DIR/README.md): a Hugging Face YAML header that `datasets` reads (configs and
data files), then what the rows are, the command, counts, token statistics and the full
generation config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from mplm_bench.results.manifest import git_state, package_versions

if TYPE_CHECKING:
    from mplm_bench.export.summary import ExportSummary

WRONG_ANSWER = "wrong answer"  # a sample counter: ended ok, answer scored wrong

COLUMN_DOCS = {
    "messages": "the chat: system, user (the thread's whole prompt at this step), assistant (the reference response)",
    "prompt": "system and user messages (`--layout prompt-completion`)",
    "completion": "the assistant message (`--layout prompt-completion`)",
    "task": "task name",
    "protocol": "serial, fj, mplm or pacore (synthesis steps)",
    "strategy": "the strategy that ran it (`mplm-bench run -s`)",
    "instance_id": "the problem; a problem is whole in one split",
    "call": "the step's index in its sample: the `call` column of the run's calls table",
    "thread_id": "the thread (`0` is the master; SAT nodes `0.1.0`; PaCoRe `r<round>.t<i>`)",
    "role": "master (the root thread) or worker (a thread it spawned, at any depth)",
    "step": "the thread's own step counter, from 0",
    "depth": "spawn depth (master 0)",
    "round": "dependency level of the step (PaCoRe: the round)",
    "size": "the task's size axis (Sudoku N, SAT variables)",
    "split": "train or validation",
    "config_hash": "hash of the generation config: equals the run id hash of the same `mplm-bench run -b scripted`",
    "prompt_tokens": "tokens of the rendered prompt (chat template and generation prompt included)",
    "completion_tokens": "tokens of the response",
    "correct": "whether the sample's final answer was right",
    "assistant_prefix": "`--adaptive-rows calls`: the assistant text before the response (the trunk so far, a thread's header); train on the response after it",
    "ends_turn": "whether the response ends the assistant turn (EOS follows) rather than stopping on a tag the controller acts on",
}


def _header(summary: ExportSummary) -> str:
    files = [{"split": s, "path": f"{s}.parquet"} for s, n in summary.rows.items() if n]
    task = summary.opts.task
    protocols = ", ".join(summary.opts.protocols)
    meta = {
        "pretty_name": f"mplm-bench traces: {task} ({protocols})",
        "tags": ["mplm-bench", "synthetic", "reasoning", "sft"],
        "task_categories": ["text-generation"],
        "configs": [{"config_name": "default", "data_files": files}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def numeric(i: int) -> bool:
        return bool(rows) and all(str(r[i]).replace(",", "").replace(".", "").isdigit() for r in rows)

    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if numeric(i) else "---" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _counts(summary: ExportSummary) -> str:
    rows = [[s, p, r, f"{n:,}"] for (s, p, r), n in sorted(summary.counts.items())]
    per_split = [[s, f"{summary.instances[s]:,}", f"{summary.rows.get(s, 0):,}"] for s in summary.rows]
    return (_table(["split", "protocol", "role", "rows"], rows) + "\n\n"
            + _table(["split", "instances", "rows"], per_split))


def token_stats(prompt: list[int], completion: list[int]) -> dict[str, float]:
    p, c = np.asarray(prompt, dtype=np.int64), np.asarray(completion, dtype=np.int64)
    t = p + c
    return {
        "rows": len(t), "prompt_mean": float(p.mean()), "prompt_max": int(p.max()),
        "response_mean": float(c.mean()), "response_max": int(c.max()),
        "total_p50": float(np.percentile(t, 50)), "total_p95": float(np.percentile(t, 95)),
        "total_max": int(t.max()), "total_sum": int(t.sum()),
    }


def _tokens(summary: ExportSummary) -> tuple[str, int]:
    head = ["split", "rows", "prompt mean", "prompt max", "response mean", "response max",
            "total p50", "total p95", "total max", "total sum"]
    rows, longest = [], 0
    for s in summary.rows:
        if not summary.rows[s]:
            continue
        st = token_stats(summary.prompt_tokens[s], summary.completion_tokens[s])
        longest = max(longest, int(st["total_max"]))
        rows.append([s, f"{st['rows']:,}", f"{st['prompt_mean']:,.0f}", f"{st['prompt_max']:,}",
                     f"{st['response_mean']:,.0f}", f"{st['response_max']:,}", f"{st['total_p50']:,.0f}",
                     f"{st['total_p95']:,.0f}", f"{st['total_max']:,}", f"{st['total_sum']:,}"])
    return _table(head, rows), longest


def generation_config(summary: ExportSummary) -> dict[str, Any]:
    opts = summary.opts.model_dump(mode="json", exclude={"command", "out", "overwrite"})
    return {"export": opts, "sources": summary.sources, "versions": package_versions(), "git": git_state()}


def render_card(summary: ExportSummary) -> str:
    o = summary.opts
    tokenizer = summary.sources[0]["backend"].get("tokenizer", "?") if summary.sources else "?"
    tokens, longest = _tokens(summary)
    left_out = [[k, f"{v:,}"] for k, v in sorted(summary.dropped.items()) if v]
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.samples.items()) if k != WRONG_ANSWER)
    if wrong := summary.samples.get(WRONG_ANSWER, 0):
        statuses += f" ({wrong:,} of them with a wrong answer)"
    layout = "`messages`" if o.layout == "messages" else "`prompt` and `completion`"
    noise = ""
    if summary.noisy_references_only:
        noise = (f"\n> **Noisy references, exact synthesis.** Made with `-M error_rate={summary.error_rate:g} "
                 "-M exact_synthesis=true`: the PaCoRe references in each prompt come from a policy that "
                 "errs on purpose, so they disagree; every response (the synthesis step) is the exact "
                 "reference synthesizer's reading of them. Samples whose answer is still wrong are "
                 "left out unless `--allow-noise`.\n")
    elif summary.error_rate > 0:
        noise = (f"\n> **Noisy traces.** Made with `-M error_rate={summary.error_rate:g}` and "
                 "`--allow-noise`: steps were made wrong on purpose, so these rows are **not** the "
                 "exact reference policy, and wrong answers were kept (column `correct`).\n")
    elif "pacore" in o.protocols:
        noise = ("\n> **PaCoRe synthesis from the exact policy.** Every reference trajectory is the "
                 "reference policy's, so the references a synthesis step reads agree and its response "
                 "restates them. For references that disagree, export with `-M error_rate=0.1 "
                 "-M exact_synthesis=true`: noisy references, exact synthesis responses.\n")
    chat = ("messages",) if o.layout == "messages" else ("prompt", "completion")
    columns = [c for c in COLUMN_DOCS if c in chat or c not in ("messages", "prompt", "completion")]
    parts = [
        _header(summary),
        f"# mplm-bench training traces: {o.task} ({', '.join(o.protocols)})\n",
        "One row per step of every thread of scripted reference samples, written by "
        "`mplm-bench export-sft`: the exact single-turn chat the harness's runtime sends at that step "
        f"(system and user messages) and the reference policy's response (assistant), in {layout}. "
        "A model fine-tuned on these rows is measured by `mplm-bench run` on exactly this format: "
        "each prompt is the one `mplm-bench run -b scripted --log-prompts` logs for that step.\n"
        + noise,
        "## Made with\n\n```bash\n" + (o.command or "mplm-bench export-sft ...") + "\n```\n",
        "## Counts\n\n" + _counts(summary) + "\n\n"
        f"Samples run: {statuses}. Split by problem (instances with equal data are one problem), "
        f"val_fraction {o.val_fraction:g}, seed {o.seed} (generated instances come from the training "
        f"stream, generator seed {-1 - o.seed}, which `run` never takes: docs/training.md §1); master steps written "
        f"{o.upsample_master}×; worker steps kept: "
        + ("none" if o.drop_workers else "all" if o.worker_fraction >= 1 else f"{o.worker_fraction:g} of each sample's") + ".\n",
        "## Tokens\n\n" + f"Counted with the `{tokenizer}` tokenizer, as `mplm-bench run` counts them "
        "(prompt: the rendered chat, template and generation prompt included; total: prompt + "
        "response; the chat template adds its end-of-turn marker to each trained sequence).\n\n"
        + tokens + f"\n\nLongest example: {longest:,} tokens; a trainer's `max_length` below it "
        "truncates examples.\n",
    ]
    if left_out:
        parts.append("## Left out\n\n" + _table(["reason", "count"], left_out) + "\n")
    parts += [
        "## Columns\n\n" + _table(["column", "meaning"], [[f"`{c}`", COLUMN_DOCS[c]] for c in columns]) + "\n",
        "## Use\n\n```python\nfrom datasets import load_dataset\n\n"
        f"ds = load_dataset(\"parquet\", data_files={{s: f\"DIR/{{s}}.parquet\" for s in {[s for s, n in summary.rows.items() if n]!r}}})\n"
        "```\n\nwith DIR this folder, or `load_dataset(\"DIR\")` (this card's `configs`). TRL's "
        "`SFTTrainer` takes it as a conversational dataset (`trl sft --dataset_name DIR "
        "--dataset_test_split validation`).\n",
        "## Generation config\n\n```json\n" + json.dumps(generation_config(summary), indent=2, sort_keys=True, default=str) + "\n```\n",
    ]
    return "\n".join(parts)


def write_card(path: Path, summary: ExportSummary) -> None:
    path.write_text(render_card(summary), encoding="utf-8")
