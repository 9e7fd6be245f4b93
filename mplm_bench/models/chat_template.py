"""Chat templates rendered with jinja2 the way transformers' `apply_chat_template` renders them
(same sandbox, `trim_blocks`/`lstrip_blocks`, `tojson`, `raise_exception`, `strftime_now`), so
prompts built here are byte-identical to the engine's without importing transformers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Used when a tokenizer has no template of its own (and by the approximate counter): plain ChatML,
# without SmolLM2's default system prompt.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# stands in for the user message when a template is split into prefix and suffix
_USER_MARK = "\ue000mplm-bench-user\ue001"


class _GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}` (transformers' assistant-mask tag): renders its body."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_render_body")
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render_body(self, caller: Callable[[], str]) -> str:
        return caller()


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, "jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


class ChatTemplate:
    """A model's chat template, with the special tokens (bos_token, eos_token, ...) it may use."""

    def __init__(self, source: str, special_tokens: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.special_tokens = dict(special_tokens or {})
        self._template = _compile(source)
        self._splits: dict[str | None, tuple[str, str]] = {}

    def render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
        return self._template.render(
            messages=list(messages),
            tools=None,
            documents=None,
            add_generation_prompt=add_generation_prompt,
            **self.special_tokens,
        )

    def split(self, system: str | None) -> tuple[str, str]:
        """(prefix, suffix) around the user message of a single-turn chat with the generation
        prompt: `prefix + user + suffix` is the rendered chat. `system=None` sends no system
        message (the template may add its default one)."""
        parts = self._splits.get(system)
        if parts is None:
            if len(self._splits) >= 1024:
                self._splits.clear()
            parts = self._splits[system] = self._split(system)
        return parts

    def _split(self, system: str | None) -> tuple[str, str]:
        messages = [{"role": "system", "content": system}] if system is not None else []
        messages.append({"role": "user", "content": _USER_MARK})
        text = self.render(messages)
        if text.count(_USER_MARK) != 1:
            raise ValueError("the chat template does not pass the user message through verbatim")
        prefix, suffix = text.split(_USER_MARK)
        return prefix, suffix
