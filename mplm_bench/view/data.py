"""What the viewer shows, as JSON-ready dicts: the index (runs' settings, one row per sample) and
one sample's calls (columnar, with its arrows and critical path), read from Parquet only.

Everything is read through analysis/load.py (`find_runs`, `load_samples`, `load_calls`), never by
globbing parts, so the viewer follows the results layout wherever it goes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from mplm_bench.analysis.load import Run, find_runs, load_calls, load_samples
from mplm_bench.config import ConfigError
from mplm_bench.runtime.protocol import thread_sort_key

# the manifest keys shown as a run's settings (the rest is bookkeeping: ids, instance lists)
MANIFEST_KEYS = ("run_id", "config_hash", "status", "started_at", "finished_at", "protocol", "scheduler",
                 "task_options", "strategy_options", "sampling", "caps", "latency_model", "backend",
                 "executor", "n_instances", "versions", "python", "git", "host", "n_samples_on_disk")
# the table's columns, in order, where present; every other numeric column can still be sorted on
TABLE_COLUMNS = ("run", "task", "strategy", "size", "instance_id", "repeat", "status", "correct",
                 "score", "gen_tokens", "critical_path_tokens", "peak_context_tokens", "n_threads",
                 "n_calls", "n_messages", "n_preempted", "n_protocol_errors", "rounds",
                 "virtual_time", "wall_s")
EPS = 1e-6


def _plain(value: Any) -> Any:
    """A JSON value for a cell: NaN/NA become null, numpy scalars Python ones."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def runs_at(paths: list[Path], allow_empty: bool = False) -> list[Run]:
    try:
        return find_runs(paths)
    except ConfigError:
        if allow_empty and all(Path(p).is_dir() for p in paths):
            return []  # a root that `run` has not written into yet (--serve)
        raise


def build_index(runs: list[Run], base: Path, allow_empty: bool = False) -> tuple[dict[str, Any], pd.DataFrame]:
    """The page's index and the samples frame it came from (one row per sample, same order).
    `base`: run folders are named relative to it (the server's key for a run)."""
    frame = pd.DataFrame()
    if runs:
        try:
            frame = load_samples(runs)
        except ConfigError:
            if not allow_empty:
                raise
    names = {str(r.dir): run_name(r.dir, base) for r in runs}
    run_list = [{"dir": names[str(r.dir)], **{k: r.manifest[k] for k in MANIFEST_KEYS if k in r.manifest}}
                for r in runs]
    rows: list[dict[str, Any]] = []
    if not frame.empty:
        frame = frame.sort_values(["run_dir", "instance_id", "repeat"],
                                  key=lambda s: s.map(_natural_key) if s.name == "instance_id" else s,
                                  ignore_index=True)
        settings = set(frame.attrs.get("settings", []))
        cols = [c for c in frame.columns if c not in settings and c not in ("run_dir", "extra_json")]
        for rec in frame[cols + ["run_dir"]].to_dict("records"):
            row = {k: _plain(v) for k, v in rec.items() if k != "run_dir"}
            row["run"] = names.get(rec["run_dir"], rec["run_dir"])
            rows.append(row)
    numeric = [c for c in (frame.columns if not frame.empty else []) if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    present = set(rows[0]) if rows else set()
    index = {
        "runs": run_list,
        "columns": [c for c in TABLE_COLUMNS if c in present or c == "run"],
        "metrics": [c for c in numeric if c not in settings_of_frame(frame)],
        "samples": rows,
    }
    return index, frame


def settings_of_frame(frame: pd.DataFrame) -> set[str]:
    return set(frame.attrs.get("settings", [])) if not frame.empty else set()


def _natural_key(s: Any) -> tuple:
    return thread_sort_key(str(s))


def run_name(path: Path, base: Path) -> str:
    """A run's name on the page: its folder relative to the root given (the server's key)."""
    try:
        rel = path.resolve().relative_to(base.resolve())
        return str(rel) if str(rel) != "." else path.resolve().name
    except ValueError:
        return str(path)


def calls_by_sample(run_dir: Path) -> Iterator[tuple[tuple[str, int], pd.DataFrame]]:
    """Every committed sample's calls of one run, read once (a static page holds them all)."""
    try:
        calls = load_calls(run_dir, columns=None)
    except ConfigError:
        return
    for (instance, repeat), group in calls.groupby(["instance_id", "repeat"], sort=False):
        yield (str(instance), int(repeat)), group


def sample_calls(run_dir: Path, instance_id: str, repeat: int) -> pd.DataFrame:
    try:
        return load_calls(run_dir, instance_id, repeat, columns=None)
    except ConfigError:
        return pd.DataFrame()


def sample_payload(calls: pd.DataFrame) -> dict[str, Any]:
    """One sample's calls for the page: columns as arrays in call order, threads in lane order
    (first start, then natural id), the spawn/message arrows and the critical path."""
    if calls.empty:
        return {"threads": [], "parents": {}, "calls": {}, "arrows": [], "critical": [], "prompts": False}
    c = calls.sort_values("call", ignore_index=True)
    tid = c["thread_id"].astype(str)
    first = c.groupby(tid)["start_v"].min()
    threads = sorted(first.index, key=lambda t: (first[t], thread_sort_key(t)))
    lane_of = {t: i for i, t in enumerate(threads)}
    parents = {str(t): (None if pd.isna(p) else str(p))
               for t, p in c.groupby(tid)["parent_id"].first().items()}
    t0 = float(c["start_wall"].min())

    def col(name: str, default: Any = None, digits: int | None = None) -> list[Any]:
        if name not in c.columns:
            return [default] * len(c)
        out = [_plain(v) for v in c[name].tolist()]
        if digits is not None:
            out = [round(v, digits) if isinstance(v, float) else v for v in out]
        return [default if v is None else v for v in out]

    prompts = col("prompt", "")
    payload = {
        "threads": threads,
        "parents": parents,
        "calls": {
            "call": col("call"), "lane": [lane_of[t] for t in tid], "step": col("step"),
            "round": col("round"), "status": col("status", ""), "finish": col("finish_reason", ""),
            "pt": col("prompt_tokens", 0), "cpt": col("cached_prompt_tokens", 0),
            "ct": col("completion_tokens", 0), "sv": col("start_v", 0.0, 3), "ev": col("end_v", 0.0, 3),
            "sw": [round(v - t0, 6) for v in col("start_wall", t0)],
            "ew": [round(v - t0, 6) for v in col("end_wall", t0)],
            "cs": col("cp_start", 0.0, 3), "ce": col("cp_end", 0.0, 3), "ttft": col("ttft_s", None, 6),
            "dir": col("directives", ""), "from": col("consumed_from", ""), "err": col("error", ""),
            "retries": col("retries", 0), "disc": col("discarded_tokens", 0),
            "response": col("response", ""), "prompt": prompts,
        },
        "prompts": any(prompts),
    }
    payload["arrows"] = arrows(c, tid)
    payload["critical"] = critical_path(c, tid)
    return payload


def _steps_by_thread(c: pd.DataFrame, tid: pd.Series) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, t in enumerate(tid):
        out.setdefault(t, []).append(i)  # call order is each thread's step order
    return out


def _sender_step(steps: list[int], ends: list[float], t: float) -> int | None:
    """The sender's last step that ended by `t` (what it sent was written then); a thread's
    steps run one after another, so their ends rise with the step."""
    lo, hi = 0, len(steps)
    while lo < hi:  # bisect over the steps' ends
        mid = (lo + hi) // 2
        if ends[steps[mid]] <= t + EPS:
            lo = mid + 1
        else:
            hi = mid
    return steps[lo - 1] if lo else None


def arrows(c: pd.DataFrame, tid: pd.Series) -> list[int]:
    """[from, to, kind] flattened, call positions; kind 0: spawn, 1: message. The sender's step
    is its last one that ended (in virtual time) before the consuming step started."""
    steps = _steps_by_thread(c, tid)
    ends, starts = c["end_v"].tolist(), c["start_v"].tolist()
    parent, step = c["parent_id"].tolist(), c["step"].tolist()
    out: list[int] = []
    for i, consumed in enumerate(c["consumed_from"].fillna("").astype(str).tolist()):
        for src in filter(None, consumed.split(",")):
            j = _sender_step(steps.get(src, []), ends, starts[i])
            if j is not None:
                out += [j, i, 0 if src == parent[i] and step[i] == 0 else 1]
    return out


def critical_path(c: pd.DataFrame, tid: pd.Series) -> list[int]:
    """The chain of steps behind the sample's critical-path time, last first: from the step that
    ends latest in critical-path time (the master's last when it has one), back through whichever
    predecessor — the thread's previous step or a step whose message or spawn it consumed —
    ended exactly when it could start (runtime/world.py: cp_start is the max of those)."""
    steps = _steps_by_thread(c, tid)
    cs, ce = c["cp_start"].tolist(), c["cp_end"].tolist()
    consumed = c["consumed_from"].fillna("").astype(str).tolist()
    own_prev = {}
    for idx in steps.values():
        for a, b in zip(idx, idx[1:], strict=False):
            own_prev[b] = a
    master = steps.get("0") or []
    i: int | None = max(master or range(len(c)), key=lambda k: ce[k])
    path: list[int] = []
    while i is not None and len(path) <= len(c):
        path.append(i)
        if cs[i] <= EPS:
            break
        nxt = None
        for src in filter(None, consumed[i].split(",")):
            j = _sender_step(steps.get(src, []), ce, cs[i])
            if j is not None and abs(ce[j] - cs[i]) <= EPS:
                nxt = j
                break
        if nxt is None and i in own_prev and abs(ce[own_prev[i]] - cs[i]) <= EPS:
            nxt = own_prev[i]
        i = nxt
    return path
