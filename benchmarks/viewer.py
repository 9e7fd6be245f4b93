"""`mplm-bench view` at scale (issue 40): build time, peak memory and page bytes at 1k / 20k /
100k samples with their ratios to 1k, `--serve`'s page and one sample's calls, and the page
opened in headless Chromium.

    nice -n 10 python benchmarks/viewer.py [--sizes 1000,20000,100000] [--root DIR] [--no-browser]
    nice -n 10 python benchmarks/viewer.py --shot docs/viewer_mplm_9x9.png   # the trace viewer page's screenshot

The runs are synthetic but made of real samples: one scripted run (`run -b scripted -t sudoku -s
mplm -T size=4 -n 100`, 29 calls a sample) is tiled to N samples by writing its Parquet again
with new instance ids, as one compacted samples/calls pair (a finished run's layout, the row
groups `compact` writes). A scripted run of 100k samples would take most of an hour here.

Each `view` is a child process: wall time from start to exit (imports included), CPU time (user +
system) and peak RSS from `os.wait4`'s rusage of that child alone. The ratios (×) are to the first
size, on CPU time: on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mplm_bench.view import headless

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from view_data import tiled  # noqa: E402  (the viewer tests' synthetic runs)

CLI = [sys.executable, "-m", "mplm_bench.cli"]
BASE_ARGS = ["-t", "sudoku", "-s", "mplm", "-T", "size=4"]
BASE_N = 100
SHOT_ARGS = ["-t", "sudoku", "-s", "mplm", "-T", "size=9", "-n", "3"]


def scripted(root: Path, args: list[str]) -> Path:
    """A scripted run into `root`; its folder."""
    subprocess.run([*CLI, "run", "-b", "scripted", "-q", "--out", str(root), *args], check=True, capture_output=True)
    prefix = f"{args[1]}-{args[3]}-scripted"
    (run,) = [p.parent for p in root.glob("*/manifest.json") if p.parent.name.startswith(prefix)]
    return run


def build(cmd_prefix: list[str], run: Path, page: Path) -> dict[str, Any]:
    """`view RUN --out PAGE` as a child whose rusage is its own (os.wait4 on its pid)."""
    t = time.perf_counter()
    proc = subprocess.Popen([*cmd_prefix, "view", str(run), "--out", str(page)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if status:
        raise RuntimeError(f"view {run}: {err.strip()[-500:]}")
    held = re.search(r"calls of ([\d,]+) of", out)
    return {"s": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024, "bytes": page.stat().st_size,
            "in_page": int(held.group(1).replace(",", "")) if held else None, "out": out.strip()}


def serve(run: Path, instance: str) -> dict[str, Any]:
    """`view RUN --serve`: seconds to its page, then to one sample's calls (first, uncached)."""
    proc = subprocess.Popen([*CLI, "view", str(run.parent), "--serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", proc.stdout.readline()).group(0)
        t = time.perf_counter()
        page = urllib.request.urlopen(url, timeout=600).read()
        page_s = time.perf_counter() - t
        q = urllib.parse.urlencode({"run": run.name, "instance": instance, "repeat": 0})
        t = time.perf_counter()
        calls = json.loads(urllib.request.urlopen(f"{url}calls?{q}", timeout=600).read())
        calls_s = time.perf_counter() - t
        assert calls["calls"]["call"], "no calls served"
    finally:
        proc.terminate()
        _, _, usage = os.wait4(proc.pid, 0)
    return {"page_s": page_s, "calls_s": calls_s, "bytes": len(page), "rss": usage.ru_maxrss / 1024}


def open_timed(drv: Any, page: Path, k: int) -> dict[str, float]:
    """Seconds to load the page (table drawn), then to open sample k (calls decoded and drawn)."""
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get("about:blank")
    t = time.perf_counter()
    drv.get(page.as_uri())
    WebDriverWait(drv, 300).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    drv.execute_script(f"openSample({k})")
    WebDriverWait(drv, 300).until(lambda d: d.execute_script("return STATE.p !== null"))
    return {"load_s": loaded, "open_s": time.perf_counter() - t}


def screenshot(root: Path, shot: Path) -> None:
    """The 9x9 MPLM sample's timeline with a step on its critical path opened (a real click)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run = scripted(root, SHOT_ARGS)
    page = run / "view.html"
    subprocess.run([*CLI, "view", str(run), "--out", str(page)], check=True, capture_output=True)
    with headless.chromium(1500, 1150) as drv:
        drv.get(page.as_uri())
        WebDriverWait(drv, 30).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        drv.find_elements(By.CSS_SELECTOR, "#table tbody tr")[0].click()
        WebDriverWait(drv, 30).until(lambda d: d.execute_script("return STATE.p !== null"))
        sc = drv.find_element(By.ID, "scroller")
        drv.execute_script("document.getElementById('samples').scrollIntoView()")
        # a worker step on the critical path, the highest lane of them: the master stays in view
        x, y, w, h = drv.execute_script("""
            const p = STATE.p, sc = document.getElementById('scroller'), [s, e] = clockOf(p);
            const lane = (i) => p.calls.lane[i];
            const i = p.critical.filter((j) => lane(j) > 0).sort((a, b) => lane(a) - lane(b))[0];
            return [GUTTER + (s[i] + e[i]) / 2 * p.ppu - sc.scrollLeft, AXIS + lane(i) * ROW + ROW / 2 - sc.scrollTop,
                    sc.clientWidth, sc.clientHeight];""")
        ActionChains(drv).move_to_element_with_offset(sc, int(x - w / 2), int(y - h / 2)).click().perform()
        WebDriverWait(drv, 30).until(lambda d: d.execute_script("return document.getElementById('step-response') !== null"))
        drv.execute_script("document.getElementById('table-wrap').scrollLeft = 0")  # the row click scrolled it
        shot.parent.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,20000,100000", help="samples per run, comma separated (the first is the ratios' base)")
    ap.add_argument("--root", type=Path, default=None, help="where the runs go (kept; reused when there)")
    ap.add_argument("--no-browser", action="store_true", help="skip the headless Chromium columns")
    ap.add_argument("--no-serve", action="store_true", help="skip the --serve columns")
    ap.add_argument("--old", type=Path, default=None,
                    help="also build with the viewer of another checkout (its root), for a before column")
    ap.add_argument("--old-max", type=int, default=20000, help="--old: only up to this many samples (the old viewer took 4 min at 20k)")
    ap.add_argument("--shot", type=Path, default=None, help="write the trace viewer page's screenshot there and stop")
    a = ap.parse_args()
    root = a.root or Path(tempfile.mkdtemp(prefix="mplm-view-"))
    root.mkdir(parents=True, exist_ok=True)
    if a.shot:
        if headless.missing():
            sys.exit(f"viewer benchmark: {headless.missing()}")
        screenshot(root / "shot", a.shot)
        return
    browser = not a.no_browser and headless.missing() is None
    base_root = root / "base"
    base = next((p.parent for p in base_root.glob("*/manifest.json")), None) if base_root.is_dir() else None
    base = base or scripted(base_root, [*BASE_ARGS, "-n", str(BASE_N)])
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    drv_ctx = headless.chromium(1400, 900) if browser else None
    drv = drv_ctx.__enter__() if drv_ctx else None
    try:
        for n in sizes:
            run = tiled(base, root / f"n{n}", n)
            row: dict[str, Any] = {"n": n, "calls": pq.ParquetFile(next((run / "calls").glob("*.parquet"))).metadata.num_rows}
            row["build"] = build(CLI, run, root / f"n{n}.html")
            if a.old and n <= a.old_max:
                old = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
                       "from mplm_bench.cli import main; sys.argv[0] = 'mplm-bench'; main()", str(a.old)]
                row["old"] = build(old, run, root / f"n{n}-old.html")
            if not a.no_serve:
                last = pq.read_table(next((run / "samples").glob("*.parquet")), columns=["instance_id"])
                row["serve"] = serve(run, last.column(0)[-1].as_py())  # the last sample: never cached
            if drv is not None:
                try:
                    row["browser"] = open_timed(drv, root / f"n{n}.html", 0)
                except Exception as e:  # a browser that times out on a busy machine: a blank, not no table
                    print(f"  Chromium on {n:,}: {type(e).__name__}", file=sys.stderr)
            rows.append(row)
            print(f"  {n:,} samples done: {row['build']['out']}", file=sys.stderr, flush=True)
    finally:
        if drv_ctx:
            drv_ctx.__exit__(None, None, None)
    print(table(rows, bool(a.old), not a.no_serve, browser))


def table(rows: list[dict[str, Any]], old: bool, served: bool, browser: bool) -> str:
    b0 = rows[0]["build"]
    head = ["samples", "calls", "view: wall s", "CPU s", "×", "peak MiB", "×", "page MB", "×", "calls in page"]
    if old:
        head += ["before: wall s", "CPU s", "peak MiB", "page MB"]
    if served:
        head += ["--serve: page s", "page MB", "one sample's calls s", "peak MiB"]
    if browser:
        head += ["Chromium: load s", "open s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        b = r["build"]
        cells = [f"{r['n']:,}", f"{r['calls']:,}", f"{b['s']:.1f}", f"{b['cpu']:.1f}", f"{b['cpu'] / b0['cpu']:.1f}",
                 f"{b['rss']:.0f}", f"{b['rss'] / b0['rss']:.1f}", f"{b['bytes'] / 1e6:.1f}",
                 f"{b['bytes'] / b0['bytes']:.1f}", f"{b['in_page']:,}" if b["in_page"] is not None else "all"]
        if old:
            o = r.get("old")
            cells += [f"{o['s']:.1f}", f"{o['cpu']:.1f}", f"{o['rss']:.0f}", f"{o['bytes'] / 1e6:.1f}"] if o else [""] * 4
        if served:
            s = r["serve"]
            cells += [f"{s['page_s']:.2f}", f"{s['bytes'] / 1e6:.1f}", f"{s['calls_s']:.2f}", f"{s['rss']:.0f}"]
        if browser:
            got = r.get("browser")
            cells += [f"{got['load_s']:.2f}", f"{got['open_s']:.2f}"] if got else ["—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
