"""Where mplm-bench keeps what it derives once (converted models, tokenizers), and the content
key that tells when a cached copy is stale."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir() -> Path:
    """`$MPLM_BENCH_CACHE`, or `~/.cache/mplm-bench`."""
    env = os.environ.get("MPLM_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mplm-bench"


def file_fingerprint(path: Path, head_bytes: int = 8 << 20) -> str:
    """Short content key of a (large) file: its size and a hash of its first `head_bytes`.

    A GGUF keeps all metadata (tokenizer included) at its start, so this changes whenever the
    tokenizer or the header does, and costs a few milliseconds instead of hashing 100 MB.
    """
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(head_bytes))
    return digest.hexdigest()[:16]
