"""What the viewer shows, as JSON-ready dicts: the index (runs' settings) with the sample table
(columnar, one entry per sample), and one sample's calls (columnar, with its arrows and critical
path), read from Parquet only.

Runs and samples are read through analysis/load.py (`find_runs`, `load_samples`); calls through
results/read.py's committed readers (`read_committed` with a filter for one sample,
`iter_committed` in file order for a page's worth), never by globbing parts, so the viewer
follows the results layout wherever it goes. Nothing here reads every call of a run: its cost
grows with the samples table and the calls actually shown (docs/viewer.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mplm_bench.analysis.load import Run, find_runs, load_samples
from mplm_bench.config import ConfigError
from mplm_bench.results.read import iter_committed, read_committed
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
# the calls columns the page shows (run_id and stop_reason stay on disk)
CALL_COLUMNS = ["instance_id", "repeat", "call", "thread_id", "parent_id", "step", "round", "status",
                "finish_reason", "prompt_tokens", "cached_prompt_tokens", "completion_tokens", "start_v",
                "end_v", "start_wall", "end_wall", "cp_start", "cp_end", "ttft_s", "directives",
                "consumed_from", "error", "retries", "discarded_tokens", "response", "prompt"]
EPS = 1e-6
FLOAT_DIGITS = 6  # a table cell's float: the page shows 3 decimals; 6 keep sorting faithful
Key = tuple[str, int]  # (instance_id, repeat)


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
    `base`: run folders are named relative to it (the server's key for a run).

    The table is columnar: `table[col]` is a list of n cells, or for a column of few distinct
    values `{"d": [values], "i": [index into d, or null]}` (see `encode_column`)."""
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
    table: dict[str, Any] = {}
    if not frame.empty:
        frame = frame.sort_values(["run_dir", "instance_id", "repeat"],
                                  key=lambda s: s.map(_natural_key) if s.name == "instance_id" else s,
                                  ignore_index=True)
        settings = set(frame.attrs.get("settings", []))
        cols = [c for c in frame.columns if c not in settings and c not in ("run_dir", "extra_json")]
        for c in cols:
            table[c] = encode_column(frame[c])
        table["run"] = encode_column(frame["run_dir"].map(lambda d: names.get(d, d)))
    numeric = [c for c in (frame.columns if not frame.empty else []) if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    index = {
        "runs": run_list,
        "columns": [c for c in TABLE_COLUMNS if c in table or c == "run"],
        "metrics": [c for c in numeric if c not in settings_of_frame(frame)],
        "n": len(frame),
        "table": table,
    }
    return index, frame


def encode_column(s: pd.Series) -> list[Any] | dict[str, list[Any]]:
    """A table column for the page: a list of cells (floats rounded to FLOAT_DIGITS, NaN as
    null), or, when it holds few distinct values (task, strategy, status, run, ...), those values
    once and an index per row, which is what keeps a 100k-sample table a few MB."""
    if pd.api.types.is_float_dtype(s.dtype):
        values = s.round(FLOAT_DIGITS).astype(object).where(s.notna(), None).tolist()
        return [v if v is None or math.isfinite(v) else None for v in values]
    if pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
        return s.astype("int64").tolist()
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable cells: plain values
        return [_plain(v) for v in s.tolist()]
    if len(uniques) * 2 > len(s):
        return [_plain(v) for v in s.tolist()]
    return {"d": [_plain(v) for v in uniques.tolist()], "i": [None if c < 0 else c for c in codes.tolist()]}


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


def run_payloads(run_dir: Path) -> Iterator[tuple[Key, dict[str, Any]]]:
    """Each committed sample's payload in file order, read a batch at a time: a caller that
    stops early (the page's size budget) reads only what it used, however big the run. A
    sample's calls are contiguous in its part (commit.py writes a sample's calls together and
    compaction keeps the order); a key seen before is a copied part's and is skipped."""
    seen: set[Key] = set()
    for key, payload in payloads(iter_committed(run_dir, "calls", CALL_COLUMNS)):
        if key not in seen:
            seen.add(key)
            yield key, payload


def payloads(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[Key, dict[str, Any]]]:
    """Consecutive rows of one (instance_id, repeat) become one sample's payload."""
    cur_key: Key | None = None
    cur: dict[str, list[Any]] = {}
    for batch in batches:
        cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
        ids, reps, n = cols["instance_id"], cols["repeat"], batch.num_rows
        i = 0
        while i < n:
            j = i + 1
            while j < n and ids[j] == ids[i] and reps[j] == reps[i]:
                j += 1
            key = (str(ids[i]), int(reps[i]))
            if key != cur_key:
                if cur_key is not None:
                    yield cur_key, rows_payload(cur)
                cur_key, cur = key, {}
            for k, v in cols.items():
                cur.setdefault(k, []).extend(v[i:j])
            i = j
    if cur_key is not None:
        yield cur_key, rows_payload(cur)


def sample_calls(run_dir: Path, instance_id: str, repeat: int) -> pa.Table:
    """One sample's calls (a Parquet filter: row groups whose statistics rule it out stay unread)."""
    return read_committed(Path(run_dir), "calls", CALL_COLUMNS,
                          [("instance_id", "==", instance_id), ("repeat", "==", repeat)])


def sample_payload(calls: pd.DataFrame | pa.Table) -> dict[str, Any]:
    """One sample's calls for the page (see `rows_payload`)."""
    if isinstance(calls, pd.DataFrame):
        calls = pa.Table.from_pandas(calls, preserve_index=False)
    return rows_payload({name: calls.column(name).to_pylist() for name in calls.column_names})


def _clean(values: list[Any], default: Any = None, digits: int | None = None) -> list[Any]:
    """JSON-ready cells: null, NaN and infinities become `default`, floats rounded to `digits`."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append(default)
        elif digits is not None and isinstance(v, float):
            out.append(round(v, digits))
        else:
            out.append(v)
    return out


def rows_payload(cols: dict[str, list[Any]]) -> dict[str, Any]:
    """One sample's calls (columns as lists) for the page: columns as arrays in call order,
    threads in lane order (first start, then natural id), the spawn/message arrows and the
    critical path. Plain lists throughout: a page holds thousands of these."""
    n = len(cols.get("call") or [])
    if not n:
        return {"threads": [], "parents": {}, "calls": {}, "arrows": [], "critical": [], "prompts": False}
    order = sorted(range(n), key=lambda i: cols["call"][i])
    c = {name: [v[i] for i in order] for name, v in cols.items()}

    def col(name: str, default: Any = None, digits: int | None = None) -> list[Any]:
        return _clean(c[name], default, digits) if name in c else [default] * n

    tid = [str(t) for t in c["thread_id"]]
    parent = [None if p is None else str(p) for p in col("parent_id")]
    first: dict[str, float] = {}
    parents: dict[str, str | None] = {}
    for t, s, p in zip(tid, col("start_v", math.inf), parent, strict=True):
        first[t] = min(first.get(t, math.inf), s)
        if parents.get(t) is None:  # a thread's first parent on record
            parents[t] = p
    threads = sorted(first, key=lambda t: (first[t], thread_sort_key(t)))
    lane_of = {t: i for i, t in enumerate(threads)}
    walls = [v for v in col("start_wall") if v is not None]
    t0 = float(min(walls)) if walls else 0.0
    prompts = col("prompt", "")
    steps = col("step")
    consumed = [str(v) for v in col("consumed_from", "")]
    payload = {
        "threads": threads,
        "parents": parents,
        "calls": {
            "call": col("call"), "lane": [lane_of[t] for t in tid], "step": steps,
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
    by_thread = _steps_by_thread(tid)
    payload["arrows"] = arrows(by_thread, col("start_v", 0.0), col("end_v", 0.0), parent, steps, consumed)
    payload["critical"] = critical_path(by_thread, col("cp_start", 0.0), col("cp_end", 0.0), consumed)
    return payload


def _steps_by_thread(tid: list[str]) -> dict[str, list[int]]:
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


def arrows(steps: dict[str, list[int]], starts: list[float], ends: list[float], parent: list[str | None],
           step: list[Any], consumed: list[str]) -> list[int]:
    """[from, to, kind] flattened, call positions; kind 0: spawn, 1: message. The sender's step
    is its last one that ended (in virtual time) before the consuming step started."""
    out: list[int] = []
    for i, srcs in enumerate(consumed):
        for src in filter(None, srcs.split(",")):
            j = _sender_step(steps.get(src, []), ends, starts[i])
            if j is not None:
                out += [j, i, 0 if src == parent[i] and step[i] == 0 else 1]
    return out


def critical_path(steps: dict[str, list[int]], cs: list[float], ce: list[float], consumed: list[str]) -> list[int]:
    """The chain of steps behind the sample's critical-path time, last first: from the step that
    ends latest in critical-path time (the master's last when it has one), back through whichever
    predecessor — the thread's previous step or a step whose message or spawn it consumed —
    ended exactly when it could start (runtime/world.py: cp_start is the max of those)."""
    own_prev = {}
    for idx in steps.values():
        for a, b in zip(idx, idx[1:], strict=False):
            own_prev[b] = a
    master = steps.get("0") or []
    i: int | None = max(master or range(len(cs)), key=lambda k: ce[k])
    path: list[int] = []
    while i is not None and len(path) <= len(cs):
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
