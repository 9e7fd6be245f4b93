"""Per-call records and per-sample metrics (docs/architecture.md §8)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    TRUNCATED = "truncated"
    PROTOCOL_ERROR = "protocol_error"
    DEADLOCK = "deadlock"
    CAP_EXCEEDED = "cap_exceeded"
    ENGINE_ERROR = "engine_error"
    TIMEOUT = "timeout"


@dataclass(slots=True)
class CallRecord:
    call: int  # index within the sample, in start order
    thread_id: str
    parent_id: str | None
    step: int  # the thread's own step counter, from 0
    round: int  # dependency level: 1 + max(level of what this step waited on)
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    stop_reason: str = ""  # the stop string that ended the step ("" when none did)
    status: str = "ok"  # ok | preempted | error
    start_wall: float = 0.0
    end_wall: float = 0.0
    start_v: float = 0.0  # virtual (token) time
    end_v: float = 0.0
    cp_start: float = 0.0  # critical-path token time
    cp_end: float = 0.0
    ttft_s: float | None = None
    directives: str = ""
    consumed_from: str = ""  # ids whose messages/spawn this step consumed, comma separated
    response: str = ""
    prompt: str | None = None  # only with --log-prompts
    error: str | None = None
    retries: int = 0  # failed attempts before the one recorded (backends/retry.py)
    discarded_tokens: int = 0  # tokens those failed attempts generated (not in completion_tokens)

    def to_row(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class SampleMetrics:
    status: Status = Status.OK
    detail: str = ""  # one line on why a sample did not end ok
    answer: str | None = None
    gen_tokens: int = 0
    discarded_tokens: int = 0  # engine work of failed attempts: not steps, still spent
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    critical_path_tokens: float = 0.0
    peak_context_tokens: int = 0
    n_threads: int = 0
    n_calls: int = 0
    n_messages: int = 0
    n_dropped_messages: int = 0
    n_preempted: int = 0
    n_truncated_calls: int = 0
    n_protocol_errors: int = 0
    max_depth: int = 0
    rounds: int = 0
    virtual_time: float = 0.0
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def add_call(self, rec: CallRecord) -> None:
        self.n_calls += 1
        self.gen_tokens += rec.completion_tokens
        self.discarded_tokens += rec.discarded_tokens
        self.prompt_tokens += rec.prompt_tokens
        self.cached_prompt_tokens += rec.cached_prompt_tokens
        if rec.finish_reason != "prompt_too_long":  # a rejected prompt never entered the window
            self.peak_context_tokens = max(
                self.peak_context_tokens, rec.prompt_tokens + rec.completion_tokens
            )
        self.rounds = max(self.rounds, rec.round)
        if rec.finish_reason in ("length", "prompt_too_long"):  # cut by the window, either way
            self.n_truncated_calls += 1
