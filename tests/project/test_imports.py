"""The layering of mplm_bench/ (docs/architecture.md §2), checked on the import graph itself.

The graph is built with `ast` from every `import` / `from … import` in the package, those under
`if TYPE_CHECKING:` and inside functions included (a lazy import is still a dependency), so a
cycle cannot hide behind a deferred import. A submodule's implicit import of its parent package
is not an edge (every package would then be a cycle with its own `__init__`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from cli_helpers import REPO as ROOT

PKG = "mplm_bench"


def modules() -> dict[str, Path]:
    out = {}
    for f in (ROOT / PKG).rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str | None] = set()
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == PKG}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                if base.split(".")[0] != PKG:
                    continue
                for a in node.names:  # `from pkg import submodule` depends on the submodule
                    full = f"{base}.{a.name}"
                    deps.add(full if full in mods else resolve(base))
        graph[mod] = {d for d in deps if d and d != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def under(mod: str, *prefixes: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def test_there_is_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_runtime_imports_nothing_outside_itself():
    graph = import_graph()
    bad = {m: sorted(d for d in deps if not under(d, f"{PKG}.runtime"))
           for m, deps in graph.items() if under(m, f"{PKG}.runtime")}
    assert {m: d for m, d in bad.items() if d} == {}


def test_tasks_and_backends_depend_only_on_the_runtime_and_the_task_interface():
    """Beyond runtime/ and tasks/base.py: their own package, the shared leaves a task or engine
    needs (tasks/files.py, tasks/limits.py, tasks/boxed/, models/: tokenizers, the embedded model) and registry.py to register."""
    # tasks/boxed/ is the shared base of the `\\boxed{}` answer tasks (math, multiply)
    shared = (f"{PKG}.runtime", f"{PKG}.tasks.base", f"{PKG}.tasks.files", f"{PKG}.tasks.limits", f"{PKG}.tasks.boxed",
              f"{PKG}.models", f"{PKG}.registry")
    graph = import_graph()
    bad = {}
    for m, deps in graph.items():
        if under(m, f"{PKG}.backends"):
            own = f"{PKG}.backends"
        elif under(m, f"{PKG}.tasks") and m.count(".") >= 2 and m not in shared:
            own = ".".join(m.split(".")[:3])  # mplm_bench.tasks.sudoku
        else:
            continue
        if wrong := sorted(d for d in deps if not under(d, own, *shared)):
            bad[m] = wrong
    assert bad == {}


def test_the_leaves_stay_leaves():
    """registry.py and models/ are imported from everywhere, so they import (almost) nothing."""
    graph = import_graph()
    assert graph[f"{PKG}.registry"] <= {f"{PKG}.tasks.base", f"{PKG}.strategies.base", f"{PKG}.runtime.backend"}
    for m, deps in graph.items():
        if under(m, f"{PKG}.models"):
            assert all(under(d, f"{PKG}.models") for d in deps), (m, deps)
