"""The engine's log goes to `engine.log` in the run folder, not the terminal (`-v`: terminal).

vLLM, torch and their worker processes print dozens of start-up lines (Triton, NUMA, OpenMP,
deprecations) that bury the progress bar, and an engine that dies says why in them. So while an
engine starts, file descriptors 1 and 2 of this process point at the log: the engine's processes
are started then and keep it as their stdout/stderr, C libraries included. Afterwards this process
gets its terminal back, and the Python loggers of the engine (and Python warnings) keep writing
to the log until the run ends. A start that fails names the log in its one error line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mplm_bench import registry

# loggers of the engine stack; vLLM's own handler (stdout) is replaced while the log is kept
ENGINE_LOGGERS = ("vllm", "torch", "transformers", "py.warnings")
LOG_NAME = "engine.log"


def keeps_engine_log(backend: str) -> bool:
    """Backends that run an engine in this process mark their factory `engine_logs = True`."""
    try:
        return bool(getattr(registry.backends.get(backend), "engine_logs", False))
    except Exception:  # an optional backend whose engine is missing: nothing to keep
        return False


class EngineLog:
    """`with log.starting(run_dir): build the backend`; then `log.close()` when the run ends."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.path: Path | None = None
        self._file: Any = None
        self._saved: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
        self._warnings = False

    @contextlib.contextmanager
    def starting(self, run_dir: Path) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self.close()  # a sweep's next engine: the log of the cell that starts it
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / LOG_NAME
        self._file = self.path.open("a", buffering=1, encoding="utf-8", errors="replace")
        with _descriptors_to(self._file.fileno()):
            yield
        self._take_loggers()

    def failure(self, message: str) -> str:
        """An error line for an engine that did not start: where its own words are."""
        if self.path is None or not self.path.exists():
            return message
        return f"{message}; the engine's log: {self.path}"

    def _take_loggers(self) -> None:
        handler = logging.StreamHandler(self._file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
        for name in ENGINE_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, list(logger.handlers), logger.propagate))
            logger.handlers = [handler]
            logger.propagate = False
        logging.captureWarnings(True)  # warnings.warn from torch/vllm: to py.warnings, the log
        self._warnings = True

    def close(self) -> None:
        for logger, handlers, propagate in self._saved:
            logger.handlers, logger.propagate = handlers, propagate
        self._saved.clear()
        if self._warnings:
            logging.captureWarnings(False)
            self._warnings = False
        if self._file is not None:
            self._file.close()
            self._file = None


@contextlib.contextmanager
def _descriptors_to(fd: int) -> Iterator[None]:
    """fds 1 and 2 to `fd` for the block (processes started in it keep them), then back."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for s in saved:
            os.close(s)
