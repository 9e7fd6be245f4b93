"""`export-sft`: scripted samples -> selected steps -> train/validation files and a dataset card.

Validation happens before anything is written: names, options, the output folder, the noise
setting. The files are written into a staged folder that replaces DIR at the end (writer.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from mplm_bench.config import ConfigError
from mplm_bench.export.card import WRONG_ANSWER, write_card
from mplm_bench.export.options import ExportOptions
from mplm_bench.export.select import Selector, digest, validation_groups
from mplm_bench.export.steps import SampleSteps, Step, TraceSource
from mplm_bench.export.summary import SPLITS, ExportSummary
from mplm_bench.export.writer import SplitWriter, StagedDir

SampleFn = Callable[[str, SampleSteps], None]
StartFn = Callable[[int], None]  # told how many samples will run


def _row(src: TraceSource, sample: SampleSteps, s: Step, split: str, layout: str) -> dict[str, Any]:
    chat = [
        {"role": "system", "content": s.system},
        {"role": "user", "content": s.prompt},
        {"role": "assistant", "content": s.response},
    ]
    text = {"messages": chat} if layout == "messages" else {"prompt": chat[:2], "completion": chat[2:]}
    return text | {
        "task": src.cfg.task, "protocol": src.protocol, "strategy": src.cfg.strategy,
        "instance_id": sample.instance.id, "call": s.call, "thread_id": s.thread_id, "role": s.role,
        "step": s.step, "depth": s.depth, "round": s.round, "size": sample.instance.size,
        "split": split, "config_hash": src.config_hash, "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens, "correct": sample.correct,
        "assistant_prefix": s.assistant_prefix, "ends_turn": s.ends_turn,
    }


def _sources(opts: ExportOptions) -> tuple[list[TraceSource], float, bool]:
    """The protocols' trace sources, the error rate, and whether only the references are noisy."""
    sources = [TraceSource(p, opts) for p in dict.fromkeys(opts.protocols)]
    m = sources[0].plan.backend_options
    rate = float(m.get("error_rate") or 0.0)
    # PaCoRe rows are synthesis steps only: with exact synthesis every response written is exact
    references_only = rate > 0 and bool(m.get("exact_synthesis")) and set(opts.protocols) == {"pacore"}
    if rate > 0 and not references_only and not opts.allow_noise:
        raise ConfigError(f"-M error_rate={rate:g} makes the scripted policy err on purpose; training "
                          "data should be the exact reference traces (pass --allow-noise to export "
                          "noisy ones anyway, marked as such in the dataset card; for PaCoRe synthesis "
                          "over noisy references alone, --protocol pacore with -M exact_synthesis=true)")
    if float(m.get("conformity") or 0.0) > 0:  # not noise to allow: the rows would teach copying
        raise ConfigError("-M conformity makes synthesis steps copy a reference instead of reasoning "
                          "(backends/conformity.py): no training data; export without it")
    for src in sources:
        src.backend()  # a bad tokenizer fails here, before anything is written
    return sources, rate, references_only


def export_sft(opts: ExportOptions, on_sample: SampleFn | None = None,
               on_start: StartFn | None = None) -> ExportSummary:
    """Write DIR/{train,validation}.parquet (+ .jsonl) and DIR/README.md; raise ConfigError on bad
    input with nothing written."""
    started = time.perf_counter()
    staged = StagedDir(opts.out, opts.overwrite)
    staged.check()
    sources, rate, references_only = _sources(opts)
    instances = sources[0].instances
    # a problem is identified by its data (puzzle, formula, document and question), not by the
    # master's first prompt: under a harness-driven protocol that prompt may be generic
    groups = [digest(json.dumps(i.data, sort_keys=True, default=str)) for i in instances]
    val = validation_groups(groups, opts.val_fraction, opts.seed)
    todo, seen = [], set()
    for idx, g in enumerate(groups):
        if opts.dedupe and g in seen:
            continue
        seen.add(g)
        todo.append(idx)
    summary = ExportSummary(opts, [], error_rate=rate, noisy_references_only=references_only)
    summary.dropped["duplicate instance"] = len(instances) - len(todo)

    if on_start is not None:
        on_start(len(todo) * len(sources))
    folder = staged.create()
    writers = {s: SplitWriter(folder, s, opts.layout, opts.jsonl) for s in SPLITS}
    selector = Selector(opts)
    try:
        asyncio.run(_collect(sources, todo, groups, val, writers, selector, summary, on_sample))
        summary.rows = {s: w.close() for s, w in writers.items()}
        if not summary.rows["train"]:
            raise ConfigError("nothing to export: no training rows are left (see the options "
                              "that drop steps, and whether any sample ended ok)")
        summary.files = [p.name for w in writers.values() if w.rows
                         for p in (w.parquet_path, w.jsonl_path) if p is not None]
        summary.dropped.update(selector.dropped)
        summary.sources = [src.describe() for src in sources]
        summary.elapsed_s = time.perf_counter() - started
        write_card(folder / "README.md", summary)
        staged.commit()
    except BaseException:
        for w in writers.values():
            w.close()
        staged.discard()
        raise
    return summary


async def _collect(sources: list[TraceSource], todo: list[int], groups: list[bytes], val: set[bytes],
                   writers: dict[str, SplitWriter], selector: Selector, summary: ExportSummary,
                   on_sample: SampleFn | None) -> None:
    opts = summary.opts
    try:
        for idx in todo:
            split = "validation" if groups[idx] in val else "train"
            summary.instances[split] += 1
            for src in sources:
                sample = await src.sample(src.instances[idx])
                summary.samples[sample.status] += 1
                summary.dropped["step preempted or cut (no complete response)"] += sample.unfinished
                if sample.status == "ok" and not sample.correct:
                    summary.samples[WRONG_ANSWER] += 1
                    if not opts.allow_noise:
                        summary.dropped["sample with a wrong answer (all its steps)"] += 1
                        sample.steps = []
                for step, copies in selector.select(src.protocol, sample.instance.id, sample.steps):
                    row = _row(src, sample, step, split, opts.layout)
                    for _ in range(copies):
                        writers[split].add(row)
                        summary.counts[split, src.protocol, step.role] += 1
                        summary.prompt_tokens[split].append(step.prompt_tokens)
                        summary.completion_tokens[split].append(step.completion_tokens)
                if on_sample is not None:
                    on_sample(src.protocol, sample)
    finally:
        for src in sources:
            await src.aclose()
