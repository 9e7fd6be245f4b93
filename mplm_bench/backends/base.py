"""Deprecated path: the Backend interface lives in `mplm_bench/runtime/backend.py` (the core
defines the interface it calls; backends implement it). Kept so existing imports still work."""

from mplm_bench.runtime.backend import (  # noqa: F401
    ASSISTANT_MARK,
    Backend,
    BackendError,
    Completion,
    FinishReason,
    Request,
    Sampling,
    TransientBackendError,
    cut_at_stop,
)
