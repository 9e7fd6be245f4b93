"""Runs for the viewer's tests: real scripted runs, one of whose samples is then made hostile by
rewriting its Parquet parts (a model may write anything; the page must show it as text), and big
runs made by tiling a real one (`tiled`, also benchmarks/viewer.py's)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cli_helpers import ENV

from mplm_bench.results.compact import CALL_ROWS_PER_GROUP, SAMPLE_ROWS_PER_GROUP
from mplm_bench.results.store import ABSORBED, WRITE_OPTIONS

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


def _read(run: Path, table: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((run / table).glob("*.parquet"))])


def tiled(base: Path, out: Path, n: int) -> Path:
    """`base` run's samples repeated to `n` (instance ids renumbered), written as one compacted
    pair under `out/<base name>`; reused when already there."""
    run = out / base.name
    if (run / "samples").is_dir():
        return run
    samples, calls = _read(base, "samples"), _read(base, "calls")
    ids = samples.column("instance_id").unique()
    stem = re.sub(r"\d+$", "", ids[0].as_py())
    tmp = out / (".tmp-" + base.name)
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "samples").mkdir(parents=True)
    (tmp / "calls").mkdir()
    manifest = json.loads((base / "manifest.json").read_text())
    manifest["n_instances"] = n
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    name = "compact-bench.parquet"
    s_schema = samples.schema.with_metadata({ABSORBED: b"[]"})
    with pq.ParquetWriter(tmp / "samples" / name, s_schema, **WRITE_OPTIONS) as sw, \
            pq.ParquetWriter(tmp / "calls" / name, calls.schema, **WRITE_OPTIONS) as cw:
        done, s_parts, c_parts = 0, [], []
        while done < n:
            take = min(len(ids), n - done)
            new = pa.array([f"{stem}{done + i:06d}" for i in range(take)])
            for parts, table in ((s_parts, samples), (c_parts, calls)):
                pos = pc.index_in(table.column("instance_id"), value_set=ids)
                keep = pc.less(pos, take)
                t = table.filter(keep)
                parts.append(t.set_column(t.schema.get_field_index("instance_id"), "instance_id",
                                          pc.take(new, pos.filter(keep))))
            done += take
            if sum(p.num_rows for p in c_parts) >= CALL_ROWS_PER_GROUP or done == n:
                cw.write_table(pa.concat_tables(c_parts), row_group_size=CALL_ROWS_PER_GROUP)
                c_parts = []
            if sum(p.num_rows for p in s_parts) >= SAMPLE_ROWS_PER_GROUP or done == n:
                sw.write_table(pa.concat_tables(s_parts).replace_schema_metadata(s_schema.metadata),
                               row_group_size=SAMPLE_ROWS_PER_GROUP)
                s_parts = []
    tmp.rename(run)
    return run
