"""Deprecated path of the sweep file's schema (now `mplm_bench/sweep_config.py`), kept so existing
imports work; and the API's `sweep()`, so that `from mplm_bench import sweep` is the function
whether or not this module was imported before (importing a submodule binds its name on the
package, which would otherwise hide the function; mplm_bench/__init__.py)."""

import sys
import types
from typing import Any

from mplm_bench.sweep_config import *  # noqa: F403
from mplm_bench.sweep_config import (  # noqa: F401
    _matches,
    _named,
    _points,
    _Spec,
)


class _SweepModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from mplm_bench.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _SweepModule
