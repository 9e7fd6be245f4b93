"""The manifest a run folder already holds, read before anything runs (a damaged one stops the
run in one line; see docs/hardening.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mplm_bench.config import ConfigError

if TYPE_CHECKING:
    from mplm_bench.results.store import RunStore


def previous_manifest(store: RunStore) -> dict[str, Any] | None:
    """The manifest already in a run folder (None: a new run); a damaged one is a ConfigError,
    before anything runs: its sessions cannot be kept, and guessing would lose the record."""
    try:
        manifest = store.read_manifest()
    except OSError as e:
        raise ConfigError(f"{store.manifest_path}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:
        manifest, why = [], f"not valid JSON: {e}"
    else:
        why = f"a JSON {type(manifest).__name__}, not an object"
    if manifest is None or isinstance(manifest, dict):
        return manifest
    raise ConfigError(f"{store.manifest_path}: damaged manifest ({why}); the samples beside it are "
                      "intact: move the manifest away and run again to resume them")
