"""The scripted backend: the task's reference policy writes every step, a real tokenizer counts.

Instant and deterministic, no model. Its time axis is virtual (token time), so the scheduler can
order async completions and preemptions reproducibly. Token counting is incremental: a prompt is
a list of segments (a resumed thread's previous prompt plus what it grew by; a spawn body shared by
all siblings), each counted once and cached, because fork-join at 25x25 re-sends the whole grid
to hundreds of workers for dozens of rounds. Segment counts differ from whole-string counts only
where BPE would merge across a segment boundary (measured in tests/models/test_tokenizer.py).

With `-M error_rate=p` the policy is noisy (see `backends/noise.py`): steps go wrong under an
error model, so protocols can be compared under an imperfect "model" without a GPU. With
`-M exact_synthesis=true` PaCoRe's synthesis steps stay exact while the references they read err:
what synthesis alone recovers, and synthesis training data over references that disagree.
With `-M conformity=p` a step that received other threads' answers (PaCoRe's references) adopts
one of them with probability p instead of reasoning for itself (`backends/conformity.py`).
A request that asks for log-probabilities (`Sampling.logprobs`, DeepConf) gets a seeded token
confidence per generated token, lower on the noise's wrong steps (`backends/confidence_signal.py`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mplm_bench.backends.confidence_signal import ConfidenceSignal
from mplm_bench.backends.conformity import Conformity
from mplm_bench.backends.noise import ErrorModel, Noise
from mplm_bench.registry import backends
from mplm_bench.runtime.backend import BackendError, Completion, FinishReason, Request, cut_at_stop
from mplm_bench.runtime.synthesis import is_synthesis
from mplm_bench.tasks.base import Policy

RESPONSE_CACHE = 32  # recent prompts whose responses are kept
# samples whose threads' last prompts are kept (least recently called dropped first): 32x the
# default --concurrency, so a sample in flight is never dropped, yet memory stays flat however
# many samples a run has (per thread it was ~11 KB a sample, for good)
LAST_SAMPLES = 2048


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slices (C-speed compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class ScriptedOptions(BaseModel):
    """`-M key=value` options of the scripted backend."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # whose tokenizer counts tokens (when `tokenizer` is not given)
    tokenizer: str | None = None  # None: the model's, else the embedded SmolLM2's; "approx": chars/4
    max_model_len: int | None = Field(default=None, ge=1)  # no context window unless set
    error_rate: float = Field(0.0, ge=0.0, le=1.0)  # 0: the exact reference policy
    error_model: ErrorModel = "tokens"  # step | tokens | context | position (backends/noise.py)
    error_seed: int = 0
    exact_synthesis: bool = False  # the noise spares PaCoRe's synthesis steps
    # a step that received answers (PaCoRe's references) copies one with this probability
    conformity: float = Field(0.0, ge=0.0, le=1.0)
    # the token-confidence signal a request asking for log-probabilities gets (DeepConf;
    # backends/confidence_signal.py): mean, drop on a wrong step, per-token sd, per-step sd
    confidence_level: float = 3.0
    confidence_gap: float = Field(0.5, ge=0.0)
    confidence_noise: float = Field(1.0, ge=0.0)
    confidence_spread: float = Field(0.2, ge=0.0)


CONFIDENCE_KEYS = ("confidence_level", "confidence_gap", "confidence_noise", "confidence_spread")


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
        # (sample, thread) -> (segments, prompt tokens) of its previous step: for counting only
        # what a resumed prompt grew by, and as an ideal prefix cache
        self._last: OrderedDict[str, dict[str, tuple[tuple[str, ...], int]]] = OrderedDict()
        o = self.options
        self.noise: Noise | None = None
        if o.error_rate > 0:
            corrupt = getattr(policy, "corrupt", None)  # a task's ReferencePolicy carries it
            if corrupt is None:
                raise BackendError("error_rate > 0 needs a task reference policy with an error model")
            self.noise = Noise(o.error_rate, o.error_model, o.error_seed, corrupt)
        self.n_corrupted = 0  # steps the noise made wrong (tests and debugging)
        self.conformity = Conformity(o.conformity, o.error_seed)
        self.signal = ConfidenceSignal(o.confidence_level, o.confidence_gap, o.confidence_noise,
                                       o.confidence_spread, o.error_seed)
        self.n_adopted = 0  # steps that copied a received answer (-M conformity)
        # prompt -> response: a policy is a pure function of its prompt, and PaCoRe/SC send one
        # prompt K times in a row (a 9x9 serial trace costs ~10 ms to write, ~25 ms to count)
        self._responses: OrderedDict[str, str] = OrderedDict()
        # sample -> its recent continuation prompts + responses (segments, tokens): a prefix cache
        self._prefixes: dict[str, list[tuple[tuple[str, ...], int]]] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "tokenizer": self.counter.name,
            "tokenizer_exact": self.counter.exact,
            "max_model_len": self.options.max_model_len,
            "error_rate": self.options.error_rate,
            "error_model": self.options.error_model,
            "error_seed": self.options.error_seed,
            "exact_synthesis": self.options.exact_synthesis,
            # only when set: a resumed run from before the knob sees no setup change
            **({"conformity": self.options.conformity} if self.options.conformity else {}),
            # only when changed: the signal is read only by requests that ask for log-probabilities
            **{k: getattr(self.options, k) for k in CONFIDENCE_KEYS
               if getattr(self.options, k) != ScriptedOptions.model_fields[k].default},
        }

    def prompt_tokens(self, request: Request, previous: tuple[tuple[str, ...], int] | None = None) -> int:
        """Template overhead + the segments' counts. `previous` is the same thread's last
        (segments, count): a resumed thread's segments extend it, so only the new ones are
        counted (a 25x25 MPLM cell resumes ~25 times with ever more segments)."""
        if request.system not in self._overhead:
            self._overhead[request.system] = self.counter.overhead(request.system)
        count = self.counter.count
        segments = request.segments + (request.assistant or ())
        if previous is not None:
            old, n_old = previous
            k = len(old)
            if len(segments) > k and segments[:k] == old:
                return n_old + sum(count(s) for s in segments[k:])
        return self._overhead[request.system] + sum(count(s) for s in segments)

    async def generate(self, request: Request) -> Completion:
        sample = request.request_id.rsplit("/", 1)[0]
        threads = self._last.pop(sample, None) or {}
        self._last[sample] = threads  # most recently called last
        if len(self._last) > LAST_SAMPLES:
            self._last.popitem(last=False)
        previous = threads.get(request.thread_id)
        n_prompt = self.prompt_tokens(request, previous)
        # an ideal prefix cache: the thread's previous prompt is cached when this one extends it
        cached = previous[1] if previous is not None else 0
        if request.assistant is not None:  # a continuation also reuses its parent's prefix
            cached = max(cached, self._shared_prefix(sample, request.segments + request.assistant))
        threads[request.thread_id] = (request.segments + (request.assistant or ()), n_prompt)
        limit = self.options.max_model_len
        if limit is not None and n_prompt > limit:
            return Completion("", n_prompt, 0, "prompt_too_long",
                              error=f"prompt of {n_prompt} tokens exceeds max_model_len={limit}")
        adopted = self.conformity.adopt(request)
        text, stop_reason = cut_at_stop(self._respond(request.policy_text) if adopted is None else adopted,
                                        request.stop)
        n_out = self.counter.count(text)
        noise = None if self._spared(request) or adopted is not None else self.noise
        self.n_adopted += adopted is not None
        wrong_from: int | None = None  # the token where a corrupted step first differs
        if noise is not None and (wrong := noise.apply(request, text, n_prompt, n_out)) is not None:
            if request.sampling.logprobs is not None:
                k = _common_prefix(text, wrong)
                wrong_from = self.counter.count(wrong[:k]) if k else 0
            text, n_out = wrong, self._count_edit(text, wrong)
            self.n_corrupted += 1
        finish: FinishReason = "stop"
        budget = request.sampling.max_tokens
        if limit is not None:
            budget = min(budget or limit, limit - n_prompt)
        if budget is not None and n_out > budget:  # cut like an engine would; character-proportional is close enough
            text = text[: len(text) * budget // max(n_out, 1)]
            n_out, finish, stop_reason = budget, "length", None
        if request.assistant is not None:
            self._remember(sample, request.segments + request.assistant + (text,), n_prompt + n_out)
        confs = None
        if request.sampling.logprobs is not None:
            confs = tuple(self.signal.confidences(request, n_out, wrong_from))
            if request.on_confidences is not None:
                request.on_confidences(confs)  # all at once: the step is instant in wall time
        return Completion(text, n_prompt, n_out, finish, cached_prompt_tokens=min(cached, n_prompt),
                          stop_reason=stop_reason, token_confidences=confs)

    def _shared_prefix(self, sample: str, segments: tuple[str, ...]) -> int:
        """Tokens of the longest earlier continuation prompt (+ its response) of this sample that
        `segments` extend: a branch's prompt is its parent's prompt, response and header."""
        best = 0
        for segs, n in self._prefixes.get(sample, ()):
            if n > best and len(segs) <= len(segments) and segments[: len(segs)] == segs:
                best = n
        return best

    def _remember(self, sample: str, segments: tuple[str, ...], n: int) -> None:
        seen = self._prefixes.setdefault(sample, [])
        seen.append((segments, n))
        del seen[:-64]
        if len(self._prefixes) > 4096:
            self._prefixes.pop(next(iter(self._prefixes)))

    def _spared(self, request: Request) -> bool:
        """A step the noise leaves exact (`-M exact_synthesis`: PaCoRe's synthesis steps)."""
        return self.options.exact_synthesis and is_synthesis(request.prompt)

    def _respond(self, prompt: str) -> str:
        text = self._responses.get(prompt)
        if text is None:
            text = self._responses[prompt] = self.policy(prompt)
            if len(self._responses) > RESPONSE_CACHE:
                self._responses.popitem(last=False)
        return text

    def _count_edit(self, clean: str, wrong: str) -> int:
        """Tokens of a corrupted response: its unchanged lines (counted once, then cached: every
        corruption of one trace shares them) plus the rest. Split at a newline, which the
        tokenizers here never merge with the next line's first token."""
        k = _common_prefix(clean, wrong)
        cut = wrong.rfind("\n", 0, k) + 1
        if cut == 0:
            return self.counter.count(wrong)
        return self.counter.count(wrong[:cut]) + self.counter.count(wrong[cut:])

    async def abort(self, request_id: str) -> None:
        return None  # nothing runs in the background; the scheduler cuts virtual time itself

    async def aclose(self) -> None:
        return None


@backends.register("scripted", options=ScriptedOptions)
def build_scripted(policy: Policy | None, options: dict[str, Any]) -> ScriptedBackend:
    if policy is None:  # the task has no reference policy for this protocol (tasks/base.py)
        raise BackendError("the scripted backend needs the task's reference policy, and this task "
                           "has none for the protocol: run it on a real model (-b vllm or -b openai)")
    try:
        return ScriptedBackend(policy, ScriptedOptions(**options))
    except ValueError as e:  # e.g. a tokenizer that is not available offline
        raise BackendError(str(e).splitlines()[0]) from None
