"""The one Backend interface every engine implements, and what crosses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

# "timeout": no answer within `-M request_timeout_s` (backends/retry.py), after its retries
FinishReason = Literal["stop", "length", "abort", "prompt_too_long", "error", "timeout"]


@dataclass(frozen=True, slots=True)
class Sampling:
    # None: as many as the context window leaves (engines) or unlimited (scripted, no window);
    # an engine backend must always send an explicit number (vLLM's own default is 16)
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1 (got {self.max_tokens})")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be at least 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p})")


@dataclass(frozen=True, slots=True)
class Request:
    """One step of one thread: a single-turn chat (system + user) rendered by the backend."""

    request_id: str
    thread_id: str
    segments: tuple[str, ...]  # concatenated, the user message; kept apart for cached counting
    system: str | None
    sampling: Sampling = field(default_factory=Sampling)

    @property
    def prompt(self) -> str:
        return "".join(self.segments)


@dataclass(slots=True)
class Completion:
    text: str
    prompt_tokens: int  # the whole rendered chat, template included
    completion_tokens: int
    finish_reason: FinishReason
    cached_prompt_tokens: int = 0
    ttft_s: float | None = None  # measured by the harness, not read from engine metrics
    latency_s: float | None = None
    error: str | None = None
    retries: int = 0  # failed attempts before this one (the backend's own and backends/retry.py's)


@runtime_checkable
class Backend(Protocol):
    """Async text generation with aborts. Implementations: scripted, vllm, openai."""

    name: str
    # True when time is virtual (scripted): the scheduler orders completions by token time
    # instead of by when they arrive, which makes async runs reproducible bit for bit.
    virtual_time: bool

    async def generate(self, request: Request) -> Completion: ...

    async def abort(self, request_id: str) -> None: ...

    def describe(self) -> dict[str, Any]:
        """Settings worth recording in the run manifest (never secrets)."""
        ...

    async def aclose(self) -> None: ...


class BackendError(RuntimeError):
    """A backend could not be built or used; the message is meant for the user as is."""


class TransientBackendError(RuntimeError):
    """A call failed in a way worth another try: the same request may simply be sent again.

    Raised by a backend for a fault it does not retry itself; `backends/retry.py` retries it
    (bounded, with backoff). Anything else a backend raises ends the sample `engine_error`."""
