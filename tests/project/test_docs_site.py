"""The docs stay a site a newcomer can follow (issue 38): `mkdocs build --strict` passes (no broken
link or anchor between pages, no page left out of the nav), the README stays short, and every
relative link in it points at a file that exists."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def readme_links() -> list[str]:
    """Relative link targets of the README's Markdown links and images, anchors cut."""
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)  # code blocks hold no links
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#", 1)[0] for t in targets
            if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_the_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n < 300, f"README.md is {n} lines: move the detail into docs/"


def test_the_readme_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert lines[2] == "```bash"
    assert lines[3].startswith("make setup && mplm-bench run --task sudoku --strategy mplm -T size=4")
    assert lines[4].startswith("make test")


def test_every_relative_link_in_the_readme_exists():
    links = readme_links()
    assert len(links) >= 10  # the parser found the README's links
    missing = [t for t in links if not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("material") is None,
                    reason="needs mkdocs and mkdocs-material: the `docs` extra (make setup installs it)")
def test_the_docs_site_builds_strict(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=REPO, capture_output=True, text=True, timeout=300,
                       env=os.environ | {"NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "getting-started.html").is_file()
