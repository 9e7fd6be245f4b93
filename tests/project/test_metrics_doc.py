"""docs/metrics.md names every column a run's Parquet can hold (issue 35): each strategy on a task
it runs, on the scripted backend, plus a streamed input; the instance's own descriptors (the
task's `Instance.meta`, e.g. a Sudoku's `n_givens`) are the tasks' pages' to describe."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_helpers import REPO

from mplm_bench import run
from mplm_bench.analysis import system_metrics
from mplm_bench.config import RunConfig
from mplm_bench.registry import tasks
from mplm_bench.results.schema import CALL_COLUMNS, SAMPLE_COLUMNS
from mplm_bench.results.store import RunStore

DOC = REPO / "docs" / "metrics.md"
COMBOS = [("sudoku", s, {"size": 4}) for s in ("cot", "fj", "mplm", "sc", "pacore", "deepconf")] + \
    [(t, s, {}) for t in ("sat", "longqa") for s in ("cot", "fj", "mplm")] + \
    [("countdown", s, {}) for s in ("sos", "apr")] + \
    [("multiply", s, {}) for s in ("cot", "threadweaver", "parallel-r1", "multiverse", "sc", "pacore")] + \
    [("math", "cot", {})]


def named() -> set[str]:
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_@]*)`", DOC.read_text()))


def parquet_columns(run_dir: Path) -> set[str]:
    return {name for f in RunStore(run_dir).scan().samples for name in pq.read_schema(f).names}


def descriptors(task: str, options: dict) -> set[str]:
    cls = tasks.get(task)
    return set(cls(cls.Options(**options)).generate(1, 0)[0].meta)


@pytest.fixture(scope="module")
def columns(tmp_path_factory) -> dict[str, set[str]]:
    out_dir = tmp_path_factory.mktemp("metrics_doc")
    found: dict[str, set[str]] = {}
    runs = [(t, s, o, run(t, s, backend="scripted", n=1, task_options=o, out=out_dir).dir) for t, s, o in COMBOS]
    streamed = RunConfig(task="longqa", strategy="mplm", backend="scripted", n=1, out=out_dir, input_rate=200.0)
    runs.append(("longqa", "mplm", {}, run(streamed).dir))
    for task, strategy, options, run_dir in runs:
        for col in parquet_columns(run_dir) - descriptors(task, options):
            found.setdefault(col, set()).add(f"{task}/{strategy}")
    return found


def test_every_sample_column_is_in_docs_metrics(columns):
    missing = {c: sorted(w) for c, w in columns.items() if c not in named()}
    assert not missing, f"docs/metrics.md does not name: {missing}"


def test_the_fixed_columns_the_report_columns_and_the_calls_columns_are_too():
    doc = named()
    fixed = [n for n, _ in SAMPLE_COLUMNS + CALL_COLUMNS]
    report = list(system_metrics.MEANS.values()) + list(system_metrics.RATES) + list(system_metrics.RENAMED)
    assert not [c for c in fixed + report if c not in doc]
    for name in ("pass@k", "mean@k", "maj@k", "speedup", "acceleration_ratio", "token_latency"):
        assert name in doc
