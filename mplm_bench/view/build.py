"""`mplm-bench view RUN_OR_ROOT --out FILE.html`: the page with the sample table and as many
samples' calls as `calls_mb` allows (docs/viewer.md, "At scale").

The table costs tens of bytes a sample; calls cost kilobytes (a 20k-sample run's were 62 MB), so
the file holds calls up to a budget and the page sends the user to `--serve` for the others. The
calls are read in file order, a batch at a time, and reading stops when the budget is spent: a
page of a 100k-sample run reads and writes about what a page of a 2k-sample one does.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mplm_bench.view.data import build_index, run_payloads, runs_at
from mplm_bench.view.page import blob_tag, render

CALLS_MB = 8.0  # default budget of calls in one file (MB): all of a ~2k-sample 4x4 sudoku run


@dataclass(frozen=True)
class Built:
    path: Path
    n_samples: int
    n_calls: int  # calls in the page when all fit, else of all samples (the table's n_calls)
    size: int  # bytes
    n_in_page: int = 0  # samples whose calls the page holds
    all_calls: bool = True  # False: the budget left some samples' calls out


def default_out(paths: list[Path]) -> Path:
    """Beside the data: RUN/view.html for one run folder or root (the store reads only its parts)."""
    return paths[0] / "view.html" if len(paths) == 1 else Path("view.html")


def base_of(paths: list[Path]) -> Path:
    """The folder run names are relative to: the root given, or a single run's parent."""
    first = paths[0].resolve()
    return first.parent if (first / "manifest.json").is_file() else first


def build_file(paths: list[Path], out: Path, calls_mb: float = CALLS_MB) -> Built:
    runs = runs_at(paths)
    index, frame = build_index(runs, base_of(paths))
    names = {str(r.dir): s for r, s in zip(runs, (r["dir"] for r in index["runs"]), strict=True)}
    position = {(names.get(d, d), str(i), int(r)): k for k, (d, i, r) in
                enumerate(zip(frame["run_dir"], frame["instance_id"], frame["repeat"], strict=True))}
    blobs, n_calls_in_page, all_calls = _calls(runs, names, position, calls_mb * 1e6)
    index["mode"] = "file"
    index["where"] = ", ".join(str(p) for p in paths)
    index["paths"] = [str(p.resolve()) for p in paths]  # for the page's `view PATHS --serve` hint
    index["in_page"] = len(blobs)
    index["all_calls"] = all_calls
    index["calls_mb"] = calls_mb if math.isfinite(calls_mb) else None
    html = render(index, blobs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("." + out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    # every call read when they all fit; else the table's count (those left out are not read)
    n_calls = n_calls_in_page if all_calls or "n_calls" not in frame.columns else int(frame["n_calls"].fillna(0).sum())
    return Built(out, len(frame), n_calls, out.stat().st_size, len(blobs), all_calls)


def _in_table(run: Any, name: str, position: dict[tuple[str, str, int], int]) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """A run's payloads in file order, as (table position, payload); calls of a sample the
    samples table does not hold are passed over."""
    for (instance, repeat), payload in run_payloads(run.dir):
        k = position.get((name, instance, repeat))
        if k is not None:
            yield k, payload


def _calls(runs: list[Any], names: dict[str, str], position: dict[tuple[str, str, int], int],
           budget: float) -> tuple[list[str], int, bool]:
    """The calls tags of the samples that fit in `budget` bytes: one sample of each run in turn
    (a root's runs share the budget), each run's in file order; the first that does not fit
    ends it. Returns (tags, their calls, whether every sample's calls fit)."""
    readers = [_in_table(r, names[str(r.dir)], position) for r in runs]
    tags: list[str] = []
    used = n_calls = 0
    try:
        while readers:
            for reader in list(readers):
                got = next(reader, None)
                if got is None:
                    readers.remove(reader)
                    continue
                tag = blob_tag(*got)
                if used + len(tag) > budget:
                    return tags, n_calls, False
                tags.append(tag)
                used += len(tag)
                n_calls += len(got[1]["calls"].get("call", []))
    finally:
        for reader in readers:
            reader.close()  # the Parquet files they hold open
    return tags, n_calls, True
