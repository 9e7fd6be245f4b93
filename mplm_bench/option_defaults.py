"""Option defaults in the run id: a run is keyed by what it measures, and a default is part of that.

The run id hashes the options as typed (config.py `RunConfig.identity`). An option left out takes
its default, so a changed default (a task's `terms` 6 -> 7) would resume an old folder with old
instances beside new ones (issue 39.3). The declared defaults of every built-in task, strategy,
cap, sampling and latency option were frozen on that day in `option_defaults.json`; a run's
config gains `defaults`, the defaults in effect that differ from that baseline (and a task's or
strategy's `version` when not 0), and it enters the hash only when not empty. So every run id of
that day stays as it was, and a later changed or removed default, or a version bump, starts a new
run folder. An option added later is not in it: it must default to the behaviour before it (else
raise the task's or strategy's `version`). A task or strategy not built in on that day (from a
file) has every default in its `defaults`. Never regenerate the baseline: that would silently key
changed defaults as unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

BASELINE = Path(__file__).with_name("option_defaults.json")
_REMOVED = "<removed>"


def declared_defaults(cls: type) -> dict[str, Any]:
    """An options class's fields and their declared defaults, as JSON values."""
    out: dict[str, Any] = {}
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        for name, f in cls.model_fields.items():
            out[name] = f.get_default(call_default_factory=True)
    elif dataclasses.is_dataclass(cls):
        for fld in dataclasses.fields(cls):
            if fld.default is not dataclasses.MISSING:
                out[fld.name] = fld.default
            elif fld.default_factory is not dataclasses.MISSING:
                out[fld.name] = fld.default_factory()
    return json.loads(json.dumps(out, sort_keys=True, default=str))


@cache
def baseline() -> dict[str, dict[str, Any]]:
    return json.loads(BASELINE.read_text())


def drift(parts: list[tuple[str, type, set[str]]], versions: dict[str, int]) -> dict[str, Any] | None:
    """`parts`: (baseline key such as `task:sudoku`, options class, the keys typed). The defaults
    in effect (not typed) that differ from the baseline, per part, and non-zero versions; None
    when nothing differs (the run id stays that of the baseline's day)."""
    out: dict[str, Any] = {}
    frozen = baseline()
    for key, cls, typed in parts:
        now = {k: v for k, v in declared_defaults(cls).items() if k not in typed}
        before = frozen.get(key)
        if before is None:  # not built in on the baseline's day (a task from a file): all of them
            changed = now
        else:
            changed = {k: v for k, v in now.items() if k in before and before[k] != v}
            changed |= {k: _REMOVED for k in before if k not in now and k not in typed}
        if changed:
            out[key] = changed
    out |= {f"{k} version": v for k, v in versions.items() if v}
    return out or None


def snapshot() -> dict[str, dict[str, Any]]:
    """Every built-in options class's defaults today (how the baseline file was made)."""
    from mplm_bench import registry
    from mplm_bench.runtime.backend import Sampling
    from mplm_bench.runtime.caps import Caps
    from mplm_bench.runtime.latency import LatencyModel

    out = {"caps": declared_defaults(Caps), "sampling": declared_defaults(Sampling),
           "latency": declared_defaults(LatencyModel)}
    for reg in (registry.tasks, registry.strategies):
        for name in reg.names():
            try:
                out[f"{reg.kind}:{name}"] = declared_defaults(reg.get(name).Options)
            except Exception:  # noqa: BLE001 - an optional one whose dependency is missing
                continue
    return out
