"""What `--data` names, for the run id: a local file or folder by its contents, else the text.

The run id must change when the data does, or a resume into the same `--out` mixes samples of
the old and the new puzzles; and it must not change with the spelling of the path (`good.jsonl`,
`./good.jsonl`, the absolute path are one run). So a local file is keyed by the SHA-256 of its
bytes, a local folder (a DIMACS folder, a saved `datasets` folder) by the names and bytes of the
files in it, and anything else (a hub dataset id) by its text. The resolved path goes in the
manifest for the record (`data_record`), never into the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def local_path(spec: str) -> Path | None:
    path = Path(spec).expanduser()
    return path if path.exists() else None


def content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's sorted relative names and their files' bytes."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f is not path:
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def data_key(spec: str | None) -> str | None:
    """The identity of `--data`: `sha256:<first 16 hex>` for local data, else the spec itself."""
    if spec is None:
        return None
    path = local_path(spec)
    return spec if path is None else f"sha256:{content_digest(path)[:16]}"


def data_record(spec: str | None, key: str | None) -> dict[str, Any] | None:
    """What the manifest records about `--data`: as given, resolved, and the key."""
    if spec is None:
        return None
    path = local_path(spec)
    return {"given": spec, "path": str(path.resolve()) if path else None, "key": key}


def problem_key(data: object) -> str:
    """A problem's identity by content (puzzle, formula, ...), not by seed or id: the hex of the
    digest export-sft groups its splits by (export/select.py), so model cards list their training
    problems by it and `run` checks its instances against a card with it (docs/training.md §1)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(data, sort_keys=True, default=str).encode())
    h.update(b"\0")
    return h.hexdigest()
