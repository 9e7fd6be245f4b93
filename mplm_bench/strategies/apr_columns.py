"""APR's token counts of a sample, as its evaluation computes them (Parallel-Reasoning/APR,
src/eval/eval_apr.py `calculate_tokens`), from the sample's call records.

APR counts whole sequences (a call's prompt + its completion) over every call of the search tree:
- `token_count`: all sequences, with the common prefix of consecutive root calls counted once
  (a root call after its children returned re-reads the root's trace so far);
- `longest_seq_token_count`: the longest single sequence;
- `avg_seq_token_count`: token_count / (child calls + 1).

Here the common prefix of root calls k and k+1 is min(prompt_k + completion_k, prompt_{k+1}):
a thread's context only grows, so the next call's prompt starts with the whole previous sequence.
APR adds a BOS and an EOS token to each sequence; counts here have neither.
"""

from __future__ import annotations

from typing import Any

from mplm_bench.runtime.accounting import CallRecord
from mplm_bench.runtime.protocol import MASTER_ID


def apr_columns(calls: list[CallRecord]) -> dict[str, Any]:
    seqs = [c.prompt_tokens + c.completion_tokens for c in calls]
    root = sorted((c for c in calls if c.thread_id == MASTER_ID), key=lambda c: c.step)
    shared = sum(min(a.prompt_tokens + a.completion_tokens, b.prompt_tokens) for a, b in zip(root, root[1:], strict=False))
    count = sum(seqs) - shared
    children = sum(1 for c in calls if c.thread_id != MASTER_ID)
    return {"token_count": count, "longest_seq_token_count": max(seqs, default=0),
            "avg_seq_token_count": round(count / (children + 1), 3)}
