"""Deprecated path: PaCoRe's synthesis template lives in `mplm_bench/runtime/synthesis.py`, where
tasks' policies and the scripted backend may depend on it. Kept so existing imports still work."""

from mplm_bench.runtime.synthesis import *  # noqa: F403
from mplm_bench.runtime.synthesis import (  # noqa: F401
    _CLOSING,
    _ORIGINAL,
    _REFERENCES,
)
