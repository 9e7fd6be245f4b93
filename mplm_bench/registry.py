"""Typed name registries for tasks, strategies and backends, and the one way to join them:

    @tasks.register("sudoku", options=SudokuOptions, protocols=("serial", "fj", "mplm"))
    class SudokuTask(Task): ...

    @strategies.register("fj", protocol="fj")
    class FJStrategy(Strategy): ...

    @backends.register("vllm", options=VLLMOptions, check_sampling=check_cpu_sampling)
    def build_vllm(policy, options) -> Backend: ...

The decorator is the only place a name, options model and protocol(s) are written (a class gets
them as `name`, `Options`, `protocols` / `protocol`). Built-ins and plugins are found the same
lazy way, so `mplm-bench --help` imports none of them:

- built-ins: on the first `names()`, or `get()` of a name not yet registered, every module under
  `mplm_bench/tasks/` (`strategies/`, `backends/`) is imported once and its decorators run (a
  module there imports nothing heavy at module level: engines load when a backend is built);
- plugins: an installed package's entry point in the group `mplm_bench.tasks` (`.strategies`,
  `.backends`) names its decorated class or factory (`addition = "mplm_addition:AdditionTask"`,
  see examples/plugin/) and is loaded on `get()` of its name;
- a task file, `path/to/file.py:MyTask`, is loaded without packaging: a decorated class, or a
  plain Task subclass named after itself.

The 0.1 attribute form (a bare `register("name")` on a class that sets `name`, `Options`,
`protocols` itself; a backend factory carrying `options_model` / `check_sampling`) is refused in
one line that says what to write instead.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import pkgutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
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


class RegistrationError(TypeError):
    """A registration the registry refuses (the old attribute form, a wrong keyword): one line."""

    def __init__(self, kind: str, name: str, why: str) -> None:
        super().__init__(f"{kind} {name!r}: {why}")
        self.why = why


class Registry(Generic[T]):
    """Name -> T. `plural` names the registry (`tasks`), its subpackage of built-ins
    (`mplm_bench.tasks`) and its entry-point group (`mplm_bench.tasks`). Subclasses say how a
    registered object becomes a T (`_adopt`) and which T an object was registered as (`_holds`)."""

    def __init__(self, kind: str, plural: str) -> None:
        self.kind = kind
        self.plural = plural
        self.group = f"mplm_bench.{plural}"
        self._items: dict[str, T] = {}
        self._imported = False
        self._lock = threading.RLock()

    def register(self, name: str, *, options: type[BaseModel] | None = None, **attrs: Any) -> Callable[[Obj], Obj]:
        """Register the decorated object under `name`; see the module docstring."""

        def deco(obj: Obj) -> Obj:
            self._items[name] = self._adopt(name, obj, options, attrs)
            return obj

        return deco

    def _adopt(self, name: str, obj: Any, options: type[BaseModel] | None, attrs: dict[str, Any]) -> T:
        raise NotImplementedError

    def _holds(self, item: T, obj: Any) -> bool:
        """Whether `item` is what registering `obj` made."""
        raise NotImplementedError

    def import_builtins(self) -> None:
        """Import every module of this registry's own subpackage, once: each built-in's decorator
        registers it. A module added there is found with no other edit."""
        with self._lock:  # another thread waits for the whole set, not a part
            if self._imported:
                return
            self._imported = True  # first: a module that asks the registry while importing must not recurse
            pkg = importlib.import_module(self.group)
            for mod in pkgutil.walk_packages(pkg.__path__, f"{pkg.__name__}."):
                importlib.import_module(mod.name)

    def _entry_points(self) -> list[EntryPoint]:
        return list(entry_points(group=self.group))

    def names(self) -> list[str]:
        self.import_builtins()
        return sorted(set(self._items) | {ep.name for ep in self._entry_points()})

    def get(self, name: str) -> T:
        if name not in self._items:
            self.import_builtins()
        if name not in self._items:
            for ep in self._entry_points():
                if ep.name == name:
                    self._items[name] = self._load(ep)
                    break
        if name not in self._items:
            known = ", ".join(self.names())
            raise UnknownName(f"unknown {self.kind} {name!r} (known: {known})")
        return self._items[name]

    def _load(self, ep: EntryPoint) -> T:
        """A plugin's entry point: importing it runs its decorator, which registers `ep.name`. A
        plugin that fails to import, or names something its decorator did not register under
        that name, is one line (a broken plugin is the user's error, not ours)."""
        try:
            return self._adopt_loaded(ep.name, ep.load())
        except Exception as e:
            why = e.why if isinstance(e, RegistrationError) else f"{type(e).__name__}: {e}"
            raise UnknownName(f"{self.kind} {ep.name!r} (entry point {ep.value}) failed to load: {why}") from None

    def registered_name(self, obj: Any) -> str | None:
        """The name `obj`'s decorator registered it under, if it was."""
        return next((n for n, item in self._items.items() if self._holds(item, obj)), None)

    def _adopt_loaded(self, name: str, obj: Any) -> T:
        """What a plugin's entry point names (its module, or its decorated class or factory), as
        registered under `name`; RegistrationError for one its decorator did not register so."""
        if isinstance(obj, ModuleType):
            if name in self._items:
                return self._items[name]
            raise RegistrationError(self.kind, name, f"importing {obj.__name__} registered no {self.kind} {name!r}: "
                                                     f"write @{self.plural}.register({json.dumps(name)}, ...) above what it defines")
        registered = self.registered_name(obj)
        if registered == name:
            return self._items[name]
        if registered is not None:
            raise RegistrationError(self.kind, name, f"it is registered as {registered!r}: name the entry point so")
        raise RegistrationError(self.kind, name, self._how_to_register(name, obj))

    def _how_to_register(self, name: str, obj: Any, options: Any = None, attrs: dict[str, Any] | None = None) -> str:
        """The line for an object not registered, or in the old form: what to write instead."""
        old = self._old_attributes(obj)
        args: dict[str, Any] = {"options": None}  # first, as the decorator's signature has it
        args |= {("options" if k in ("Options", "options_model") else k): v for k, v in old.items() if k != "name"}
        args |= {k: v for k, v in {"options": options, **(attrs or {})}.items() if v is not None}  # given wins
        call = ", ".join([json.dumps(name)] + [f"{k}={_code(v)}" for k, v in args.items() if v is not None])
        what = getattr(obj, "__name__", type(obj).__name__)
        if old:
            return (f"{what} uses the old attribute form ({', '.join(old)} set on it): write "
                    f"@{self.plural}.register({call}) above it instead")
        return f"{what} is not registered: write @{self.plural}.register({call}) above it"

    def _old_attributes(self, obj: Any) -> dict[str, Any]:
        """What `obj` sets itself that the decorator gives (the 0.1 form), in its own namespace."""
        raise NotImplementedError


def _code(value: Any) -> str:
    """A value as it would be written in the decorator's call."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_code, value)) + ("," if len(value) == 1 else "") + ")"
    return str(getattr(value, "__name__", repr(value)))


C = TypeVar("C", bound=type)


class ClassRegistry(Registry[C]):
    """Tasks and strategies: classes. Registration writes the name, options model and protocol(s)
    given to it onto the class, so the rest of the code reads them in one place."""

    def __init__(self, kind: str, plural: str, attrs: tuple[str, ...]) -> None:
        super().__init__(kind, plural)
        self._attrs = attrs  # what `register` may set besides the options (protocols / protocol)

    def _adopt(self, name: str, obj: Any, options: type[BaseModel] | None, attrs: dict[str, Any]) -> C:
        if not isinstance(obj, type):
            raise RegistrationError(self.kind, name, f"a {self.kind} is a class, not {type(obj).__name__}")
        if unknown := sorted(set(attrs) - set(self._attrs)):
            raise RegistrationError(self.kind, name, f"register() takes no {', '.join(unknown)}")
        if (again := self.registered_name(obj)) not in (None, name):
            raise RegistrationError(self.kind, name, f"{obj.__name__} is already registered as {again!r}")
        if again is None and self._old_attributes(obj):
            raise RegistrationError(self.kind, name, self._how_to_register(name, obj, options, attrs))
        given = {"name": name, **({"Options": options} if options is not None else {}), **attrs}
        for key, value in given.items():
            setattr(obj, key, value)
        return cast(C, obj)  # the class itself

    def _holds(self, item: C, obj: Any) -> bool:
        return item is obj

    def _old_attributes(self, obj: Any) -> dict[str, Any]:
        own = vars(obj) if isinstance(obj, type) else {}
        return {k: own[k] for k in ("name", "Options", *self._attrs) if k in own}


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


class BackendRegistry(Registry[BackendSpec]):
    def _adopt(self, name: str, obj: Any, options: type[BaseModel] | None, attrs: dict[str, Any]) -> BackendSpec:
        if not callable(obj):
            raise RegistrationError("backend", name, f"a backend is a factory, not {type(obj).__name__}")
        if unknown := sorted(set(attrs) - {"check_sampling", "engine_logs", "identify"}):
            raise RegistrationError("backend", name, f"register() takes no {', '.join(unknown)}")
        if self._old_attributes(obj):
            raise RegistrationError("backend", name, self._how_to_register(name, obj, options, attrs))
        return BackendSpec(name, obj, options, attrs.get("check_sampling"),
                           bool(attrs.get("engine_logs", False)), attrs.get("identify"))

    def _holds(self, item: BackendSpec, obj: Any) -> bool:
        return item.factory is obj

    def _old_attributes(self, obj: Any) -> dict[str, Any]:
        own = getattr(obj, "__dict__", {})  # 0.1 glued these onto the factory function
        return {k: own[k] for k in ("options_model", "check_sampling") if k in own}


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
    if tasks.registered_name(obj) is not None:
        return obj  # decorated: as registered (its import ran the decorator), like a plugin's
    if "name" not in vars(obj):
        obj.name = attr  # a plain class: named after itself (the run names it by its file ref)
    return obj


tasks = TaskRegistry("task", "tasks", attrs=("protocols",))
strategies: ClassRegistry[type[Strategy]] = ClassRegistry(
    "strategy", "strategies", attrs=("protocol", "task_specific", "generic"))
backends = BackendRegistry("backend", "backends")
