"""`mplm-bench view RUN_OR_ROOT --out FILE.html`: the page with every sample's calls inside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mplm_bench.view.data import build_index, calls_by_sample, runs_at, sample_payload
from mplm_bench.view.page import blob_tag, render


@dataclass(frozen=True)
class Built:
    path: Path
    n_samples: int
    n_calls: int
    size: int  # bytes


def default_out(paths: list[Path]) -> Path:
    """Beside the data: RUN/view.html for one run folder or root (the store reads only its parts)."""
    return paths[0] / "view.html" if len(paths) == 1 else Path("view.html")


def base_of(paths: list[Path]) -> Path:
    """The folder run names are relative to: the root given, or a single run's parent."""
    first = paths[0].resolve()
    return first.parent if (first / "manifest.json").is_file() else first


def build_file(paths: list[Path], out: Path) -> Built:
    runs = runs_at(paths)
    index, frame = build_index(runs, base_of(paths))
    index["mode"] = "file"
    index["where"] = ", ".join(str(p) for p in paths)
    position = {(s["run"], s["instance_id"], s["repeat"]): k for k, s in enumerate(index["samples"])}
    names = {str(r.dir): s for r, s in zip(runs, (r["dir"] for r in index["runs"]), strict=True)}
    blobs: list[str] = []
    n_calls = 0
    for run in runs:
        for (instance, repeat), calls in calls_by_sample(run.dir):
            k = position.get((names[str(run.dir)], instance, repeat))
            if k is None:
                continue  # calls of a sample the samples table does not hold
            index["samples"][k]["_blob"] = k
            blobs.append(blob_tag(k, sample_payload(calls)))
            n_calls += len(calls)
    html = render(index, blobs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("." + out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return Built(out, len(index["samples"]), n_calls, out.stat().st_size)
