"""SIGINT, SIGTERM and SIGHUP all stop a run the same way: cleanly, once.

Schedulers and CI stop a job with SIGTERM (then SIGKILL), a closed terminal sends SIGHUP; by
default both end the process at once, leaving its manifest `running` forever. Here each becomes
what Ctrl-C is: the running samples are cancelled, the manifest is marked `interrupted`, the
command prints one line and exits 128 + the signal's number (130, 143, 129), and the same
command resumes. Inside the event loop (`run_stoppable`) the first signal cancels the main task
and later ones are ignored while it writes what is done, so three quick Ctrl-Cs cannot break
that cleanup into a traceback; one more after `GRACE_S` abandons it (a hung engine shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Coroutine, Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 10.0  # later signals are ignored this long after the first; then one abandons cleanup


class Interrupted(KeyboardInterrupt):
    """A stop by signal; `KeyboardInterrupt` so that every `except KeyboardInterrupt` holds."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Interrupted` like SIGINT raises KeyboardInterrupt (for the
    parts of a command outside the event loop: planning, an engine starting)."""

    def raise_it(signum: int, _frame: Any) -> None:
        raise Interrupted(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread: leave the default
            old[sig] = signal.signal(sig, raise_it)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_stoppable(main: Coroutine[Any, Any, Any]) -> Any:
    """`asyncio.run(main)`; a signal cancels `main` (its `finally` blocks run) and raises
    `Interrupted` once it has finished."""
    state: dict[str, Any] = {"signum": None, "at": 0.0}

    async def guarded() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            if state["signum"] is None:
                state["signum"], state["at"] = signum, time.monotonic()
                task.cancel()
            elif time.monotonic() - state["at"] > GRACE_S:
                raise Interrupted(signum)  # cleanup hangs: give up on it

        for sig in SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await main
        finally:
            for sig in SIGNALS:
                loop.remove_signal_handler(sig)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if state["signum"] is None:
            raise
        raise Interrupted(state["signum"]) from None
