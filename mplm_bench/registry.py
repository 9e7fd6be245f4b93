"""Typed name registries for tasks, strategies and backends: one way to plug things in.

    @tasks.register("sudoku", options=SudokuOptions, protocols=("serial", "fj", "mplm"))
    class SudokuTask(Task): ...

    @strategies.register("fj", protocol="fj")
    class FJStrategy(Strategy): ...

    @backends.register("vllm", options=VLLMOptions, check_sampling=check_cpu_sampling)
    def build_vllm(policy, options) -> Backend: ...

The name is given once, at registration (a class gets it as its `name`), and so are the options
model and the protocol(s). The older form, a bare `@tasks.register("name")` on a class that sets
`name`, `protocols` / `protocol` and `Options` itself, and a backend factory carrying
`options_model` / `check_sampling` attributes, still works: third-party plugins use it.

Built-ins are listed by module path and imported only when asked for, so `mplm-bench --help`
stays instant; third-party plugins come in through the entry-point groups `mplm_bench.tasks`,
`mplm_bench.strategies` and `mplm_bench.backends`, each entry naming the class or factory itself
(`addition = "mplm_addition:AdditionTask"`; see examples/plugin/). A task can also be named by
file, `path/to/file.py:MyTask`, and is then loaded from that file without packaging.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from pydantic import BaseModel

    from mplm_bench.runtime.backend import Backend, Sampling
    from mplm_bench.strategies.base import Strategy
    from mplm_bench.tasks.base import Task

T = TypeVar("T")
Obj = TypeVar("Obj")  # what a decorator hands back unchanged


class UnknownName(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; a user wants a plain line
        return str(self.args[0])


class Registry(Generic[T]):
    """Name -> T. Subclasses say how a registered object becomes a T (`_adopt`)."""

    def __init__(self, kind: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self._builtins = builtins  # name -> module that registers it on import
        self._items: dict[str, T] = {}

    def register(self, name: str, *, options: type[BaseModel] | None = None, **attrs: Any) -> Callable[[Obj], Obj]:
        """Register the decorated object under `name`; see the module docstring."""

        def deco(obj: Obj) -> Obj:
            self._items[name] = self._adopt(name, obj, options, attrs)
            return obj

        return deco

    def _adopt(self, name: str, obj: Any, options: type[BaseModel] | None, attrs: dict[str, Any]) -> T:
        raise NotImplementedError

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
                        self._items[name] = self._adopt(name, ep.load(), None, {})
                    except Exception as e:  # a broken plugin is the user's one-line error, not ours
                        raise UnknownName(f"{self.kind} {name!r} (entry point {ep.value}) failed to load: "
                                          f"{type(e).__name__}: {e}") from None
        if name not in self._items:
            known = ", ".join(self.names())
            raise UnknownName(f"unknown {self.kind} {name!r} (known: {known})")
        return self._items[name]


C = TypeVar("C", bound=type)


class ClassRegistry(Registry[C]):
    """Tasks and strategies: classes. Registration writes the name, options model and protocol(s)
    given to it onto the class, so the rest of the code reads them in one place."""

    def __init__(self, kind: str, builtins: dict[str, str], attrs: tuple[str, ...]) -> None:
        super().__init__(kind, builtins)
        self._attrs = attrs  # what `register` may set besides the options (protocols / protocol)

    def _adopt(self, name: str, obj: Any, options: type[BaseModel] | None, attrs: dict[str, Any]) -> C:
        if not isinstance(obj, type):
            raise TypeError(f"a {self.kind} is a class, not {type(obj).__name__}")
        if unknown := sorted(set(attrs) - set(self._attrs)):
            raise TypeError(f"{self.kind} {name!r}: register() takes no {', '.join(unknown)}")
        written: dict[str, Any] = {}  # set by name: `type` itself has no such attributes
        if "name" not in vars(obj):  # the old form sets its own (the same) name: keep it
            written["name"] = name
        if options is not None:
            written["Options"] = options
        for key, value in {**written, **attrs}.items():
            setattr(obj, key, value)
        return cast(C, obj)  # the class itself


BackendFactory = Callable[[Any, dict[str, Any]], "Backend"]
SamplingCheck = Callable[["Sampling", Any], None]


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A registered backend: its factory `(reference policy, options) -> Backend`, the model that
    validates its `-M` keys at plan time, and an optional check of the sampling it can serve
    (raises BackendError). Callable like the factory itself."""

    name: str
    factory: BackendFactory
    options: type[BaseModel] | None = None
    check_sampling: SamplingCheck | None = None
    engine_logs: bool = False  # runs an engine in this process: its log goes to engine.log
    # what the backend serves, asked at plan time (a server's model and tokenizer): part of the
    # run id, so another checkpoint behind the same URL and name is another run
    identify: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __call__(self, policy: Any, options: dict[str, Any]) -> Backend:
        return self.factory(policy, options)

    @property
    def options_model(self) -> type[BaseModel] | None:  # the old attribute name
        return self.options


class BackendRegistry(Registry[BackendSpec]):
    def _adopt(self, name: str, obj: Any, options: type[BaseModel] | None, attrs: dict[str, Any]) -> BackendSpec:
        if isinstance(obj, BackendSpec):
            return obj
        if unknown := sorted(set(attrs) - {"check_sampling", "engine_logs", "identify"}):
            raise TypeError(f"backend {name!r}: register() takes no {', '.join(unknown)}")
        # the old form glued these onto the factory function; a plugin may still do that
        return BackendSpec(name, obj, options or getattr(obj, "options_model", None),
                           attrs.get("check_sampling") or getattr(obj, "check_sampling", None),
                           bool(attrs.get("engine_logs", False)), attrs.get("identify"))


class TaskRegistry(ClassRegistry["type[Task]"]):
    def get(self, name: str) -> type[Task]:
        if is_file_ref(name):
            return load_task_file(name)
        return super().get(name)


def is_file_ref(name: str) -> bool:
    """`path/to/file.py:MyTask` or `./my_task.py:MyTask` (a registry name never holds `.py:`)."""
    path, sep, attr = name.rpartition(":")
    return bool(sep and attr and path.endswith(".py"))


def load_task_file(ref: str) -> type[Task]:
    """The Task class `attr` of the Python file `path` in `path:attr`, imported without packaging
    (as a module named after the file, so pickling and Ray find it again). One UnknownName line
    for a missing file, a file that fails to import, or a missing or wrong attribute."""
    from mplm_bench.tasks.base import Task

    raw, _, attr = ref.rpartition(":")
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise UnknownName(f"task {ref!r}: no such file {raw}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]  # the same in every process
    mod_name = f"mplm_bench_local_{path.stem}_{digest}"
    module = sys.modules.get(mod_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[mod_name]
            raise UnknownName(f"task {ref!r}: {raw} failed to import: {type(e).__name__}: {e}") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise UnknownName(f"task {ref!r}: {raw} has no {attr!r}")
    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise UnknownName(f"task {ref!r}: {attr} is not a subclass of mplm_bench.tasks.base.Task")
    if "name" not in vars(obj):
        obj.name = attr  # a file task not registered: its class name
    return obj


tasks = TaskRegistry(
    "task",
    {"sudoku": "mplm_bench.tasks.sudoku", "sat": "mplm_bench.tasks.sat",
     "longqa": "mplm_bench.tasks.longqa", "multiply": "mplm_bench.tasks.multiply",
     "math": "mplm_bench.tasks.mathqa",
     "countdown": "mplm_bench.tasks.countdown"},
    attrs=("protocols",),
)
strategies: ClassRegistry[type[Strategy]] = ClassRegistry(
    "strategy",
    {
        "cot": "mplm_bench.strategies.cot",
        "fj": "mplm_bench.strategies.fj",
        "mplm": "mplm_bench.strategies.mplm",
        "pacore": "mplm_bench.strategies.pacore",
        "sc": "mplm_bench.strategies.sc",
        "deepconf": "mplm_bench.strategies.deepconf",
        "threadweaver": "mplm_bench.strategies.threadweaver",
        "parallel-r1": "mplm_bench.strategies.parallel_r1",
        "multiverse": "mplm_bench.strategies.multiverse",
        "sos": "mplm_bench.strategies.sos",
        "apr": "mplm_bench.strategies.apr",
    },
    attrs=("protocol", "task_specific", "generic"),
)
backends = BackendRegistry(
    "backend",
    {
        "scripted": "mplm_bench.backends.scripted",
        "vllm": "mplm_bench.backends.vllm",
        "openai": "mplm_bench.backends.openai",
    },
)
