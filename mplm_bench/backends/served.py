"""What an OpenAI-compatible server serves: the model's identity and its own tokenizer.

A prompt is only the one a checkpoint was trained on if it is encoded by that checkpoint's
tokenizer: the chat template, and the control tags the adaptive checkpoints add as special tokens.
So the openai backend encodes with the *served* model's tokenizer (docs/checkpoints.md §tokenizer):

1. the server's own `/tokenize` and `/detokenize` (vLLM and SGLang serve them at the host root,
   beside `/v1`): the chat is templated and encoded there;
2. else a local tokenizer given with `-M tokenizer=DIR` (or the served model's local folder);
3. else one error line. Never the embedded SmolLM2 tokenizer by default.

A given tokenizer is checked against the server's where the server can tokenize (one round trip
of a probe chat holding every dialect's tags): a mismatch is one error line. The identity — the
`/v1/models` id, the path it was loaded from (vLLM's `root`) and a digest of the probe's token ids
— goes into the manifest and the run id, so swapping the checkpoint behind the same URL and name
starts a new run instead of resuming the old one's results.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mplm_bench.backends.engine_common import ChatRenderer
from mplm_bench.runtime.backend import BackendError
from mplm_bench.tasks.boxed.profiles import SPECIAL_TAGS

# Every control tag of the dialects, so a tokenizer that lacks them as special tokens encodes the
# probe differently from one that has them.
DIALECT_TAGS = tuple(dict.fromkeys(tag for tags in SPECIAL_TAGS.values() for tag in tags))
PROBE_USER = "What is 12 * 34? " + "".join(DIALECT_TAGS)
PROBE_CHAT = [{"role": "user", "content": PROBE_USER}]
CACHE = 4096  # encodings remembered per tokenizer (assistant segments, chats)


def host_root(base_url: str) -> str:
    """`http://h:8000/v1` -> `http://h:8000`: where vLLM and SGLang serve /tokenize."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    path = path[: -len("/v1")] if path.endswith("/v1") else path
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def digest(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:12]


class ServerTokenizer:
    """The server's `/tokenize` and `/detokenize`, with bounded caches (a thread's prompt is the
    same chat plus growing assistant segments, each encoded once). Thread-safe: the openai backend
    renders off the event loop."""

    def __init__(self, client: Any, root: str, model: str, headers: dict[str, str]) -> None:
        self._client, self._root, self._model, self._headers = client, root, model, headers
        self._texts: OrderedDict[str, list[int]] = OrderedDict()
        self._chats: OrderedDict[str, tuple[str, list[int]]] = OrderedDict()
        self._lock = threading.Lock()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self._client.post(f"{self._root}{path}", json={"model": self._model, **body}, headers=self._headers)
        if r.status_code >= 400:
            raise BackendError(f"{path} answered HTTP {r.status_code}: {' '.join(r.text.split())[:200]}")
        data = r.json()
        if not isinstance(data, dict):
            raise BackendError(f"{path} did not answer with a JSON object")
        return data

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text; special-token strings in it (the tags) become their ids."""
        with self._lock:
            if (got := self._texts.get(text)) is not None:
                return got
        ids = _ids(self._post("/tokenize", {"prompt": text, "add_special_tokens": False}))
        with self._lock:
            self._texts[text] = ids
            if len(self._texts) > CACHE:
                self._texts.popitem(last=False)
        return ids

    def chat(self, messages: list[dict[str, str]]) -> tuple[str, list[int]]:
        """The chat templated by the server, with its generation prompt: (text, ids)."""
        key = json.dumps(messages)
        with self._lock:
            if (got := self._chats.get(key)) is not None:
                return got
        ids = _ids(self._post("/tokenize", {"messages": messages, "add_generation_prompt": True}))
        # SGLang detokenizes without special tokens unless told (vLLM always keeps them)
        detok = self._post("/detokenize", {"tokens": ids, "skip_special_tokens": False})
        text = detok.get("prompt", detok.get("text"))
        if not isinstance(text, str):
            raise BackendError("/detokenize did not answer with a prompt")
        with self._lock:
            self._chats[key] = (text, ids)
            if len(self._chats) > CACHE:
                self._chats.popitem(last=False)
        return text, ids


def _ids(data: dict[str, Any]) -> list[int]:
    ids = data.get("tokens")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise BackendError("/tokenize did not answer with token ids")
    return ids


def server_tokenizer(client: Any, base_url: str, model: str, headers: dict[str, str]) -> ServerTokenizer | None:
    """The server's tokenizer, or None when it has no /tokenize (404, 405, not JSON)."""
    import httpx

    tok = ServerTokenizer(client, host_root(base_url), model, headers)
    try:
        tok.chat(PROBE_CHAT)
    except (BackendError, ValueError, httpx.HTTPError):
        return None
    return tok


def check_same(local: Callable[[list[dict[str, str]]], list[int]], server: ServerTokenizer, name: str) -> None:
    """One error line when a given tokenizer does not encode the probe chat as the server does."""
    mine, theirs = local(PROBE_CHAT), server.chat(PROBE_CHAT)[1]
    if mine == theirs:
        return
    at = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), min(len(mine), len(theirs)))
    raise BackendError(f"-M tokenizer={name} does not encode like the served model (a probe chat with the "
                       f"dialects' tags: {len(mine)} vs {len(theirs)} tokens, first difference at token {at}): "
                       "leave -M tokenizer out to use the server's own, or give the served model's folder")


class ServerRenderer(ChatRenderer):
    """A ChatRenderer whose chats are templated and encoded by the server itself (one /tokenize
    of the messages, not a local template and a second encode)."""

    def __init__(self, tok: ServerTokenizer, name: str) -> None:
        super().__init__(name, lambda m: tok.chat(m)[0], tok.encode)
        self._tok = tok

    def chat_ids(self, messages: list[dict[str, str]]) -> tuple[str, list[int]]:
        return self._tok.chat(messages)
