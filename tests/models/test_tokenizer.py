"""Token counting: the SmolLM2 tokenizer rebuilt from the embedded GGUF, chat templates, and the
offline loading rules of `load_token_counter`.

Tests that compare against transformers run only where it imports (the engine venv); they use the
converted embedded folder under `cache_dir()` (converted on first use, ~50 s)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mplm_bench.models.chat_template import CHATML_TEMPLATE, ChatTemplate
from mplm_bench.models.embedded import EmbeddedModelMissingError, embedded_gguf_path
from mplm_bench.models.gguf_tokenizer import gguf_tokenizer_dir, load_gguf_backend
from mplm_bench.models.tokenizer import TokenCounter, approx_counter, load_token_counter
from mplm_bench.runtime.protocol import resume_segments, spawn_prompt

SYSTEM = "You are a helpful assistant."  # the protocols' system prompt (docs/protocols.md §1)
SMOLLM_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

CORPUS = [
    "{ (0,0): {1}, (0,2): {3,4} }",
    "Solve this Sudoku:\n{ (0,0): {1}, (0,3): {4}, (1,1): {2}, (3,2): {3} }",
    "<spawn [1,2,3]>{ (0,0): {1} }</spawn>\n<recv [1,2,3]>",
    "{ From 12: 5 }\n{ From 7: None }\n</recv>",
    "My id is 5 which corresponds to cell (0,4). The cell is empty.\n"
    "The remaining candidates are: {1, 2, 3, 4, 5, 6, 7, 8, 9}.\n<recv>",
    "<send [0,2,9]>{ From 5: 3 }</send><stop>",
    "( 7 ∨ ¬ 4 ∨ 1 ) ∧ ( ¬ 2 ∨ 3 ∨ ¬ 7 ) ∧ ( 5 ∨ ¬ 6 ∨ 12 )",
    "Try unit propagation.\n- Unit: x3 = True\nBranch on x4.\n<spawn [0.0]>\n( 1 )\n</spawn>",
    "<stop>\n[[3, 4, 2, 1], [2, 1, 3, 4]]\n</stop>",
    "The correct answer is (B)",
    "The quick brown fox jumps over the lazy dog. It wasn't, they'd say, a fox at all!",
    "Naïve café — 東京 😀 ½ Ⅻ ∑ Ωmega",
    "  1",
    "\n 12",
    "x\n  10 20\t\t3\n\n\n4",
    "1,000,000 and 3.14159",
    "<|im_start|>user\nhi<|im_end|>\n",
    "",
]


@pytest.fixture(scope="session")
def smollm() -> TokenCounter:
    try:
        return load_token_counter("smollm2")
    except EmbeddedModelMissingError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def hf_folder_tokenizer():
    """transformers' tokenizer of the converted embedded folder (what vLLM serves with)."""
    try:
        from transformers import AutoTokenizer
    except Exception as error:  # ImportError, or RuntimeError from a mismatched torchvision
        pytest.skip(f"transformers is not importable ({type(error).__name__}: {error}); make setup")
    from mplm_bench.models.embedded import prepare_embedded_model

    try:
        folder = prepare_embedded_model()
    except EmbeddedModelMissingError as error:
        pytest.skip(str(error))
    return AutoTokenizer.from_pretrained(str(folder))


# ---- protocol traces (formats of docs/protocols.md §2-3), as lists of the segments the runtime adds


def _clue_map(rng: random.Random, n: int, k: int) -> str:
    cells = sorted(rng.sample([(r, c) for r in range(n) for c in range(n)], k))
    return "{ " + ", ".join(f"({r},{c}): {{{rng.randint(1, n)}}}" for r, c in cells) + " }"


def _fj_master(rng: random.Random, n: int) -> list[str]:
    segments = ["Solve this Sudoku:\n", _clue_map(rng, n, n * n // 2)]
    for _ in range(3):
        ids = "[" + ",".join(map(str, sorted(rng.sample(range(1, n * n + 1), n)))) + "]"
        kept = f"<spawn {ids}>{_clue_map(rng, n, n * n // 2)}</spawn>\n<recv {ids}>"
        payloads = [f"{{ From {w}: {rng.choice([str(rng.randint(1, n)), 'None'])} }}" for w in ids[1:-1].split(",")]
        segments += resume_segments(kept, payloads)
    return segments


def _mplm_worker(rng: random.Random, n: int) -> list[str]:
    w = rng.randint(1, n * n)
    r, c = divmod(w - 1, n)
    segments = list(spawn_prompt(str(w), "Solve this Sudoku:\n" + _clue_map(rng, n, n * n // 2)))
    response = (
        f"My id is {w} which corresponds to cell ({r},{c}). The cell is empty.\n"
        f"The remaining candidates are: {{{', '.join(map(str, range(1, n + 1)))}}}.\n<recv>"
    )
    for _ in range(3):
        payloads = [f"{{ From {rng.randint(1, n * n)}: {rng.randint(1, n)} }}" for _ in range(rng.randint(1, 4))]
        segments += resume_segments(response, payloads)
        values = ",".join(sorted({str(rng.randint(1, n)) for _ in range(3)}))
        left = ", ".join(map(str, sorted(rng.sample(range(1, n + 1), 3))))
        response = (
            f"The neighboring cells have sent the following values: {{{values}}}.\n"
            f"The remaining candidates are: {{{left}}}.\n<recv>"
        )
    return segments


def _formula(rng: random.Random, n_vars: int, n_clauses: int) -> str:
    def literal(v: int) -> str:
        return ("¬ " if rng.random() < 0.5 else "") + str(v)

    clauses = [" ∨ ".join(literal(v) for v in rng.sample(range(1, n_vars + 1), 3)) for _ in range(n_clauses)]
    return " ∧ ".join(f"( {c} )" for c in clauses)


def _sat_thread(rng: random.Random, n_vars: int) -> list[str]:
    segments = list(spawn_prompt("0.1", "\n" + _formula(rng, n_vars, int(n_vars * 4.3)) + "\n"))
    for _ in range(2):
        units = "\n".join(
            f"- Unit: x{rng.randint(1, n_vars)} = {rng.choice(['True', 'False'])}" for _ in range(rng.randint(0, 4))
        )
        v = rng.randint(1, n_vars)
        response = (
            f"Try unit propagation.\n{units or 'No unit clauses.'}\nBranch on x{v}.\n"
            f"<spawn [0.1.0]>\n{_formula(rng, n_vars, 2 * n_vars)}\n</spawn>\n"
            f"<spawn [0.1.1]>\n{_formula(rng, n_vars, 2 * n_vars)}\n</spawn>\n<recv [0.1.0, 0.1.1]>"
        )
        segments += resume_segments(response, [rng.choice(["{SAT.}", "{UNSAT.}"])])
    return segments


def protocol_traces(seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    traces: list[list[str]] = []
    for n in (4, 9, 16):
        traces += [_fj_master(rng, n) for _ in range(5)] + [_mplm_worker(rng, n) for _ in range(5)]
    traces += [_sat_thread(rng, n_vars) for n_vars in (5, 10, 20) for _ in range(5)]
    return traces


# ---- the GGUF-built tokenizer


def test_round_trip(smollm: TokenCounter) -> None:
    backend = load_gguf_backend(embedded_gguf_path())
    for text in CORPUS:
        assert backend.decode(smollm.encode(text), skip_special_tokens=False) == text


def test_smollm2_pre_tokenizer_splits_digits(smollm: TokenCounter) -> None:
    """SmolLM2 splits digits one by one before GPT-2 byte-level splitting (tokenizer.json:
    Sequence[Digits(individual_digits), ByteLevel]; llama.cpp pre type "smollm"). A whitespace run
    before a digit therefore stays one token, unlike plain GPT-2 splitting ("  1" -> 3 tokens)."""
    assert smollm.encode("Hello world 12345") == [19556, 905, 216, 33, 34, 35, 36, 37]
    assert smollm.encode("  1") == [256, 33]
    assert smollm.count("\n 12") == 3


def test_special_tokens_are_single_tokens(smollm: TokenCounter) -> None:
    assert smollm.encode("<|im_start|>") == [1]
    assert smollm.encode("<|im_end|>") == [2]
    assert smollm.count("<|endoftext|>") == 1
    assert smollm.count("") == 0


def test_chat_strings_of_smollm2(smollm: TokenCounter) -> None:
    assert smollm.chat_prefix(None) == f"<|im_start|>system\n{SMOLLM_DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n"
    assert smollm.chat_prefix(SYSTEM) == f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
    assert smollm.chat_suffix() == "<|im_end|>\n<|im_start|>assistant\n"
    assert smollm.overhead(SYSTEM) == 20
    assert smollm.overhead(None) == 30
    assert smollm.count_chat("hi", SYSTEM) == 21


def test_count_is_memoized(smollm: TokenCounter) -> None:
    text = "{ From 4242: 7 } memo probe"
    before = smollm.cache_info().hits
    assert smollm.count(text) == smollm.count(text) == len(smollm.encode(text))
    assert smollm.cache_info().hits >= before + 1


def test_gguf_path_and_cached_folder_give_the_same_counter(smollm: TokenCounter) -> None:
    gguf = embedded_gguf_path()
    by_path = load_token_counter(str(gguf))
    by_folder = load_token_counter(str(gguf_tokenizer_dir(gguf)))
    for text in CORPUS:
        assert by_path.encode(text) == by_folder.encode(text) == smollm.encode(text)
    assert by_folder.chat_prefix(SYSTEM) == smollm.chat_prefix(SYSTEM)


# ---- agreement with transformers (engine venv only)


def test_counts_equal_transformers_tokenizer(smollm: TokenCounter, hf_folder_tokenizer) -> None:
    texts = CORPUS + ["".join(t) for t in protocol_traces(1)[::4]]
    for text in texts:
        theirs = hf_folder_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert smollm.encode(text) == theirs, text[:80]


@pytest.mark.parametrize("system", [None, SYSTEM, ""])
def test_chat_prefix_suffix_equal_apply_chat_template(smollm: TokenCounter, hf_folder_tokenizer, system) -> None:
    user = "Solve this Sudoku:\n{ (0,0): {1}, (0,2): {3,4} }"
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": user}
    ]
    rendered = hf_folder_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert smollm.chat_prefix(system) + user + smollm.chat_suffix() == rendered
    assert smollm.count_chat(user, system) == len(hf_folder_tokenizer(rendered, add_special_tokens=False)["input_ids"])


# ---- segment-wise counting


def test_segment_counting_matches_whole_prompt_on_protocol_traces(smollm: TokenCounter) -> None:
    """Counting a prompt as overhead(system) + the sum of its segments' counts, versus counting
    the whole rendered chat once.

    Measured on 45 traces (Sudoku fork-join masters and MPLM workers at 4x4, 9x9 and 16x16, SAT
    DPLL threads with 5-20 variables; ~93k tokens), segmented as the runtime grows prompts
    (`spawn_prompt`, `resume_segments`): relative difference 0.000% on every trace -- the protocol
    puts segment boundaries at newlines and tags, where SmolLM2's pre-tokenizer splits anyway.
    The bound asserted leaves room for other segmentations (see the next test for how it breaks).
    """
    worst = 0.0
    for segments in protocol_traces(0):
        whole = smollm.count_chat("".join(segments), SYSTEM)
        parts = smollm.overhead(SYSTEM) + sum(smollm.count(s) for s in segments)
        worst = max(worst, abs(parts - whole) / whole)
    assert worst <= 0.005


def test_segment_counting_is_not_exact_inside_words(smollm: TokenCounter) -> None:
    """A boundary inside a pre-token changes the count: "hello world" is 2 tokens whole,
    3 as "hello " + "world" (the space joins the next word when counted whole)."""
    assert smollm.count("hello world") == 2
    assert smollm.count("hello ") + smollm.count("world") == 3


# ---- approximate counter, chat templates, loading rules


def test_approx_counter() -> None:
    approx = load_token_counter("approx")
    assert approx.name == "approx" and approx.exact is False
    assert [approx.count(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]
    assert len(approx.encode("abcdefghi")) == approx.count("abcdefghi") == 3
    assert approx.chat_suffix() == "<|im_end|>\n<|im_start|>assistant\n"
    assert approx.chat_prefix(SYSTEM) == f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
    assert approx_counter().overhead(None) == approx.count("<|im_start|>user\n") + approx.count(approx.chat_suffix())


def test_chat_template_features() -> None:
    template = ChatTemplate(
        "{{ bos_token }}{% for m in messages %}{% generation %}[{{ m['role'] }}]{{ m['content'] }}"
        "{% endgeneration %}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
        {"bos_token": "<s>"},
    )
    assert template.split("S") == ("<s>[system]S[user]", "[assistant]")
    assert template.split(None) == ("<s>[user]", "[assistant]")
    stripping = ChatTemplate("{% for m in messages %}{{ m['content'][:3] }}{% endfor %}")
    with pytest.raises(ValueError, match="verbatim"):
        stripping.split(None)
    strict = ChatTemplate("{{ raise_exception('no system role') if messages[0]['role'] == 'system' }}")
    with pytest.raises(Exception, match="no system role"):
        strict.split("S")


def _write_folder(folder: Path, config: dict, jinja: str | None = None) -> Path:
    folder.mkdir(parents=True)
    load_gguf_backend(embedded_gguf_path()).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    if jinja is not None:
        (folder / "chat_template.jinja").write_text(jinja)
    return folder


def test_local_folder_and_file(smollm: TokenCounter, tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "tok", {"chat_template": "{{ messages[0]['content'] }}<END>"})
    by_folder = load_token_counter(str(folder))
    by_file = load_token_counter(str(folder / "tokenizer.json"))
    assert by_folder.name == "tok" and by_folder.exact
    for text in CORPUS:
        assert by_folder.encode(text) == by_file.encode(text) == smollm.encode(text)
    assert (by_folder.chat_prefix(None), by_folder.chat_suffix()) == ("", "<END>")
    preferred = _write_folder(tmp_path / "tok2", {"chat_template": "ignored"}, jinja="{{ messages[-1]['content'] }}!")
    assert load_token_counter(str(preferred)).chat_suffix() == "!"
    plain = _write_folder(tmp_path / "tok3", {})
    assert load_token_counter(str(plain)).chat_template.source == CHATML_TEMPLATE


def test_hub_ids_only_from_the_local_cache(smollm: TokenCounter, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ValueError, match="not available offline"):
        load_token_counter("HuggingFaceTB/SmolLM2-135M-Instruct")
    repo = tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M-Instruct"
    _write_folder(repo / "snapshots" / "abc123", {"eos_token": {"content": "<|im_end|>"}})
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    cached = load_token_counter("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert cached.name == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert cached.encode(CORPUS[0]) == smollm.encode(CORPUS[0])


def test_unknown_specs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tokenizer"):
        load_token_counter("not a tokenizer!")
    with pytest.raises(ValueError, match="no tokenizer.json"):
        load_token_counter(str(tmp_path))


# -- the piece-wise counter (models/piece_count.py) must equal encode exactly -----------------
import functools  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@functools.cache
def _embedded():
    from mplm_bench.models.tokenizer import load_token_counter

    return load_token_counter(None)


_ALPHABET = st.sampled_from(list("abcXYZ 019,.:;()[]{}<>/\n\t'’½∨∧¬é中") + ["<send [", "</recv>", "'s", "  ", "\n\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_piece_counter_equals_encode_on_random_text(text):
    counter = _embedded()
    assert counter._count.__wrapped__(text) == len(counter.encode(text))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_piece_counter_equals_encode_on_any_unicode(text):
    counter = _embedded()
    assert counter._count.__wrapped__(text) == len(counter.encode(text))
