"""Per-call timeout and bounded retries, around any backend (`-M request_timeout_s`, ...).

Why here, as a wrapper at the Backend interface, and not in a backend or the scheduler: every
backend needs the same time limit, and every strategy's schedulers see one logical call (one call
row) however many attempts it took, while the runtime stays free of wall-clock policy. What is
retried is only what is known to be transient:

- a `TransientBackendError` (a backend's way to say "send it again"), and
- a call that gave no answer within `request_timeout_s`: it is aborted through the backend's own
  `abort` and sent again under a fresh request id (an engine may still be cleaning up the old one).

The `openai` backend already retries refused connections, 429 and 5xx answers before the first
token (`-M max_retries`) and raises only once those are spent: such errors are not retried again
here (that would multiply the attempts). Other exceptions are engine errors, not retried. The
call row's `retries` column counts the failed attempts, the backend's own included. What a
timed-out attempt generated before its abort produced no step, so it is not in
`completion_tokens` (nor the sample's `gen_tokens`), but the engine spent it: it is counted in
`discarded_tokens`, on the call row and summed on the sample.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mplm_bench.backends.engine_common import EarlyAborts, aborted_before_start
from mplm_bench.runtime.backend import Backend, Completion, Request, TransientBackendError

ABORT_GRACE_S = 10.0  # how long an aborted attempt may take to return what it has
ATTEMPT_SEP = "~retry"  # request id of attempt n > 0: f"{id}~retry{n}"


class RetryOptions(BaseModel):
    """`-M` keys every backend takes (they shape calls, not the backend's own settings)."""

    model_config = ConfigDict(extra="forbid")

    request_timeout_s: float | None = Field(default=None, gt=0)  # None: a call may take any time
    request_retries: int = Field(default=2, ge=0, le=20)
    retry_backoff_s: float = Field(default=0.5, ge=0, le=60)  # doubles per attempt, at most 8x

    def backoff(self, attempt: int) -> float:
        return self.retry_backoff_s * 2 ** min(attempt, 3)


RETRY_KEYS = tuple(RetryOptions.model_fields)


def _failed(e: Exception, retries: int) -> Completion:
    return Completion("", 0, 0, "error", retries=retries,
                      error=f"{type(e).__name__}: {e}"[:500] + f" (after {retries} retries)")


def attempt_id(request_id: str, attempt: int) -> str:
    return request_id if attempt == 0 else f"{request_id}{ATTEMPT_SEP}{attempt}"


def split_attempt(request_id: str) -> tuple[str, int]:
    """(the logical request id, the attempt number) of an attempt's request id."""
    base, sep, n = request_id.rpartition(ATTEMPT_SEP)
    return (base, int(n)) if sep and n.isdigit() else (request_id, 0)


class _Call:
    __slots__ = ("current", "aborted", "discarded")

    def __init__(self, current: str) -> None:
        self.current = current
        self.aborted = False
        self.discarded = 0  # completion tokens of attempts that timed out


class RetryingBackend:
    """A Backend that gives each call a time limit and retries transient failures."""

    def __init__(self, inner: Backend, options: RetryOptions | None = None) -> None:
        self.inner = inner
        # not `options`: that name reaches the inner backend's own (strategies read its max_model_len)
        self.retry = options or RetryOptions()
        self.name = inner.name
        self.virtual_time = inner.virtual_time
        self._calls: dict[str, _Call] = {}
        self._aborted = EarlyAborts()  # ids aborted while no retry loop held them

    def __getattr__(self, name: str) -> Any:  # render, max_model_len, options of the inner one
        return getattr(self.inner, name)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe() | {"calls": self.retry.model_dump()}

    async def generate(self, request: Request) -> Completion:
        if self.retry.request_timeout_s is None:
            # the common case in one await (a scripted step costs a few microseconds): attempt 0
            # runs under the caller's own request id, so an abort reaches the inner backend as is
            try:
                return await self.inner.generate(request)
            except TransientBackendError as e:
                if not self.retry.request_retries:
                    return _failed(e, 0)
            return await self._retrying(request, first=1)
        return await self._retrying(request, first=0)

    async def _retrying(self, request: Request, first: int) -> Completion:
        rid = request.request_id
        if self._aborted.claim(rid):
            return aborted_before_start() if first == 0 else \
                Completion("", 0, 0, "abort", error="aborted between attempts", retries=first)
        o = self.retry
        call = self._calls[rid] = _Call(attempt_id(rid, first))
        try:
            for attempt in range(first, o.request_retries + 1):
                if attempt:
                    await asyncio.sleep(o.backoff(attempt - 1))
                    if call.aborted:
                        return Completion("", 0, 0, "abort", error="aborted between attempts",
                                          retries=attempt)
                    call.current = attempt_id(rid, attempt)
                last = attempt == o.request_retries
                try:
                    req = request if attempt == 0 else replace(request, request_id=call.current)
                    comp = await self._attempt(req, call)
                except TransientBackendError as e:
                    if last or call.aborted:
                        return _failed(e, attempt)
                    continue
                if comp is None:  # timed out
                    if last or call.aborted:
                        return Completion("", 0, 0, "timeout", retries=attempt,
                                          discarded_tokens=call.discarded,
                                          error=f"no answer within request_timeout_s={o.request_timeout_s} "
                                                f"({attempt + 1} attempts)")
                    continue
                comp.retries += attempt
                comp.discarded_tokens += call.discarded
                return comp
        finally:
            del self._calls[rid]
        raise AssertionError("unreachable")

    async def _attempt(self, request: Request, call: _Call) -> Completion | None:
        """One attempt; None if it timed out (then it has been aborted)."""
        timeout = self.retry.request_timeout_s
        if timeout is None:
            return await self.inner.generate(request)
        task = asyncio.ensure_future(self.inner.generate(request))
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            task.cancel()  # our caller gave up (the sample ended): so does the attempt
            raise
        await self.inner.abort(request.request_id)
        try:
            comp = await asyncio.wait_for(task, ABORT_GRACE_S)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            return None
        # an answer that came in the grace time is kept; so is the abort the scheduler asked for
        if call.aborted or comp.finish_reason != "abort":
            return comp
        call.discarded += comp.completion_tokens
        return None

    async def abort(self, request_id: str) -> None:
        call = self._calls.get(request_id)
        if call is None:
            # attempt 0 under the caller's id (the inner backend has it, or will: it handles
            # aborts that come before a call starts); remembered so that no retry follows
            self._aborted.add(request_id)
            await self.inner.abort(request_id)
            return
        call.aborted = True
        await self.inner.abort(call.current)

    async def aclose(self) -> None:
        await self.inner.aclose()
