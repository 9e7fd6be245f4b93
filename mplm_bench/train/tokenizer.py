"""A small byte-level BPE tokenizer built for the protocol formats (docs/training.md §2).

Pre-tokenization isolates the units a protocol model copies or looks up — a cell `(r,c)`, a value
set `{1, 3}`, a number, a tag opener `<spawn` — so BPE can give each one token. A tiny model then
copies a clue map token for token and finds "my cell" by matching one token (an induction head),
instead of counting digits. Byte-level underneath: any text still encodes, nothing is `<unk>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mplm_bench.models.chat_template import CHATML_TEMPLATE

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
EOS, BOS, PAD = "<|im_end|>", "<|im_start|>", "<|endoftext|>"
# Pieces. A cell is the same token, ` (r,c)`, wherever it appears: in a clue map, in a worker's
# "corresponds to cell (r,c)", in a serial trace's "For cell (r,c)". The value after a map cell is
# one piece with its colon and the comma that follows (`: {4},`), and a worker message is its
# sender (`{ From 6:`) then its value (` 3 }`). So a worker finds its cell's value by plain
# induction (the earlier copy of its own cell token, then the token after it), a set of received
# values is a set of identical value tokens, and a map copy is cell → value by induction. Two
# earlier recipes missed this: three pieces per entry (cell, `:`, value) put the value two tokens
# after its cell, and one piece per entry (`, (0,1): {3}`) made 128 distinct entry tokens that
# share no token with the worker's cell; neither learnt the worker's lookup (docs/training.md §2).
# Then grid values with their separator (`[[4`, `, 1`), a brace set, an id list, a number, a tag,
# a word (each with one leading space), and any other character.
SPLIT_PATTERN = (
    r": \{[\d, ]*\},?|\{ From \d+:| (?:\d+|None) \}|(?:\[\[|\], \[|, )\d+|"
    r" ?\(\d+,\d+\)| ?\{[\d, ]*\}| ?\[[\d,]*\]| ?\d+|</?[A-Za-z_]+>?|"
    r" ?[A-Za-z]+|\]\]| ?[^\sA-Za-z\d]| +|\n"
)

# Arithmetic traces (multiply, math, countdown): every digit its own piece, as Qwen2's pre-tokenizer
# splits `\p{N}` (the released adaptive checkpoints are Qwen models). A whole-number piece would
# let BPE merge `1248` into arbitrary chunks, so a carry would be a lookup over thousands of tokens
# instead of ten digit tokens.
DIGIT_SPLIT_PATTERN = r"\d| ?[A-Za-z]+|</?[A-Za-z_]+>?| ?[^\sA-Za-z\d]| +|\n"
DIGIT_TASKS = frozenset({"multiply", "math", "countdown"})


def build_tokenizer(texts: Iterable[str], vocab_size: int, tags: tuple[str, ...] = (),
                    split_digits: bool = False) -> Tokenizer:
    """Train BPE on `texts`; returns a `tokenizers.Tokenizer` with the ChatML specials as ids 0-2,
    then `tags` as added special tokens (a dialect's control tags, as the released adaptive
    checkpoints hold them: tasks/boxed/profiles.py `SPECIAL_TAGS`). `split_digits`: one token
    per digit (`DIGIT_SPLIT_PATTERN`) instead of the protocol pieces."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    pattern = DIGIT_SPLIT_PATTERN if split_digits else SPLIT_PATTERN
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[*SPECIAL_TOKENS, *tags], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def special_id(tok: Tokenizer, token: str) -> int:
    """The id of one of SPECIAL_TOKENS: trained in as a special token, so always present."""
    i = tok.token_to_id(token)
    assert i is not None, token
    return i


def save_tokenizer(tok: Tokenizer, folder: Path, model_max_length: int, tags: tuple[str, ...] = ()) -> None:
    """tokenizer.json plus the config files transformers (and so vLLM) read; ChatML template."""
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": None,
        "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length, "chat_template": CHATML_TEMPLATE,
    }
    if tags:
        config["additional_special_tokens"] = list(tags)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    specials = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
