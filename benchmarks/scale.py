"""Scale: wall, time per sample and peak memory of one run as n grows, and what it leaves on disk.

Each n runs `mplm-bench run -t sudoku -s mplm -b scripted -T size=4 -n N -q` in a fresh child
process (peak RSS from the kernel's accounting of that child, like /usr/bin/time), then counts
the run folder's files and bytes, then times `mplm-bench report RUN` (also a child) on it, and a
"nothing to do" rerun. Targets (issue 21): peak RSS at 100k within 1.2x of 1k, time per sample
flat, under 2 KB on disk per sample, `report` on 100k under 5 s.

    python benchmarks/scale.py [--sizes 1000,10000,100000] [--out /tmp/mplm-scale]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "mplm_bench.cli"]


def timed(args: list[str]) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux: KiB


def on_disk(run_dir: Path) -> tuple[int, int]:
    files = [p for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--out", default="/tmp/mplm-scale")
    ap.add_argument("--keep", action="store_true", help="leave the run folders")
    args = ap.parse_args()
    print(f"{'n':>8} {'wall s':>8} {'ms/sample':>9} {'peak RSS MiB':>12} {'files':>6} "
          f"{'B/sample':>9} {'report s':>8} {'report MiB':>10} {'rerun s':>7} {'rerun MiB':>9}", flush=True)
    for n in (int(x) for x in args.sizes.split(",")):
        out = Path(args.out) / str(n)
        shutil.rmtree(out, ignore_errors=True)
        wall, rss = timed([*CLI, "run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4",
                           "-n", str(n), "-q", "--out", str(out)])
        (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
        files, size = on_disk(run_dir)
        rep_wall, rep_rss = timed([*CLI, "report", str(run_dir), "--format", "csv"])
        again_wall, again_rss = timed([*CLI, "run", "-t", "sudoku", "-s", "mplm", "-b", "scripted",
                                       "-T", "size=4", "-n", str(n), "-q", "--out", str(out)])
        print(f"{n:>8,} {wall:>8.1f} {1000 * wall / n:>9.2f} {rss:>12.0f} {files:>6} {size / n:>9.0f} "
              f"{rep_wall:>8.2f} {rep_rss:>10.0f} {again_wall:>7.2f} {again_rss:>9.0f}", flush=True)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
