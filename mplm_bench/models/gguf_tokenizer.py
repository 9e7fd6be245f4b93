"""A `tokenizers.Tokenizer` rebuilt from a GGUF file's metadata, without torch or transformers.

A GGUF has no `tokenizer.json`; it stores the vocabulary, merges, token types and special token
ids under llama.cpp's keys, plus `tokenizer.ggml.pre`, the name of the pre-tokenizer. Reading the
metadata with `gguf.GGUFReader` takes ~5 s for the embedded model, so the result is cached as a
normal tokenizer folder (`tokenizer.json` + `tokenizer_config.json`) under `cache_dir()`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from .cache import cache_dir, file_fingerprint

# bump when the build below changes, so cached tokenizer.json files are rebuilt
BUILDER_VERSION = 1

_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types

# llama.cpp splits these with `\p{N}` first, then the GPT-2 regex; their Hugging Face
# tokenizer.json files say the same as Sequence[Digits(individual_digits), ByteLevel].
_DIGITS_THEN_GPT2 = frozenset({"smollm", "starcoder", "refact"})
_GPT2 = frozenset({"default", "gpt2", "gpt-2"})
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3 = frozenset({"llama3", "llama-v3", "llama-bpe", "smaug-bpe"})


def pre_tokenizer_for(pre: str | None) -> pre_tokenizers.PreTokenizer:
    """The Hugging Face pre-tokenizer equivalent to llama.cpp's `tokenizer.ggml.pre` value."""
    name = (pre or "default").lower()
    if name in _DIGITS_THEN_GPT2:
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    if name in _GPT2:
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if name in _LLAMA3:
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    raise ValueError(
        f"GGUF pre-tokenizer {pre!r} is not supported here; pass a folder with its tokenizer.json"
    )


@dataclass(frozen=True)
class GgufTokenizer:
    tokenizer: Tokenizer
    chat_template: str | None
    special_tokens: dict[str, str]  # bos_token, eos_token, unk_token, pad_token -> text
    pre: str | None
    model_name: str | None


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable spelling of the 256 byte values."""
    visible = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars = list(visible)
    extra = 0
    for b in range(256):
        if b not in visible:
            visible.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(visible, map(chr, chars), strict=True))


def _field(reader: Any, key: str) -> Any:
    """A metadata value: str, int/float/bool, or a list of those; None if the key is absent.

    Uses the `parts`/`data` layout that every `gguf` release has (newer ones also have
    `ReaderField.contents()`).
    """
    from gguf import GGUFValueType

    field = reader.fields.get(key)
    if field is None:
        return None
    types = list(field.types)

    def one(index: int, kind: GGUFValueType) -> Any:
        part = field.parts[index]
        if kind == GGUFValueType.STRING:
            return bytes(part).decode("utf-8")
        return part.tolist()[0]

    if types[0] == GGUFValueType.ARRAY:
        return [one(i, types[-1]) for i in field.data]
    return one(field.data[0], types[0])


def read_gguf_tokenizer(path: Path) -> GgufTokenizer:
    """Build the tokenizer a GGUF describes (byte-level BPE, `tokenizer.ggml.model == "gpt2"`)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    kind = _field(reader, "tokenizer.ggml.model")
    if kind != "gpt2":
        raise ValueError(f"{path.name}: tokenizer model {kind!r} is not byte-level BPE ('gpt2')")
    tokens: list[str] = _field(reader, "tokenizer.ggml.tokens")
    merges: list[str] = _field(reader, "tokenizer.ggml.merges") or []
    types: list[int] = _field(reader, "tokenizer.ggml.token_type") or [1] * len(tokens)
    pre = _field(reader, "tokenizer.ggml.pre")

    spelling = _bytes_to_unicode()
    alphabet = set(spelling.values())

    def spelled(token: str) -> str:
        # every byte-level token is written in the byte alphabet; respell any that is not
        return token if set(token) <= alphabet else "".join(spelling[b] for b in token.encode())

    vocab = {spelled(t): i for i, t in enumerate(tokens)}
    pairs = [(left, right) for left, right in (m.split(" ", 1) for m in merges)]
    # unk_token None: bytes missing from the vocabulary are dropped, as in SmolLM2's tokenizer.json
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizer_for(pre)
    tokenizer.decoder = decoders.ByteLevel()
    control = [t for t, k in zip(tokens, types, strict=True) if k == _CONTROL and set(t) <= alphabet]
    user = [t for t, k in zip(tokens, types, strict=True) if k == _USER_DEFINED and t in vocab]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])

    special_tokens = {}
    for name, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        index = _field(reader, f"tokenizer.ggml.{key}_token_id")
        if index is not None and 0 <= index < len(tokens):
            special_tokens[f"{name}_token"] = tokens[index]
    return GgufTokenizer(
        tokenizer=tokenizer,
        chat_template=_field(reader, "tokenizer.chat_template"),
        special_tokens=special_tokens,
        pre=pre,
        model_name=_field(reader, "general.name"),
    )


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def gguf_tokenizer_dir(path: Path) -> Path:
    """A tokenizer folder for the GGUF at `path`, built once and cached under `cache_dir()`.

    The folder holds `tokenizer.json` and a `tokenizer_config.json` with the chat template and
    special tokens, so it loads like any Hugging Face tokenizer folder. Keyed by the GGUF's
    content fingerprint and `BUILDER_VERSION`; files are written atomically (config first,
    tokenizer.json last, which marks the folder complete).
    """
    key = f"{path.stem}-{file_fingerprint(path)}-v{BUILDER_VERSION}"
    folder = cache_dir() / "tokenizers" / key
    if (folder / "tokenizer.json").is_file():
        return folder
    built = read_gguf_tokenizer(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        **built.special_tokens,
        "chat_template": built.chat_template,
        "source_gguf": str(path),
        "gguf_pre_tokenizer": built.pre,
        "gguf_model_name": built.model_name,
    }
    _write_atomic(folder / "tokenizer_config.json", json.dumps(config, indent=2, ensure_ascii=False))
    _write_atomic(folder / "tokenizer.json", built.tokenizer.to_str())
    return folder


def load_gguf_backend(path: Path) -> Tokenizer:
    """The cached `tokenizers.Tokenizer` of a GGUF (built on first use)."""
    return Tokenizer.from_file(str(gguf_tokenizer_dir(path) / "tokenizer.json"))
