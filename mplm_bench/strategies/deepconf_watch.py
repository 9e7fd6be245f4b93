"""DeepConf's online stop on a stock engine: a Backend wrapper that watches each trace's token
confidences as they stream and aborts the request when its window confidence falls below the
threshold (docs/deepconf.md).

Upstream needs a custom vLLM branch for this (README-online.md: Viol2000/vllm `conf-stop`, a
logits processor that forces EOS once `len(conf_group_list) >= conf_group_size` and the window's
mean is below `conf_threshold`). Here the engine is stock: it streams top-k log-probabilities
(`Sampling.logprobs`), the backend turns each delta into token confidences and calls
`Request.on_confidences`, and this wrapper aborts through `Backend.abort` of the same backend
chain the scheduler uses (retries and fault injection included), as a preemption does.

What an aborted trace generated is counted once: the completion the backend returns for the
aborted request carries the tokens it had generated (an engine's own count; the openai backend's
count of log-probability entries received), and nothing else is added. On a virtual-time
backend (scripted) a step is generated whole in no wall time, so the wrapper cuts it at the token
where the rule fired, the tokens a real stop would have let through; the whole length is kept for
`tokens_saved`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from mplm_bench.runtime.backend import Backend, Completion, Request
from mplm_bench.runtime.confidence import WindowMonitor


@dataclass(slots=True)
class Watched:
    """What the wrapper saw of one request."""

    confidences: tuple[float, ...]
    stopped_at: int | None = None  # tokens generated when the rule fired (None: it never fired)
    window_conf: float | None = None
    full_tokens: int | None = None  # a virtual-time step's whole length (what running on would cost)
    aborted: bool = False  # the engine request was aborted (False: it had ended already)


class ConfidenceWatch:
    """Records every request's token confidences; with a `threshold`, aborts a request as soon as
    a window of `window_size` tokens has a mean confidence below it."""

    def __init__(self, inner: Backend, window_size: int, threshold: float | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.virtual_time = inner.virtual_time
        self.window_size = window_size
        self.threshold = threshold
        self.seen: dict[str, Watched] = {}  # request id -> what it generated
        self.n_aborts = 0  # abort calls made (tests)

    def __getattr__(self, name: str) -> Any:  # options, max_model_len, render of the inner one
        return getattr(self.inner, name)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def generate(self, request: Request) -> Completion:
        rid = request.request_id
        if self.threshold is None:
            comp = await self.inner.generate(request)
            self.seen[rid] = Watched(comp.token_confidences or ())
            return comp
        monitor = WindowMonitor(self.window_size, self.threshold)
        aborts: list[asyncio.Future[None]] = []

        def on_confidences(confs: Any) -> None:
            if request.on_confidences is not None:
                request.on_confidences(confs)
            if monitor.feed(confs) and not aborts and not self.virtual_time:
                self.n_aborts += 1
                aborts.append(asyncio.ensure_future(self.inner.abort(rid)))

        comp = await self.inner.generate(replace(request, on_confidences=on_confidences))
        for a in aborts:
            await a
        confs = comp.token_confidences or tuple(monitor.confidences)
        if monitor.stopped_at is None:
            self.seen[rid] = Watched(confs)
            return comp
        n = monitor.stopped_at
        why = (f"deepconf: window confidence {monitor.window_conf:.3f} < threshold {self.threshold:.3f} "
               f"after {n} tokens")
        watched = Watched(confs, n, monitor.window_conf)
        if self.virtual_time:
            # generated whole at once: cut where a streamed stop would have ended it
            full = comp.completion_tokens
            text = comp.text[: len(comp.text) * n // max(full, 1)]
            watched.full_tokens, watched.confidences, watched.aborted = full, confs[:n], True
            comp = replace(comp, text=text, completion_tokens=n, finish_reason="abort", stop_reason=None,
                           token_confidences=confs[:n], stopped=why)
        elif comp.finish_reason == "abort":
            watched.aborted = True
            comp = replace(comp, stopped=why, error=None)
        # else: the request ended before the abort reached the engine; its tokens are spent and
        # its answer stands, but its window fell below the threshold: it does not vote
        self.seen[rid] = watched
        return comp

    async def abort(self, request_id: str) -> None:
        await self.inner.abort(request_id)

    async def aclose(self) -> None:  # the run closes the backend it built, never a sample
        return None
