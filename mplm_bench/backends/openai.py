"""The `openai` backend: any OpenAI-compatible `/v1/completions` server (vLLM, SGLang, llama.cpp).

The chat template is applied here, on the client, with the model's own tokenizer files and the same
renderer as the in-process `vllm` backend, and the rendered text is sent as a plain completion
prompt: the server sees byte for byte the prompt the in-process engine would. (`prompt_format=
token_ids` sends the token ids instead, as the OpenAI API allows `prompt` to be a list of token ids;
vLLM accepts it, not every server does.) Responses are streamed, so the harness can time the first
token and an abort (closing the connection; vLLM then aborts the request) keeps the text so far.

Counts come from the server's `usage` (`prompt_tokens`, `completion_tokens`,
`prompt_tokens_details.cached_tokens`; vLLM reports cached tokens only when started with
`--enable-prompt-tokens-details`). An aborted stream has no usage: its completion tokens are the
client tokenizer's count of the text received.

Replay (`-M replay=scripted`, as on the vllm backend): the task's reference policy writes each
step's text and the server is asked for exactly that many tokens (`min_tokens` = `max_tokens`,
`ignore_eos`: extra body parameters vLLM's OpenAI server accepts); its text is discarded.

Log-probabilities (`Sampling.logprobs`, DeepConf): `logprobs: k` in the request; each streamed
chunk's `choices[].logprobs.top_logprobs` becomes token confidences (runtime/confidence.py).

Several servers (`-M base_url=URL1,URL2`, or a file of URLs): one run spread over them, a sample
pinned to one server, a dead server's requests sent again elsewhere (backends/pooled.py,
docs/servers.md).

Uses httpx (imported when the backend is built). The API key is sent as a bearer token and never
appears in `describe()`, errors or logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mplm_bench.backends.engine_common import (
    ChatRenderer,
    EarlyAborts,
    counter_renderer,
    finish_reason,
    options_error,
    prepare_call,
    restore_stop,
    special_token_params,
    with_replayed_text,
)
from mplm_bench.backends.pooled import PooledBackend, check_agreement
from mplm_bench.backends.served import (
    PROBE_CHAT,
    ServerRenderer,
    check_same,
    digest,
    server_tokenizer,
)
from mplm_bench.backends.stop_probe import probe_stops
from mplm_bench.registry import backends
from mplm_bench.runtime.backend import BackendError, Completion, Request
from mplm_bench.runtime.confidence import token_confidence
from mplm_bench.tasks.base import Policy

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` listens by default
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# phrases servers use when a prompt does not fit (vLLM, SGLang, llama.cpp, OpenAI)
TOO_LONG_PHRASES = ("maximum model length", "maximum context length", "context length",
                    "exceed_context_size", "longer than the model")


class OpenAIOptions(BaseModel):
    """`-M key=value` options of the openai backend."""

    model_config = ConfigDict(extra="forbid")

    # default $OPENAI_BASE_URL, else http://127.0.0.1:8000/v1. Several servers of one model:
    # comma-separated URLs, a file of URLs (one a line) or a list (`server_urls`, docs/servers.md)
    base_url: str | list[str] | None = None
    api_key: str | None = Field(default=None, repr=False)  # default $OPENAI_API_KEY
    model: str | None = None  # the served model name; None: the server's only model
    # tokenizer for the client-side chat template: a local folder, tokenizer.json, .gguf or a
    # cached hub id, checked against the server's where it can tokenize. None: the server's own
    # /tokenize (vLLM, SGLang), else the served model's folder when `model` is a local path, else
    # one error line (backends/served.py)
    tokenizer: str | None = None
    max_model_len: int | None = Field(default=None, ge=1)  # None: as the server reports it (vLLM does), else unchecked
    max_concurrency: int = Field(default=256, ge=1)
    timeout_s: float = Field(default=600.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    prompt_format: Literal["text", "token_ids"] = "text"
    # ask the server once whether it says which stop string matched (backends/stop_probe.py);
    # false: trust that it keeps stop strings in the text
    stop_probe: bool = True
    # "scripted": the reference policy writes each step; the server generates as many tokens
    replay: Literal["scripted"] | None = None
    # several servers: failures in a row (reset, timed out, 5xx after max_retries) that mark a
    # server down; a refused connection marks it down at once (backends/server_pool.py)
    down_after: int = Field(default=3, ge=1)


class ServerError(RuntimeError):
    """A server answered 429/5xx after the client's own retries (what a pool counts against it)."""


@dataclass
class _Stream:
    """What one streamed completion has produced so far (kept when it is aborted)."""

    parts: list[str] = field(default_factory=list)
    ttft: float | None = None
    finish: str | None = None
    usage: dict[str, Any] | None = None
    aborted: bool = False
    stop: Any = None  # vLLM's `stop_reason`: the matched stop string (or token id)
    confs: list[float] | None = None  # token confidences, when logprobs were asked for
    on_confidences: Any = None  # Request.on_confidences


class OpenAIBackend:
    name = "openai"
    virtual_time = False

    def __init__(self, options: OpenAIOptions | None = None, policy: Policy | None = None, *,
                 base_url: str | None = None, failover: bool = False) -> None:
        """`base_url`: this server, one of a pool's (default: the options' one URL). `failover`:
        a pool's member, whose connection failures go back to the pool at once (it sends the
        request elsewhere) instead of being retried here."""
        try:
            import httpx
        except ImportError as e:
            raise BackendError("the openai backend needs httpx: pip install httpx") from e
        self._httpx = httpx
        self.options = opts = options or OpenAIOptions()
        self.policy = policy if opts.replay == "scripted" else None
        if base_url is None:
            urls, _ = server_urls(configured_base_url(opts))
            if len(urls) > 1:
                raise BackendError("openai backend: several base URLs: build it with build_openai")
            base_url = urls[0]
        self.base_url = _normalize(base_url)
        self._failover = failover
        key = opts.api_key or os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        served = self._probe()
        self.model = opts.model or _only_model(served, self.base_url)
        card = next((m for m in served if m.get("id") == self.model), {})
        reported = card.get("max_model_len")
        self.max_model_len = opts.max_model_len or (int(reported) if reported else None)
        # a plain client for the server's /tokenize (rendering runs off the event loop, in threads)
        self._sync = httpx.Client(timeout=httpx.Timeout(min(60.0, opts.timeout_s), connect=10.0))
        try:
            self._renderer, self._server_tokenized, tokenizer_digest = self._make_renderer()
            self.stop_report = self._probe_stops() if opts.stop_probe and opts.replay is None else "unchecked"
        except BaseException:
            self._sync.close()
            raise
        self.served = {"id": self.model, "root": card.get("root"), "tokenizer_digest": tokenizer_digest}
        self._client: Any = None  # httpx.AsyncClient, made in the event loop that uses it
        self._gate: asyncio.Semaphore | None = None
        self._inflight: dict[str, tuple[asyncio.Task[Completion], _Stream]] = {}
        self._early = EarlyAborts()

    def _probe(self) -> list[dict[str, Any]]:
        """GET /models once at start: the server must answer before any sample runs."""
        url = f"{self.base_url}/models"
        where = f"the OpenAI-compatible server at {_public(self.base_url)}"
        try:
            r = self._httpx.get(url, headers=self._headers, timeout=min(10.0, self.options.timeout_s))
        except self._httpx.HTTPError as e:
            raise BackendError(f"cannot reach {where} ({type(e).__name__}: {e}): start it, or set "
                               "-M base_url (or OPENAI_BASE_URL)") from None
        if r.status_code in (401, 403):
            raise BackendError(f"{where} refused the API key (HTTP {r.status_code}): set -M api_key "
                               "or OPENAI_API_KEY")
        if r.status_code >= 400:
            raise BackendError(f"{where} answered GET /models with HTTP {r.status_code}: is base_url "
                               "the API root (ending in /v1)?")
        try:
            data = r.json().get("data") or []
        except ValueError:
            raise BackendError(f"{where} did not answer GET /models with JSON: is base_url right?") from None
        return [m for m in data if isinstance(m, dict)]

    def _make_renderer(self) -> tuple[ChatRenderer, bool, str]:
        """The served model's tokenizer (backends/served.py): the renderer, whether the server
        encodes, and the digest of the probe chat's ids (the run id's tokenizer identity)."""
        spec = self.options.tokenizer
        if spec is None and (Path(self.model).expanduser() / "tokenizer.json").is_file():
            spec = self.model  # the server was started on a local folder: its tokenizer is here too
        server = server_tokenizer(self._sync, self.base_url, self.model, self._headers)
        if spec is None:
            if server is None:
                raise BackendError(
                    f"the server at {_public(self.base_url)} has no /tokenize, and prompts must be encoded "
                    f"with the served model's own tokenizer: set -M tokenizer=DIR (the folder of {self.model})")
            return ServerRenderer(server, f"{self.model} (the server's /tokenize)"), True, \
                digest(server.chat(PROBE_CHAT)[1])
        try:
            local = counter_renderer(spec)
        except (OSError, ValueError) as e:
            raise BackendError(f"openai backend: cannot load tokenizer {spec!r} for the client-side chat "
                               f"template ({e}); set -M tokenizer") from None
        if server is not None:
            check_same(lambda m: local.chat_ids(m)[1], server, spec)
        return local, False, digest(local.chat_ids(PROBE_CHAT)[1])

    def _probe_stops(self) -> str:
        def complete(body: dict[str, Any]) -> dict[str, Any]:
            r = self._sync.post(f"{self.base_url}/completions", json={"model": self.model, **body},
                                headers=self._headers)
            if r.status_code in (400, 422):  # a parameter it does not take: the probe says nothing
                return {}
            if r.status_code >= 400:
                raise BackendError(f"the server at {_public(self.base_url)} answered a probe completion with "
                                   f"HTTP {r.status_code}: {' '.join(r.text.split())[:200]} (does it serve "
                                   "/v1/completions? chat-only servers cannot continue an assistant turn)")
            try:
                choices = r.json().get("choices") or [{}]
            except (ValueError, AttributeError):
                return {}
            return choices[0] if isinstance(choices[0], dict) else {}

        try:
            return probe_stops(complete)
        except self._httpx.HTTPError as e:
            raise BackendError(f"the server at {_public(self.base_url)} failed a probe completion "
                               f"({type(e).__name__})") from None

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {
            "backend": self.name,
            "model": self.model,
            "base_url": _public(self.base_url),
            "tokenizer": self._renderer.name,
            "served": self.served,
            "stop_report": self.stop_report,
            "max_model_len": self.max_model_len,
            "max_concurrency": o.max_concurrency,
            "timeout_s": o.timeout_s,
            "max_retries": o.max_retries,
            "prompt_format": o.prompt_format,
            "replay": o.replay,
        }

    def render(self, request: Request) -> str:
        """The exact prompt text sent for `request`."""
        return self._renderer.text(request)

    async def generate(self, request: Request) -> Completion:
        args = (request, self._renderer, self._early, self.max_model_len, self.policy)
        # the server's /tokenize is a blocking round trip the first time a text is seen
        call = await asyncio.to_thread(prepare_call, *args) if self._server_tokenized else prepare_call(*args)
        if isinstance(call, Completion):
            return call
        rid, s, prompt = request.request_id, request.sampling, call.prompt
        as_text = self.options.prompt_format == "text" and request.assistant is None and not self._server_tokenized
        body: dict[str, Any] = {
            "model": self.model,
            # a continuation always goes as token ids: its ids were built segment by segment so
            # that a child's extend its parent's (engine_common.ChatRenderer); so does a prompt the
            # server encoded (its ids are what it would encode the text to)
            "prompt": prompt.text if as_text else prompt.token_ids,
            "max_tokens": call.max_tokens,  # explicit: servers default to 16
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if s.logprobs is not None:  # the legacy completions API: top-k per token (vLLM: at most 20)
            body["logprobs"] = s.logprobs
        if call.replayed is not None:
            body |= {"min_tokens": call.max_tokens, "ignore_eos": True}
        elif request.stop:  # trimmed and put back from the reported stop (engine_common.restore_stop)
            body |= {"stop": list(request.stop), "include_stop_str_in_output": False}
        body |= special_token_params(request)  # vLLM's and SGLang's extra parameters
        state = _Stream()
        if s.logprobs is not None:
            state.confs, state.on_confidences = [], request.on_confidences
        task = asyncio.ensure_future(self._post(body, state, call.t0, call.n_prompt))
        self._inflight[rid] = (task, state)
        try:
            done = await task
            if done.finish_reason == "stop" and call.replayed is None:
                done.text, done.stop_reason = restore_stop(state.stop, done.text, request.stop)
            return with_replayed_text(done, call.replayed, call.replayed_stop)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not state.aborted or (current is not None and current.cancelling()):
                raise  # our caller was cancelled, not an abort()
            text = "".join(state.parts)
            # with log-probabilities, one confidence per token received: the exact count
            n = len(state.confs) if state.confs else (self._renderer.count(text) if text else 0)
            return Completion(text, call.n_prompt, n, "abort", ttft_s=state.ttft,
                              latency_s=time.perf_counter() - call.t0,
                              token_confidences=_confs(state))
        finally:
            del self._inflight[rid]

    async def _post(self, body: dict[str, Any], state: _Stream, t0: float, n_prompt: int) -> Completion:
        httpx = self._httpx
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.options.timeout_s, connect=min(10.0, self.options.timeout_s)),
                limits=httpx.Limits(max_connections=self.options.max_concurrency,
                                    max_keepalive_connections=self.options.max_concurrency),
            )
            self._gate = asyncio.Semaphore(self.options.max_concurrency)
        assert self._gate is not None
        async with self._gate:
            for attempt in range(self.options.max_retries + 1):
                retry = attempt < self.options.max_retries
                try:
                    done = await self._stream_once(body, state, t0, n_prompt, retry)
                except (httpx.TimeoutException, httpx.TransportError) as e:
                    # connection trouble before any token: safe to send again (a pool's member
                    # leaves that to the pool, which sends it to another server)
                    if not retry or state.parts or self._failover or (
                            isinstance(e, httpx.TimeoutException) and not isinstance(e, httpx.ConnectTimeout)):
                        raise
                    done = None
                if done is not None:
                    done.retries = attempt  # recorded on the call row (backends/retry.py)
                    return done
                await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")

    async def _stream_once(self, body: dict[str, Any], state: _Stream, t0: float, n_prompt: int,
                           retry: bool) -> Completion | None:
        """One POST; None means "retry" (a 429/5xx before any token)."""
        url = f"{self.base_url}/completions"
        async with self._client.stream("POST", url, json=body, headers=self._headers) as r:
            if r.status_code >= 400:
                detail = " ".join((await r.aread()).decode(errors="replace").split())[:300]
                if r.status_code in RETRY_STATUS and retry:
                    return None
                if r.status_code == 400 and any(p in detail.lower() for p in TOO_LONG_PHRASES):
                    return Completion("", n_prompt, 0, "prompt_too_long", error=detail)
                error = ServerError if r.status_code in RETRY_STATUS else RuntimeError
                raise error(f"HTTP {r.status_code} from {_public(url)}: {detail}")
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                self._take(json.loads(data), state, t0)
        text = "".join(state.parts)
        usage = state.usage or {}
        details = usage.get("prompt_tokens_details") or {}
        n_out = usage.get("completion_tokens")
        return Completion(
            text,
            int(usage.get("prompt_tokens") or n_prompt),
            int(n_out) if n_out is not None else self._renderer.count(text),
            finish_reason(state.finish),
            cached_prompt_tokens=int(details.get("cached_tokens") or 0),
            ttft_s=state.ttft,
            latency_s=time.perf_counter() - t0,
            token_confidences=_confs(state),
        )

    @staticmethod
    def _take(chunk: dict[str, Any], state: _Stream, t0: float) -> None:
        if chunk.get("error"):  # some servers report mid-stream failures as a data event
            raise ServerError(f"server error mid-stream: {str(chunk['error'])[:300]}")
        for choice in chunk.get("choices") or []:
            text = choice.get("text") or ""
            if text:
                if state.ttft is None:
                    state.ttft = time.perf_counter() - t0
                state.parts.append(text)
            if state.confs is not None and (lp := choice.get("logprobs")):
                new = top_logprob_confidences(lp)
                state.confs.extend(new)
                if new and state.on_confidences is not None:
                    state.on_confidences(new)
            if choice.get("finish_reason"):
                state.finish = choice["finish_reason"]
                # vLLM: stop_reason; SGLang: matched_stop (a string, or a token id)
                state.stop = choice.get("stop_reason", choice.get("matched_stop"))
        if chunk.get("usage"):
            state.usage = chunk["usage"]

    async def abort(self, request_id: str) -> None:
        """Close the request's connection; the server stops generating when it notices."""
        entry = self._inflight.get(request_id)
        if entry is None:
            self._early.add(request_id)
            return
        task, state = entry
        state.aborted = True
        task.cancel()

    async def aclose(self) -> None:
        for task, state in list(self._inflight.values()):
            state.aborted = True  # their generate() calls return what they have, as aborts
            task.cancel()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self._sync.close()


def top_logprob_confidences(logprobs: dict[str, Any]) -> list[float]:
    """Token confidences from a completions chunk's `choices[].logprobs`: its `top_logprobs` is
    one {token text: log-probability} per token (vLLM lists the sampled token too). Tokens whose
    texts coincide share one key, so a token may average over fewer than k entries."""
    tops = logprobs.get("top_logprobs") or []
    return [token_confidence(float(v) for v in (top or {}).values()) for top in tops]


def _confs(state: _Stream) -> tuple[float, ...] | None:
    return tuple(state.confs) if state.confs is not None else None


def configured_base_url(opts: OpenAIOptions) -> str | list[str]:
    return opts.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL


def server_urls(value: str | list[str]) -> tuple[list[str], bool]:
    """The servers `-M base_url` names, normalised and without repeats, and whether it was given
    as a list: comma-separated URLs, a YAML/Python list, or items that are not http(s) URLs but
    files holding one URL a line (blank lines and `#` comments skipped). A list, even of one URL,
    makes a pool (backends/pooled.py), whose run id does not key the URLs."""
    items = [str(v) for v in value] if isinstance(value, list) else str(value).split(",")
    listed = isinstance(value, list) or len(items) > 1
    urls: list[str] = []
    for item in (x.strip() for x in items):
        if not item:
            continue
        if urlsplit(item).scheme.lower() in ("http", "https"):
            urls.append(_normalize(item))
            continue
        listed = True
        try:
            lines = Path(item).expanduser().read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            raise BackendError(f"openai backend: base_url {_public(item)!r} is neither an http(s) URL nor a "
                               "readable file of URLs (one a line)") from None
        for n, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if line and urlsplit(line).scheme.lower() not in ("http", "https"):
                raise BackendError(f"openai backend: {item}:{n}: {_public(line)!r} is not an http(s) URL")
            if line:
                urls.append(_normalize(line))
    if not urls:
        raise BackendError(f"openai backend: base_url {_public(str(value))!r} names no server")
    return list(dict.fromkeys(urls)), listed


def _normalize(url: str) -> str:
    """The API root: `http://host:8000` and `http://host:8000/v1/` both give `.../v1`."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendError(f"openai backend: base_url {_public(url)!r} is not an http(s) URL")
    return url if parts.path not in ("", "/") else url + "/v1"


def _public(url: str) -> str:
    """The URL without user:password@, for messages and manifests."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _only_model(served: list[dict[str, Any]], base_url: str) -> str:
    ids = [str(m["id"]) for m in served if m.get("id")]
    if len(ids) == 1:
        return ids[0]
    listed = ", ".join(ids[:10]) or "none"
    raise BackendError(f"the server at {_public(base_url)} serves {len(ids)} models ({listed}): "
                       "choose one with -M model")


def server_failure(e: BaseException) -> str | None:
    """How a pool counts an exception from a member (backends/pooled.py): "refused" (no
    connection), "failed" (cut off, timed out, 429/5xx) or None (not the server's failure)."""
    import httpx

    if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
        return "refused"
    if isinstance(e, httpx.TransportError | ServerError):  # timeouts are transport errors too
        return "failed"
    return None


def _options(options: dict[str, Any]) -> OpenAIOptions:
    try:
        return OpenAIOptions(**options)
    except ValidationError as e:
        raise BackendError(options_error("openai", OpenAIOptions, e)) from None


def _members(opts: OpenAIOptions, policy: Policy | None, urls: list[str]) -> list[OpenAIBackend]:
    """One backend per server, each started (probed, its tokenizer checked) as one alone is."""
    built: list[OpenAIBackend] = []
    try:
        for url in urls:
            built.append(OpenAIBackend(opts, policy, base_url=url, failover=True))
    except BaseException:
        for b in built:
            b._sync.close()
        raise
    return built


def identify_openai(options: dict[str, Any]) -> dict[str, Any]:
    """The served model's identity (its id, where it was loaded from, its tokenizer's digest),
    asked at plan time for the run id; no stop probe, no generation. Several servers must agree;
    their identity is marked `pool`, so the run id keys the model, not the URLs (config.py)."""
    opts = _options(options).model_copy(update={"stop_probe": False})
    urls, listed = server_urls(configured_base_url(opts))
    if not listed:
        backend = OpenAIBackend(opts)
        backend._sync.close()
        return backend.served
    members = _members(opts, None, urls)
    for m in members:
        m._sync.close()
    check_agreement([_public(u) for u in urls], [m.served for m in members])
    return members[0].served | {"pool": True}


# options validated before any I/O; the identity asked at plan time
@backends.register("openai", options=OpenAIOptions, identify=identify_openai)
def build_openai(policy: Any, options: dict[str, Any]) -> OpenAIBackend | PooledBackend:
    """`policy` writes every step's text in replay mode (`-M replay=scripted`); else unused.
    A list of servers gives a PooledBackend over one OpenAIBackend each."""
    opts = _options(options)
    urls, listed = server_urls(configured_base_url(opts))
    if not listed:
        return OpenAIBackend(opts, policy)
    members = _members(opts, policy, urls)
    try:
        return PooledBackend("openai", members, [_public(u) for u in urls], server_failure, opts.down_after)
    except BaseException:
        for m in members:
            m._sync.close()
        raise
