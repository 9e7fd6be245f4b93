"""The two walk-throughs (docs/guide-add-a-task.md, docs/guide-add-a-strategy.md) followed as a
reader follows them, so they cannot go stale (issue 38).

The pages' convention, stated at the top of each: a fenced block with `title="FILE"` is a file the
reader writes (a later block with the same title replaces it), each line of a `bash` block is a
command run in the reader's folder, in order, and a `text` block holds lines the output of the
command just before it must contain (`…`: anything; spacing loose; a line starting `error:`: the
command fails). Other blocks are not run. The task page runs first, the strategy page after it in
the same folder.

Every command runs in a fresh interpreter (nothing the pages register reaches this process's
registries): `mplm-bench` as `python -m mplm_bench.cli` with this checkout first on the path,
`pytest` as `python -m pytest`, and `pip install -e .` as the same install of the reader's
package, offline, into a folder of the test's own (`--target`) instead of the environment.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mplm_bench import registry

REPO = Path(__file__).resolve().parents[2]
TASK_PAGE = REPO / "docs" / "guide-add-a-task.md"
STRATEGY_PAGE = REPO / "docs" / "guide-add-a-strategy.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
TITLE = re.compile(r'title="([^"]+)"')


@dataclass
class Step:
    kind: str  # file, run, expect
    text: str
    name: str = ""


def steps(page: Path) -> list[Step]:
    """The page's executable blocks, in order."""
    out = []
    for m in FENCE.finditer(page.read_text()):
        lang, info, body = m.groups()
        if title := TITLE.search(info):
            out.append(Step("file", body, title.group(1)))
        elif lang == "bash":
            out.append(Step("run", body))
        elif lang == "text":
            out.append(Step("expect", body))
    return out


def pattern(line: str) -> re.Pattern[str]:
    """An expected line as a regex: `…` matches anything, any run of spaces matches any other."""
    return re.compile(".*".join(re.escape(_loose(p)) for p in line.split("…")))


def _loose(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Reader:
    """A reader's folder, and what they have run in it."""

    folder: Path
    ran: list[str] = field(default_factory=list)

    @property
    def site(self) -> Path:
        return self.folder.parent / f"{self.folder.name}-site"  # `pip install`'s target

    def command(self, line: str) -> list[str]:
        args = shlex.split(line, comments=True)
        if args[0] == "mplm-bench":
            return [sys.executable, "-m", "mplm_bench.cli", *args[1:]]
        if args[0] == "pytest":
            return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args[1:]]
        if args == ["pip", "install", "-e", "."]:
            return [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--upgrade", "--target", str(self.site), "."]
        raise AssertionError(f"the page runs {line!r}, which this test does not know how to run")

    def run(self, line: str) -> subprocess.CompletedProcess:
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(self.site), str(REPO)]),
                            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
        self.ran.append(line)
        return subprocess.run(self.command(line), cwd=self.folder, env=env, capture_output=True, text=True,
                              timeout=600)

    def follow(self, page: Path) -> None:
        last: tuple[str, subprocess.CompletedProcess] | None = None
        for step in steps(page) + [Step("end", "")]:
            if step.kind == "expect":
                assert last is not None, f"{page.name}: a text block follows no command"
                self.check(page, *last, step.text.splitlines())
                last = None
                continue
            if last is not None:  # a command the page shows no output for must succeed
                self.check(page, *last, [])
                last = None
            if step.kind == "file":
                (self.folder / step.name).write_text(step.text)
            elif step.kind == "run":
                lines = [ln for ln in step.text.splitlines() if ln.strip()]
                for line in lines[:-1]:
                    self.check(page, line, self.run(line), [])
                last = (lines[-1], self.run(lines[-1]))

    def check(self, page: Path, line: str, r: subprocess.CompletedProcess, expected: list[str]) -> None:
        output = r.stdout + r.stderr
        where = f"{page.name}: `{line}` (exit {r.returncode})\n{output[-4000:]}"
        fails = any(e.startswith("error:") for e in expected)
        assert (r.returncode != 0) == fails, where
        got = [_loose(o) for o in output.splitlines()]
        for e in expected:
            assert any(pattern(e).search(o) for o in got), f"expected a line like {e!r}; {where}"


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Reader:
    """The reader's folder once they have followed the task page."""
    r = Reader(tmp_path_factory.mktemp("reader"))
    r.follow(TASK_PAGE)
    return r


def test_the_add_a_task_page_runs_as_written(reader):
    assert "mplm-bench run -t arith_chain.py:ArithmeticChain -s cot -b scripted -n 5" in reader.ran
    assert "mplm-bench list" in reader.ran and "pytest -q test_arith_chain.py" in reader.ran


def test_the_add_a_strategy_page_runs_as_written_after_it(reader):
    reader.follow(STRATEGY_PAGE)
    assert "mplm-bench run -t sat -s best-of-n -b scripted -n 1" in reader.ran
    assert "pytest -q test_best_of_n.py" in reader.ran


@pytest.mark.parametrize(("page", "file"), [(TASK_PAGE, "arith_chain.py"), (STRATEGY_PAGE, "best_of_n.py")])
def test_each_example_is_one_file_of_the_length_its_page_says(page, file):
    text = page.read_text()
    files = [s for s in steps(page) if s.kind == "file" and s.name == file]
    assert len(files) == 1, f"{page.name}: one block for {file}"
    said = re.search(r"one Python file of (\d+) lines", text)
    assert said and int(said.group(1)) == len(files[0].text.splitlines()), (
        f"{page.name} says {said and said.group(0)!r}; {file} has {len(files[0].text.splitlines())} lines")


def test_the_examples_are_lint_clean(tmp_path):
    for page in (TASK_PAGE, STRATEGY_PAGE):
        for s in steps(page):
            if s.name.endswith(".py"):
                (tmp_path / s.name).write_text(s.text)
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,I,UP,B,SIM",
                        "--line-length", "120", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_pages_names_are_not_built_in():
    """The pages register `arith-chain` and `best-of-n` in their own processes; a built-in of the
    same name would shadow the reader's entry point."""
    assert "arith-chain" not in registry.tasks.names()
    assert "best-of-n" not in registry.strategies.names()
