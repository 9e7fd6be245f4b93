"""One writer per run folder: an exclusive `flock` on RUN/.lock, held for the whole run.

Two runs writing one folder raced on temp names and quarantined each other's committed samples
(issue 22.2). The lock makes the second one stop at once with one line; the kernel drops it when
its holder exits, however it exits, so a crash never leaves a stale lock. Readers need no lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mplm_bench.config import ConfigError


class RunLocked(ConfigError):
    """Another process writes this run folder."""


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(f"{self.path.parent} is being written by another mplm-bench run "
                            f"(pid {holder}); wait for it to end, or give this one another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
