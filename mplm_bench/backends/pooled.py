"""One Backend over several servers of one model (`-b openai -M base_url=URL1,URL2`, docs/servers.md).

Each server has its own single-server backend (its client, its tokenizer checks, its stop probe);
this wrapper only decides where each request goes (backends/server_pool.py: a sample pinned to
one server for its prefix cache, new samples to the least loaded) and what happens when a server
fails.

**Failover, by request**: a request whose server failed (refused or reset connection, a stream cut
off, a timeout, 429/5xx after the client's own retries) is sent again, whole, to another server,
and its sample is pinned there from then on. That is consistent with the protocol because every
request carries its whole prompt: the API keeps no state between requests (the prefix cache only
saves work), so the same request on another server of the same model is what a retry on the same
server would be. The sample goes on from its last finished step; the failed attempt produced no
step, so the results hold every sample once with each step once, and the call row's `retries`
counts the failed attempts. What a cut-off stream had generated is lost (not counted).

One exception: a request whose confidences were already streamed to a listener (DeepConf's online
stop, `Request.on_confidences`) is not sent again, since the listener would see two traces as one;
it fails as on one server (its sample ends `engine_error`).

When no live server is left, a request fails at once with one line saying so: its sample, and
every one after it, ends `engine_error` and the run exits 1, as a run on one dead server does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mplm_bench.backends.engine_common import EarlyAborts, aborted_before_start
from mplm_bench.backends.server_pool import ServerPool, sample_of
from mplm_bench.runtime.backend import BackendError, Completion, Request

log = logging.getLogger(__name__)

# why an exception means its server failed: "refused" (no connection: down at once), "failed"
# (counts toward down_after) or None (the request's own fault: raised as on one server)
Classify = Callable[[BaseException], str | None]


def check_agreement(urls: Sequence[str], facts: Sequence[dict[str, Any]], what: str = "model") -> None:
    """One error line unless every server reports the same facts (served identity, stop report,
    context window): a run measures one model, whichever server a sample lands on."""
    for url, theirs in zip(urls[1:], facts[1:], strict=True):
        for key in facts[0]:
            if theirs.get(key) != facts[0][key]:
                raise BackendError(
                    f"the servers do not serve the same {what}: {urls[0]} has {key}={facts[0][key]!r}, {url} has "
                    f"{key}={theirs.get(key)!r}; list only servers of one model in -M base_url (docs/servers.md)")


@dataclass(slots=True)
class _Call:
    server: int | None = None  # where its current attempt runs
    aborted: bool = False


class PooledBackend:
    virtual_time = False

    def __init__(self, name: str, members: Sequence[Any], urls: Sequence[str], classify: Classify,
                 down_after: int = 3) -> None:
        """`members`: one single-server backend per URL (each with `served`, `stop_report`,
        `max_model_len`, `options`, `render`); `urls` as messages may show them."""
        self.name = name
        self.members = list(members)
        self.urls = list(urls)
        self.pool = ServerPool(self.urls, down_after)
        self._classify = classify
        first = self.members[0]
        check_agreement(self.urls, [{"served": m.served, "stop_report": m.stop_report,
                                     "max_model_len": m.max_model_len} for m in self.members])
        self.model, self.options = first.model, first.options
        self.max_model_len, self.stop_report = first.max_model_len, first.stop_report
        self.served = first.served | {"pool": True}  # keys the run without the URLs (config.py)
        self._calls: dict[str, _Call] = {}
        self._early = EarlyAborts()

    def describe(self) -> dict[str, Any]:
        return self.members[0].describe() | {"base_url": self.urls, "served": self.served,
                                             "down_after": self.pool.down_after}

    def render(self, request: Request) -> str:
        live = self.pool.live
        return self.members[live[0] if live else 0].render(request)

    async def generate(self, request: Request) -> Completion:
        rid = request.request_id
        if self._early.claim(rid):
            return aborted_before_start()
        call = self._calls[rid] = _Call()
        sample = sample_of(rid)
        tried: list[int] = []  # servers this request failed on
        errors: list[str] = []
        try:
            while True:
                i = self.pool.route(sample, avoid=tried)
                if i is None:
                    raise RuntimeError(self._nowhere(tried, errors))
                call.server = i
                sent, streamed = _watched(request)
                self.pool.begin(i)
                try:
                    comp = await self.members[i].generate(sent)
                except Exception as e:
                    kind = self._classify(e)
                    if kind is None:
                        raise
                    why = f"{type(e).__name__}: {e}"[:200]
                    if self.pool.failed(i, why, refused=kind == "refused"):
                        log.warning("server %s is down (%s); its samples go on elsewhere (%d of %d live)",
                                    self.urls[i], why, len(self.pool.live), len(self.pool.servers))
                    if call.aborted:
                        return Completion("", 0, 0, "abort", error="aborted while its server failed",
                                          retries=len(tried) + 1)
                    if streamed:
                        raise RuntimeError(f"{why} after confidences were streamed to a listener: "
                                           "not sent again to another server") from None
                    tried.append(i)
                    errors.append(f"{self.urls[i]}: {why}")
                    continue
                finally:
                    self.pool.end(i)
                self.pool.succeeded(i)
                comp.retries += len(tried)
                return comp
        finally:
            del self._calls[rid]

    def _nowhere(self, tried: list[int], errors: list[str]) -> str:
        n = len(self.pool.servers)
        if not self.pool.live:
            downs = "; ".join(f"{s.url}: {s.down}" for s in self.pool.servers)
            return f"all {n} servers are down ({downs})"[:500]
        return f"failed on each live server it was sent to ({'; '.join(errors)})"[:500]

    async def abort(self, request_id: str) -> None:
        call = self._calls.get(request_id)
        if call is None:  # not started yet (or done): it must not start
            self._early.add(request_id)
            return
        call.aborted = True
        if call.server is not None:
            await self.members[call.server].abort(request_id)

    async def aclose(self) -> None:
        log.info("servers: %s", self.pool.summary())
        for m in self.members:
            await m.aclose()


def _watched(request: Request) -> tuple[Request, list[bool]]:
    """The request with its confidence listener wrapped to note whether it heard anything (then
    the request is not sent again: the exception above). The flag: a list, empty until it hears."""
    heard: list[bool] = []
    listener = request.on_confidences
    if listener is None:
        return request, heard

    def on_confidences(confs: Any) -> None:
        if len(confs) and not heard:
            heard.append(True)
        listener(confs)

    return replace(request, on_confidences=on_confidences), heard
