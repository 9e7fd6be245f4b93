"""The viewer on big and small runs: page sizes, build time, time to open a sample in headless
Chromium, and the trace viewer page's screenshot (docs/viewer_mplm_9x9.png).

    python benchmarks/viewer.py [--root DIR] [--shot docs/viewer_mplm_9x9.png]

Runs (scripted backend, seconds): `run -t sudoku -s fj -T size=25 -n 1` (~8k calls) and
`run -t sudoku -s mplm -T size=9 -n 3`, then `view` on each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mplm_bench.view import headless
from mplm_bench.view.build import build_file

RUNS = {"fj 25x25": ["-t", "sudoku", "-s", "fj", "-T", "size=25", "-n", "1"],
        "mplm 9x9": ["-t", "sudoku", "-s", "mplm", "-T", "size=9", "-n", "3"]}


def scripted(root: Path, args: list[str]) -> Path:
    before = set(root.glob("*/manifest.json"))
    subprocess.run([sys.executable, "-m", "mplm_bench.cli", "run", "-b", "scripted", "-q", "--out", str(root), *args],
                   check=True, capture_output=True)
    prefix = f"{args[1]}-{args[3]}-scripted"
    (run,) = [p.parent for p in set(root.glob("*/manifest.json")) | before if p.parent.name.startswith(prefix)]
    return run


def open_timed(drv, page: Path) -> dict[str, float]:
    """Load the page, open its first sample, scroll the timeline to the middle; seconds each."""
    from selenium.webdriver.support.ui import WebDriverWait

    t = time.perf_counter()
    drv.get(page.as_uri())
    WebDriverWait(drv, 60).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    drv.execute_script("openSample(0)")
    WebDriverWait(drv, 60).until(lambda d: d.execute_script("return STATE.p !== null"))
    opened = time.perf_counter() - t
    t = time.perf_counter()
    frames = drv.execute_script("""
        const sc = document.getElementById('scroller'); zoomBy(8); let n = 0;
        for (let k = 0; k < 20; k++) { sc.scrollTop = k * sc.scrollHeight / 20; sc.scrollLeft = k * sc.scrollWidth / 20; draw(); n++; }
        return n;""")
    scrolled = (time.perf_counter() - t) / frames
    return {"load_s": loaded, "open_s": opened, "frame_s": scrolled}


def screenshot(drv, page: Path, shot: Path) -> None:
    """The 9x9 MPLM sample's timeline with a step on its critical path opened (a real click)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None, help="results root (default: a temporary folder)")
    ap.add_argument("--shot", type=Path, default=Path("docs/viewer_mplm_9x9.png"))
    a = ap.parse_args()
    if headless.missing():
        sys.exit(f"viewer benchmark: {headless.missing()}")
    root = a.root or Path(tempfile.mkdtemp(prefix="mplm-view-"))
    pages = {}
    print(f"{'run':10} {'samples':>7} {'calls':>7} {'page MB':>8} {'build s':>8} {'load s':>7} {'open s':>7} {'frame ms':>9}")
    with headless.chromium(1500, 1150) as drv:
        for name, args in RUNS.items():
            run = scripted(root, args)
            t = time.perf_counter()
            built = build_file([run], run / "view.html")
            build_s = time.perf_counter() - t
            pages[name] = built.path
            m = open_timed(drv, built.path)
            print(f"{name:10} {built.n_samples:7d} {built.n_calls:7d} {built.size / 1e6:8.2f} {build_s:8.2f} "
                  f"{m['load_s']:7.2f} {m['open_s']:7.2f} {m['frame_s'] * 1000:9.1f}")
        screenshot(drv, pages["mplm 9x9"], a.shot)
    print(f"screenshot: {a.shot}")


if __name__ == "__main__":
    main()
