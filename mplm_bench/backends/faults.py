"""A fault-injecting wrapper around any real backend, to prove a run survives what engines do.

`-M faults=error=0.1,hang=0.05,garbage=0.1,seed=3` (or a YAML mapping, `-M 'faults={error: 0.1}'`)
makes that fraction of calls fail in one of these ways, before or after the real backend works:

| kind | what the call does | the sample ends |
|---|---|---|
| `error` | raises, on every attempt | `engine_error` |
| `transient` | raises `TransientBackendError` on its first `transient_attempts` attempts, then runs | as without the fault; the call row counts the retries |
| `hang` | never answers until aborted | `timeout` past `-M request_timeout_s` (else at `-S max_wall_s`) |
| `garbage` | runs, then its text is replaced by random tag soup | as the runtime decides (`protocol_error`, ...) |
| `bad_utf8` | runs, then its text's bytes are damaged and decoded with replacement (U+FFFD, NUL) | as the runtime decides |

Which call gets which fault is a pure function of (seed, request id), never of timing, so a run
with faults repeats; retries of one call (backends/retry.py) see the same fault.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mplm_bench.backends.engine_common import EarlyAborts, aborted_before_start
from mplm_bench.backends.retry import split_attempt
from mplm_bench.runtime.backend import Backend, Completion, Request, TransientBackendError

FaultKind = Literal["error", "transient", "hang", "garbage", "bad_utf8"]
KINDS: tuple[FaultKind, ...] = ("error", "transient", "hang", "garbage", "bad_utf8")

# what garbage is made of: fragments of the tag grammar, ids that look like paths, control bytes
_SOUP = ("<spawn [", "<spawn [1,2]>", "</spawn>", "<send [0]>", "<send [../x,/etc]>", "</send>",
         "<recv", "<recv [", "<recv [99]>", "<stop", "</stop>", "[", "]", ",", "<", ">", "\x00",
         "\ufffd", "\u202e", "{ From 1: 4 }", "\n", " ", "ok", "🙂")


class FaultPlan(BaseModel):
    """Fractions of calls per fault kind (their sum at most 1), and the seed that picks them."""

    model_config = ConfigDict(extra="forbid")

    error: float = Field(0.0, ge=0, le=1)
    transient: float = Field(0.0, ge=0, le=1)
    hang: float = Field(0.0, ge=0, le=1)
    garbage: float = Field(0.0, ge=0, le=1)
    bad_utf8: float = Field(0.0, ge=0, le=1)
    seed: int = 0
    transient_attempts: int = Field(1, ge=1)  # failed attempts before a transient call runs

    @model_validator(mode="after")
    def _total(self) -> FaultPlan:
        if sum(getattr(self, k) for k in KINDS) > 1 + 1e-9:
            raise ValueError("the fault fractions add up to more than 1")
        return self

    def kind_for(self, request_id: str) -> FaultKind | None:
        """The fault of the call with this (logical) request id, or None."""
        digest = hashlib.sha256(f"{self.seed}|{request_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        edge = 0.0
        for kind in KINDS:
            edge += getattr(self, kind)
            if u < edge:
                return kind
        return None


def parse_faults(spec: Any) -> FaultPlan:
    """`error=0.1,hang=0.05,seed=3` (`:` works for `=`) or a mapping; ValueError with one line."""
    if isinstance(spec, str):
        values: dict[str, Any] = {}
        for item in filter(None, (x.strip() for x in spec.split(","))):
            key, sep, raw = item.replace(":", "=", 1).partition("=")
            if not sep:
                raise ValueError(f"faults: {item!r} is not kind=fraction")
            values[key.strip()] = raw.strip()
        spec = values
    if not isinstance(spec, dict):
        raise ValueError("faults: expected kind=fraction,... (kinds: " + ", ".join(KINDS) + ", seed)")
    try:
        return FaultPlan(**spec)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ValueError(f"faults: unknown kind {loc!r} (kinds: {', '.join(KINDS)}, seed, "
                             "transient_attempts)") from None
        raise ValueError(f"faults: {loc + ': ' if loc else ''}{err['msg'].removeprefix('Value error, ')}") from None


def garbage(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_SOUP) if rng.random() < 0.7 else chr(rng.randrange(32, 0x2FFF))
                   for _ in range(n))


def damage_utf8(text: str, rng: random.Random) -> str:
    """The text's UTF-8 bytes with a few bytes replaced by invalid ones, decoded with replacement
    (what a client that decodes a broken byte stream leniently would hand on)."""
    data = bytearray(text.encode("utf-8") or b" ")
    for _ in range(max(1, len(data) // 50)):
        i = rng.randrange(len(data))
        data[i : i + 1] = rng.choice((b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\xf0\x9f"))
    return data.decode("utf-8", errors="replace")


class FaultyBackend:
    """Any Backend, with the faults of a FaultPlan injected into its calls."""

    def __init__(self, inner: Backend, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.name = inner.name
        self.virtual_time = inner.virtual_time
        self.injected: Counter[str] = Counter()  # attempts that got each fault (tests, debugging)
        self._hanging: dict[str, asyncio.Event] = {}
        self._early = EarlyAborts()

    def __getattr__(self, name: str) -> Any:  # render, max_model_len, options of the inner one
        return getattr(self.inner, name)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe() | {"faults": self.plan.model_dump()}

    async def generate(self, request: Request) -> Completion:
        base, attempt = split_attempt(request.request_id)
        kind = self.plan.kind_for(base)
        if kind is None or (kind == "transient" and attempt >= self.plan.transient_attempts):
            return await self.inner.generate(request)
        if kind == "hang" and self._early.claim(request.request_id):
            return aborted_before_start()  # aborted before it could start hanging
        self.injected[kind] += 1
        if kind == "error":
            raise RuntimeError("injected fault: the engine failed this call")
        if kind == "transient":
            raise TransientBackendError(f"injected fault: transient failure (attempt {attempt})")
        if kind == "hang":
            wake = self._hanging[request.request_id] = asyncio.Event()
            try:
                await wake.wait()
            finally:
                del self._hanging[request.request_id]
            return Completion("", 0, 0, "abort", error="injected hang, aborted")
        comp = await self.inner.generate(request)
        if comp.finish_reason not in ("stop", "length"):
            return comp
        rng = random.Random(f"{self.plan.seed}|{base}|{kind}")
        text = garbage(rng, rng.randrange(1, 200)) if kind == "garbage" else damage_utf8(comp.text, rng)
        return replace(comp, text=text)

    async def abort(self, request_id: str) -> None:
        if (wake := self._hanging.get(request_id)) is not None:
            wake.set()
            return
        self._early.add(request_id)  # a call that would hang must not start after its abort
        await self.inner.abort(request_id)

    async def aclose(self) -> None:
        await self.inner.aclose()
