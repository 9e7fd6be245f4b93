"""The manifest a run folder already holds, read before anything runs (a damaged one stops the
run in one line; see docs/hardening.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mplm_bench.config import ConfigError

if TYPE_CHECKING:
    from mplm_bench.results.store import RunStore


def previous_manifest(store: RunStore) -> dict[str, Any] | None:
    """The manifest already in a run folder (None: a new run); a damaged one is a ConfigError,
    before anything runs: its sessions cannot be kept, and guessing would lose the record."""
    try:
        return read_manifest(store.manifest_path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{store.manifest_path}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:
        raise ConfigError(f"{store.manifest_path}: damaged manifest ({e}); the samples beside it are "
                          "intact: move the manifest away and run again to resume them") from None


# what readers take from a manifest, and the type each must have where present
_TYPES: dict[str, type | tuple[type, ...]] = {
    "run_id": str, "config_hash": str, "status": str, "started_at": str, "config": dict,
    "sampling": dict, "task_options": (dict, type(None)), "strategy_options": (dict, type(None)),
    "backend": dict, "executor": dict, "caps": dict, "latency_model": dict, "sessions": list,
    "versions": dict, "git": dict, "host": dict, "identity": dict, "resumed": int,
    "n_samples_on_disk": int, "n_instances": int}
_CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "task": str, "strategy": str, "backend": str, "task_options": dict, "strategy_options": dict,
    "backend_options": dict}


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest, checked to be one: ValueError (why, one line) for text that is not JSON,
    nested past what a parser should follow, or JSON whose shape is not a manifest's (`{"config":
    5}`); every reader (run, report, check, plot, view) goes through here, so none meets a
    manifest it cannot use. OSError as raised (FileNotFoundError: no manifest)."""
    text = Path(path).read_text(errors="replace")
    try:
        manifest = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to be a manifest") from None
    except ValueError as e:
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"a JSON {type(manifest).__name__}, not an object")
    if "config" not in manifest:
        raise ValueError("not a run manifest: no config")
    for table, types, where in ((manifest, _TYPES, ""), (manifest["config"], _CONFIG_TYPES, "config.")):
        for key, kind in types.items():
            if not isinstance(table, dict):
                break
            if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool) and kind is int):
                raise ValueError(f"not a run manifest: {where}{key} is a JSON {_json_type(table[key])}")
    if any(not isinstance(s, dict) for s in manifest.get("sessions", [])):
        raise ValueError("not a run manifest: sessions holds a non-object")
    return manifest


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "number", float: "number"}.get(type(value), type(value).__name__)
