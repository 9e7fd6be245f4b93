"""mplm-bench: a benchmark harness for LLM reasoning strategies over one message-passing runtime.

The Python API (mplm_bench/api.py), loaded on first use so that `import mplm_bench` imports
nothing heavy:

    from mplm_bench import run
    result = run("sudoku", "mplm", backend="scripted", task_options={"size": 4}, n=3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Manifest", "RunResult", "SweepResult", "arun", "run", "sweep"]

if TYPE_CHECKING:
    from mplm_bench.api import Manifest, RunResult, SweepResult, arun, run, sweep


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mplm_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'mplm_bench' has no attribute {name!r}")
