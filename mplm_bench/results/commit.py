"""Committing finished samples in small batches instead of one pair of files each.

A finished sample waits about `flush_s` (an event-loop timer: later while the loop is busy) or until
`max_rows` are waiting, and is then committed with the others waiting in one pair of files
(RunStore.write_batch). So a crash loses at most the samples in flight and those finished since the
last batch; a resume runs exactly those again.
Nothing per sample stays in memory once written: only counts.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from mplm_bench.results.schema import CALL_SCHEMA, sample_schema

if TYPE_CHECKING:
    import pyarrow as pa

    from mplm_bench.executors.base import Outcome
    from mplm_bench.results.store import RunStore

FLUSH_S = 1.0
MAX_ROWS = 1000


class Committer:
    def __init__(self, store: RunStore, flush_s: float | None = None, max_rows: int | None = None) -> None:
        self.store = store
        self.flush_s = FLUSH_S if flush_s is None else flush_s
        self.max_rows = MAX_ROWS if max_rows is None else max_rows
        self.written = 0  # samples committed by this session
        self.batches: list[str] = []
        self._rows: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._schema: pa.Schema | None = None
        self._last = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._error: BaseException | None = None

    def add(self, done: Outcome) -> None:
        if self._error is not None:  # a timed flush failed (a full disk): stop the run with it
            raise self._error
        if self._schema is None:
            self._schema = sample_schema(done.row)
        self._rows.append(done.row)
        self._calls.extend(done.calls)
        if len(self._rows) >= self.max_rows or time.monotonic() - self._last >= self.flush_s:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.flush_s, self._due)
            except RuntimeError:  # no loop (a synchronous caller): commit at once
                self.flush()

    def _due(self) -> None:
        self._timer = None
        try:
            self.flush()
        except BaseException as e:  # noqa: BLE001 - raised again by the next add()
            self._error = e

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last = time.monotonic()
        if not self._rows:
            return
        assert self._schema is not None
        rows, calls = self._rows, self._calls
        self.batches.append(self.store.write_batch(rows, calls, self._schema, CALL_SCHEMA))
        self._rows, self._calls = [], []
        self.written += len(rows)
