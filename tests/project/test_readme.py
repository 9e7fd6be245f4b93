"""The documented commands stay true: every scripted `mplm-bench run` in the README and the docs/
pages (where the README's detail moved, issue 38) runs as written (with fewer instances and a
temporary --out), and every sweep config they name loads (`--dry-run`). Commands that need an
engine, a GPU, a hub, Ray or files of the user's are left to their own tests."""

from __future__ import annotations

import re
import shlex

import pytest
from cli_helpers import REPO
from typer.testing import CliRunner

from mplm_bench.cli import app

README = REPO / "README.md"
# the walk-throughs (docs/guide-*.md) run their commands after writing their own files:
# tests/project/test_walkthroughs.py runs them in that order
PAGES = [README, *sorted(p for p in (REPO / "docs").glob("*.md") if not p.name.startswith("guide-"))]
NEEDS_MORE = ("--executor", "--data", "latency_profile", "--model", "--task addition", "$(")


def commands() -> list[str]:
    """`mplm-bench ...` lines of the pages' bash blocks, continuations joined, comments cut,
    one-line `for V in a b; do ...; done` loops expanded; each command once."""
    out = []
    text = "\n".join(page.read_text() for page in PAGES)
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        block = re.sub(r"\\\n\s*", " ", block)
        block = re.sub(r"for (\w+) in ([^;\n]+); do\n\s*(.+?)\n\s*done",  # a loop over lines: one line
                       lambda m: f"for {m[1]} in {m[2]}; do {m[3].strip()}; done", block)
        for line in block.splitlines():
            line = line.split("  #")[0].split("   #")[0].strip()
            loop = re.fullmatch(r"for (\w+) in ([^;]+); do (.+?);? done", line)
            if loop:
                var, values, body = loop.groups()
                out += [body.replace(f"${var}", v) for v in values.split()]
            elif line.startswith("mplm-bench "):
                out.append(line)
    return list(dict.fromkeys(c.strip() for c in out if c.strip().startswith("mplm-bench ")))


def scripted_runs() -> list[str]:
    return [c for c in commands() if c.startswith("mplm-bench run ") and " scripted" in c
            and "$" not in c and not any(x in c for x in NEEDS_MORE)]


def test_the_readme_has_the_commands_this_test_expects():
    assert len(scripted_runs()) >= 8 and any("sweep" in c for c in commands())
    readme = [c for c in scripted_runs() if c in README.read_text()]
    assert len(readme) >= 3  # the README's own examples are among them


@pytest.mark.parametrize("command", scripted_runs())
def test_a_scripted_readme_command_runs(command, tmp_path):
    args = shlex.split(command)[1:]
    args = [a for i, a in enumerate(args) if not (a == "--out" or (i and args[i - 1] == "--out"))]
    if "-n" in args:  # the numbers are the README's; here it only has to run
        i = args.index("-n")
        args[i + 1] = str(min(int(args[i + 1]), 2))
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "-q"])
    assert r.exit_code == 0, r.output
    assert list(tmp_path.glob("*/samples/*.parquet"))


@pytest.mark.parametrize("config", sorted({a for c in commands() if c.startswith("mplm-bench sweep ")
                                           for a in shlex.split(c) if a.endswith(".yaml")}))
def test_a_readme_sweep_config_loads(config, tmp_path):
    path = REPO / config
    assert path.is_file(), config
    r = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
