"""What the Countdown golden tests share: the traces APR's own code wrote
(tests/data/countdown_apr_golden.json; test_countdown_golden.py says how) and a scripted run
returning its samples and calls."""

from __future__ import annotations

import json

from cli_helpers import DATA_DIR

import mplm_bench
from mplm_bench.config import RunConfig

GOLDEN = json.loads((DATA_DIR / "countdown_apr_golden.json").read_text())


def run(tmp_path, strategy, task=None, n=5, seed=42, **kw):
    cfg = RunConfig(task="countdown", strategy=strategy, task_options=task or {}, backend="scripted",
                    n=n, seed=seed, out=tmp_path, log_prompts=True, **kw)
    result = mplm_bench.run(cfg)  # the Python API owns the backend's life
    return result.samples(), result.calls()
