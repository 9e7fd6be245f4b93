"""Runs for the viewer's tests: real scripted runs, one of whose samples is then made hostile by
rewriting its Parquet parts (a model may write anything; the page must show it as text)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from mplm_bench.results.store import RunStore

CLI = [sys.executable, "-m", "mplm_bench.cli"]
ENV = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
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
    """Replace one step's response (and the sample's answer) with markup. The parts are found
    through the store, and rewritten in place: the same columns, one value changed."""
    scan = RunStore(run).scan()
    for path in scan.calls:
        table = pq.read_table(path)
        rows = table.to_pylist()
        hit = [r for r in rows if r["instance_id"] == instance_id and r["thread_id"] == thread and r["step"] == step]
        for r in hit:
            r["response"] = HOSTILE
        if hit:
            pq.write_table(table.from_pylist(rows, schema=table.schema), path)
    for path in scan.samples:
        table = pq.read_table(path)
        rows = table.to_pylist()
        if any(r["instance_id"] == instance_id for r in rows):
            for r in rows:
                if r["instance_id"] == instance_id:
                    r["answer"] = HOSTILE_ANSWER
            pq.write_table(table.from_pylist(rows, schema=table.schema), path)
