"""Name -> factory registries for tasks, strategies and backends.

Built-ins are listed by module path and imported only when asked for, so `mplm-bench --help`
stays instant; third-party plugins come in through the entry-point groups
`mplm_bench.tasks`, `mplm_bench.strategies` and `mplm_bench.backends`, each entry naming the class
or factory itself (`addition = "mplm_addition:AdditionTask"`; see examples/plugin/).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; a user wants a plain line
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self._builtins = builtins  # name -> module that registers it on import
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self._items[name] = obj
            return obj

        return deco

    def names(self) -> list[str]:
        eps = {ep.name for ep in entry_points(group=f"mplm_bench.{self.kind}s")}
        return sorted(set(self._builtins) | set(self._items) | eps)

    def get(self, name: str) -> T:
        if name not in self._items and name in self._builtins:
            importlib.import_module(self._builtins[name])
        if name not in self._items:
            for ep in entry_points(group=f"mplm_bench.{self.kind}s"):
                if ep.name == name:
                    try:
                        self._items[name] = ep.load()
                    except Exception as e:  # a broken plugin is the user's one-line error, not ours
                        raise UnknownName(f"{self.kind} {name!r} (entry point {ep.value}) failed to load: "
                                          f"{type(e).__name__}: {e}") from None
        if name not in self._items:
            known = ", ".join(self.names())
            raise UnknownName(f"unknown {self.kind} {name!r} (known: {known})")
        return self._items[name]


tasks: Registry[Any] = Registry(
    "task",
    {"sudoku": "mplm_bench.tasks.sudoku", "sat": "mplm_bench.tasks.sat",
     "longqa": "mplm_bench.tasks.longqa", "countdown": "mplm_bench.tasks.countdown"},
)
strategies: Registry[Any] = Registry(
    "strategy",
    {
        "cot": "mplm_bench.strategies.cot",
        "fj": "mplm_bench.strategies.fj",
        "mplm": "mplm_bench.strategies.mplm",
        "pacore": "mplm_bench.strategies.pacore",
        "sc": "mplm_bench.strategies.sc",
        "sos": "mplm_bench.strategies.sos",
        "apr": "mplm_bench.strategies.apr",
    },
)
backends: Registry[Any] = Registry(
    "backend",
    {
        "scripted": "mplm_bench.backends.scripted",
        "vllm": "mplm_bench.backends.vllm",
        "openai": "mplm_bench.backends.openai",
    },
)
