"""What the real-engine backends (vllm in-process, openai over HTTP) share.

Both render a step the same way (docs/protocols.md §1: one single-turn chat, the model's own chat template,
generation prompt appended) with the same tokenizer files, so a prompt sent over HTTP is byte for
byte the prompt the in-process engine sees. Nothing here imports vllm, torch or transformers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from mplm_bench.runtime.backend import Completion, FinishReason, Request, cut_at_stop

ENGINE_HINT = "make setup (installs the cpu or gpu extra)"


@dataclass(slots=True)
class EngineCompletion(Completion):
    """A Completion that also carries the generated token ids, when the engine reports them.

    The ids are the ground truth for `completion_tokens`: decoding and re-encoding the text is
    not an identity (the end-of-turn token is dropped from the text; BPE may merge differently).
    """

    token_ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    text: str
    token_ids: list[int]


class ChatRenderer:
    """Renders a Request as its model's chat and tokenizes the result once."""

    def __init__(self, name: str, render: Callable[[list[dict[str, str]]], str],
                 encode: Callable[[str], list[int]]) -> None:
        self.name = name
        self._render = render
        self._encode = encode
        self._pieces: OrderedDict[str, list[int]] = OrderedDict()  # assistant segments' ids

    @staticmethod
    def messages(request: Request) -> list[dict[str, str]]:
        messages = [] if request.system is None else [{"role": "system", "content": request.system}]
        messages.append({"role": "user", "content": request.prompt})
        return messages

    def chat_ids(self, messages: list[dict[str, str]]) -> tuple[str, list[int]]:
        """The chat with its generation prompt (where the assistant turn starts), and its ids."""
        text = self._render(messages)
        return text, self._encode(text)

    def chat(self, request: Request) -> str:
        return self.chat_ids(self.messages(request))[0]

    def text(self, request: Request) -> str:
        """The whole prompt text; a continuation goes on inside the assistant turn."""
        return self.chat(request) + "".join(request.assistant or ())

    def __call__(self, request: Request) -> RenderedPrompt:
        chat, ids = self.chat_ids(self.messages(request))
        if request.assistant is None:
            return RenderedPrompt(chat, ids)
        # each assistant segment encoded on its own: a child's segments extend its parent's, so
        # its ids extend the parent's ids (re-encoding the joined text could merge a token across
        # a branch header and break the shared prefix the engine's cache serves)
        for seg in request.assistant:
            ids = ids + self._piece(seg)
        return RenderedPrompt(chat + "".join(request.assistant), ids)

    def _piece(self, seg: str) -> list[int]:
        got = self._pieces.get(seg)
        if got is None:
            got = self._pieces[seg] = self._encode(seg)
            if len(self._pieces) > 1024:
                self._pieces.popitem(last=False)
        return got

    def count(self, text: str) -> int:
        return len(self._encode(text))


def counter_renderer(spec: str | None) -> ChatRenderer:
    """A renderer from `mplm_bench.models.tokenizer` (tokenizers + jinja2, no transformers).

    Its jinja rendering reproduces transformers' `apply_chat_template(..., tokenize=False,
    add_generation_prompt=True)` (checked against it in tests/engine/test_backend_vllm.py), and it encodes
    without adding BOS/EOS, as an engine does with a chat-templated prompt.
    """
    from mplm_bench.models.tokenizer import load_token_counter

    counter = load_token_counter(spec)
    if not counter.exact:
        raise ValueError(f"tokenizer {spec!r} is approximate; an engine needs the model's own")
    template = counter.chat_template
    return ChatRenderer(counter.name, lambda m: template.render(m, add_generation_prompt=True),
                        counter.encode)


def hf_renderer(tokenizer: Any, name: str) -> ChatRenderer:
    """A renderer from a Hugging Face tokenizer object (the engine's own), as a fallback."""

    def render(messages: list[dict[str, str]]) -> str:
        return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))

    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    return ChatRenderer(name, render, encode)


# vLLM's finish reasons (vllm.v1.engine.FinishReason) and OpenAI's, mapped to the harness's.
# "repetition" is vLLM's opt-in loop detector: the engine chose to stop, so it counts as a stop.
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "repetition": "stop",
    "length": "length",
    "abort": "abort",
    "cancelled": "abort",
    "error": "error",
}


def finish_reason(raw: str | None) -> FinishReason:
    return _FINISH.get(str(raw).lower(), "error") if raw is not None else "error"


def too_long(n_prompt: int, max_model_len: int) -> Completion | None:
    """The engine rejects a prompt that leaves no room for one generated token; say so up front."""
    if n_prompt <= max_model_len - 1:
        return None
    return Completion("", n_prompt, 0, "prompt_too_long",
                      error=f"prompt of {n_prompt} tokens leaves no room to generate in "
                            f"max_model_len={max_model_len}")


def token_budget(requested: int | None, n_prompt: int, max_model_len: int | None) -> int:
    """max_tokens to send: the request's, never past the window; None means 'what the window
    leaves' (engines must get an explicit number: vLLM and most servers default to 16)."""
    room = max_model_len - n_prompt if max_model_len else None
    if requested is None:
        return room if room is not None else 4096
    return min(requested, room) if room is not None else requested


class EarlyAborts:
    """Ids aborted before their `generate` started running.

    The scheduler may abort a step whose task was created but has not run yet (a preemption in the
    same event-loop turn); that `generate` must then end at once instead of starting the request.
    Bounded, because an id aborted after it finished is remembered here and never claimed.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, request_id: str) -> None:
        self._ids[request_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def claim(self, request_id: str) -> bool:
        """True (once) if `request_id` was aborted before it started."""
        if request_id not in self._ids:
            return False
        del self._ids[request_id]
        return True


def aborted_before_start() -> Completion:
    return Completion("", 0, 0, "abort", error="aborted before it started")


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A request made ready to send: rendered, its token budget explicit, timed from here.

    In replay mode (`-M replay=scripted`, issue 11) `replayed` is the reference policy's text for
    this step and `max_tokens` its length, so the engine generates exactly as many tokens.
    """

    prompt: RenderedPrompt
    max_tokens: int
    replayed: str | None
    t0: float
    replayed_stop: str | None = None  # the stop string the replayed text ends with

    @property
    def n_prompt(self) -> int:
        return len(self.prompt.token_ids)


def prepare_call(request: Request, renderer: ChatRenderer, early: EarlyAborts,
                 max_model_len: int | None, policy: Callable[[str], str] | None) -> PreparedCall | Completion:
    """What both engines do before sending a request, or the Completion that ends it unsent:
    an abort that came before the call started, or a prompt the window cannot take."""
    if early.claim(request.request_id):
        return aborted_before_start()
    t0 = time.perf_counter()
    prompt = renderer(request)
    n_prompt = len(prompt.token_ids)
    if max_model_len and (rejected := too_long(n_prompt, max_model_len)) is not None:
        return rejected
    budget = token_budget(request.sampling.max_tokens, n_prompt, max_model_len)
    replayed, stop = None, None
    if policy is not None:
        replayed, stop = cut_at_stop(policy(request.policy_text), request.stop)
        budget = min(budget, max(1, renderer.count(replayed)))
    return PreparedCall(prompt, budget, replayed, t0, stop)


def with_replayed_text(done: Completion, replayed: str | None, stop: str | None = None) -> Completion:
    """Replay: the engine's tokens are timed, the reference text goes into the thread's history;
    a forced-length generation ends where the reference step ends, so it counts as a stop."""
    if replayed is None or done.finish_reason not in ("stop", "length"):
        return done
    return replace(done, text=replayed, finish_reason="stop", stop_reason=stop)


def keeps_special_tokens(request: Request) -> bool:
    """A dialect's tags are in play (stop strings, or a continuation of one assistant turn): the
    engine must return special tokens as text. The adaptive checkpoints add their tags to the
    tokenizer as special tokens, and vLLM's default `skip_special_tokens=true` drops them, so the
    stop string would never show and nothing would fork (ThreadWeaver's and Multiverse's own
    inference code send `skip_special_tokens: False`; docs/parallel.md §special tokens)."""
    return bool(request.stop) or request.assistant is not None


def special_token_params(request: Request) -> dict[str, bool]:
    """The sampling parameters that keep special tokens in the text where a dialect's tags are in
    play (and no space between two of them, which vLLM inserts by default): in-process vLLM's
    `SamplingParams` and vLLM's and SGLang's request bodies take the same names."""
    if not keeps_special_tokens(request):
        return {}
    return {"skip_special_tokens": False, "spaces_between_special_tokens": False}


def restore_stop(reported: object, text: str, stop: tuple[str, ...]) -> tuple[str, str | None]:
    """The step's text with the stop string that ended it, and that string (None: EOS).

    The engines are asked *not* to include the stop string (so an end-of-sequence token that is
    a special token is not written out either) and to report which stop matched: vLLM's
    `stop_reason`, SGLang's `matched_stop`. A reported stop is put back, so a dialect reads the
    trace the model wrote. A server that keeps the stop string and reports nothing is read from the
    text's end. One that trims it and reports nothing cannot be told from EOS: the openai backend
    refuses it before any sample runs (backends/stop_probe.py)."""
    if isinstance(reported, str) and reported in stop:
        return (text if text.endswith(reported) else text + reported), reported
    return text, next((s for s in stop if text.endswith(s)), None)


def options_error(backend: str, model: type[BaseModel], e: ValidationError) -> str:
    """One line for a bad `-M` option, naming the known keys when the key is unknown."""
    err = e.errors()[0]
    key = ".".join(str(x) for x in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown {backend} backend option -M {key} (known: {', '.join(model.model_fields)})"
    return f"{backend} backend option -M {key}: {err['msg']}"
