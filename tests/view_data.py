"""Runs for the viewer's tests: real scripted runs, one of whose samples is then made hostile by
rewriting its Parquet parts (a model may write anything; the page must show it as text)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from cli_helpers import ENV

CLI = [sys.executable, "-m", "mplm_bench.cli"]
# what the page must never run: a script tag, an event handler, and a way out of the JSON's tag
HOSTILE = ('<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
           '</script><script>window.pwned=3</script><!-- & "quotes" \u2028 end')
HOSTILE_ANSWER = '<img src=x onerror="window.pwned=4"><b>bold?</b>'


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=ENV, timeout=300)


def scripted_run(out: Path, *args: str) -> Path:
    """Run the scripted backend into `out`; the run folder."""
    r = cli("run", "-b", "scripted", "-q", "--out", str(out), *args)
    assert r.returncode == 0, r.stderr
    (run,) = [p.parent for p in out.glob("*/manifest.json") if p.parent.name.startswith(_prefix(args))]
    return run


def _prefix(args: tuple[str, ...]) -> str:
    a = list(args)
    return f"{a[a.index('-t') + 1]}-{a[a.index('-s') + 1]}-scripted"


def make_hostile(run: Path, instance_id: str, thread: str = "1", step: int = 0) -> None:
    """Replace one step's response (and the sample's answer) with markup, in every Parquet file
    of the run that holds them (whatever the store's layout of parts): same columns, one value."""
    for path in sorted(run.rglob("*.parquet")):
        table = pq.read_table(path)
        rows, changed = table.to_pylist(), False
        for r in rows:
            if r.get("instance_id") != instance_id:
                continue
            if "response" in r and r.get("thread_id") == thread and r.get("step") == step:
                r["response"], changed = HOSTILE, True
            if "answer" in r and "response" not in r:
                r["answer"], changed = HOSTILE_ANSWER, True
        if changed:
            pq.write_table(table.from_pylist(rows, schema=table.schema), path)
