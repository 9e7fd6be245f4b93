"""The scripted backend: the task's reference policy writes every step, a real tokenizer counts.

Instant and deterministic, no model. Its time axis is virtual (token time), so the scheduler can
order async completions and preemptions reproducibly. Token counting is incremental: a prompt is
a list of segments (a resumed thread's previous prompt plus what it grew by; a spawn body shared by
all siblings), each counted once and cached, because fork-join at 25x25 re-sends the whole grid
to hundreds of workers for dozens of rounds. Segment counts differ from whole-string counts only
where BPE would merge across a segment boundary (measured in tests/test_tokenizer.py).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict

from mplm_bench.backends.base import BackendError, Completion, Request
from mplm_bench.registry import backends
from mplm_bench.tasks.base import Policy


class ScriptedOptions(BaseModel):
    """`-M key=value` options of the scripted backend."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # whose tokenizer counts tokens (when `tokenizer` is not given)
    tokenizer: str | None = None  # None: the model's, else the embedded SmolLM2's; "approx": chars/4
    max_model_len: int | None = None  # no context window unless set


class ScriptedBackend:
    name = "scripted"
    virtual_time = True

    def __init__(self, policy: Policy, options: ScriptedOptions | None = None, counter: Any = None) -> None:
        self.options = options or ScriptedOptions()
        self.policy = policy
        if counter is None:
            from mplm_bench.models.tokenizer import load_token_counter

            counter = load_token_counter(self.options.tokenizer or self.options.model)
        self.counter = counter
        self._overhead: dict[str | None, int] = {}
        # (sample, thread) -> prompt tokens of its previous step: an ideal prefix cache
        self._last: OrderedDict[str, int] = OrderedDict()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "tokenizer": self.counter.name,
            "tokenizer_exact": self.counter.exact,
            "max_model_len": self.options.max_model_len,
        }

    def prompt_tokens(self, request: Request) -> int:
        if request.system not in self._overhead:
            self._overhead[request.system] = self.counter.overhead(request.system)
        count = self.counter.count
        return self._overhead[request.system] + sum(count(s) for s in request.segments)

    async def generate(self, request: Request) -> Completion:
        n_prompt = self.prompt_tokens(request)
        limit = self.options.max_model_len
        if limit is not None and n_prompt > limit:
            return Completion("", n_prompt, 0, "prompt_too_long",
                              error=f"prompt of {n_prompt} tokens exceeds max_model_len={limit}")
        thread_key = request.request_id.rsplit("/", 1)[0] + "/" + request.thread_id
        cached = self._last.pop(thread_key, 0)
        self._last[thread_key] = n_prompt
        if len(self._last) > 200_000:
            self._last.popitem(last=False)
        text = self.policy(request.prompt)
        n_out = self.counter.count(text)
        finish = "stop"
        budget = request.sampling.max_tokens
        if limit is not None:
            budget = min(budget or limit, limit - n_prompt)
        if budget is not None and n_out > budget:  # cut like an engine would; character-proportional is close enough
            text = text[: len(text) * budget // max(n_out, 1)]
            n_out, finish = budget, "length"
        return Completion(text, n_prompt, n_out, finish, cached_prompt_tokens=min(cached, n_prompt))

    async def abort(self, request_id: str) -> None:
        return None  # nothing runs in the background; the scheduler cuts virtual time itself

    async def aclose(self) -> None:
        return None


@backends.register("scripted")
def build_scripted(policy: Policy, options: dict[str, Any]) -> ScriptedBackend:
    try:
        return ScriptedBackend(policy, ScriptedOptions(**options))
    except ValueError as e:  # e.g. a tokenizer that is not available offline
        raise BackendError(str(e).splitlines()[0]) from None


build_scripted.options_model = ScriptedOptions  # type: ignore[attr-defined]  # for `mplm-bench list`
