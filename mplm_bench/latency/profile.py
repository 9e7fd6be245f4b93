"""A latency profile: an engine's measured costs as YAML, with what they were measured on.

`mplm-bench calibrate` writes one (`mplm_bench/latency/calibrate.py`); `-M latency_profile=FILE`
on the scripted backend reads one and turns it into the batch clock's `EngineCosts`. The file
keeps every measurement next to the fitted parameters, so a fit can be checked or redone:

    format: mplm-bench/latency-profile@1
    measured_on: {backend, device, device_name, model, dtype, block_size, max_num_seqs, vllm, ...}
    fit: {per_request_s, prefill_s_per_token, decode_base_s, decode_per_seq_s}
    measurements:
      prefill: [{prompt_tokens, uncached_tokens, latency_s}, ...]   # 1 output token, alone
      decode: [{batch, tokens, iteration_s}, ...]                    # batch sequences together

The model (runtime/latency.py): a request alone takes per_request + uncached x prefill (its first
token) + (tokens - 1) x iteration(1). Both `fit` lines are least-squares fits of the
measurements (prefill latency against uncached tokens; iteration time against batch size). A
decode iteration's time is read off the measured points, linearly between them, and past the
largest measured batch grows by decode_per_seq per sequence (decode_base + b x decode_per_seq
summarises the curve; small batches are rarely on that line).
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mplm_bench.config import ConfigError
from mplm_bench.runtime.latency import EngineCosts, LatencyModel

FORMAT: Final = "mplm-bench/latency-profile@1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrefillPoint(_Strict):
    prompt_tokens: int = Field(ge=1)
    uncached_tokens: int = Field(ge=0)
    latency_s: float = Field(gt=0)  # one request alone, one output token, the harness's clock


class DecodePoint(_Strict):
    batch: int = Field(ge=1)
    tokens: int = Field(ge=2)  # generated per sequence
    iteration_s: float = Field(gt=0)  # median over the batch of (latency - ttft) / (tokens - 1)


class Measurements(_Strict):
    prefill: list[PrefillPoint] = Field(min_length=2)
    decode: list[DecodePoint] = Field(min_length=1)


class Fit(_Strict):
    per_request_s: float = Field(ge=0)
    prefill_s_per_token: float = Field(ge=0)
    decode_base_s: float = Field(ge=0)
    decode_per_seq_s: float = Field(ge=0)


class MeasuredOn(BaseModel):
    """Hardware and versions. Known keys are typed; anything else a backend reports is kept."""

    model_config = ConfigDict(extra="allow")

    backend: str
    model: str | None = None
    device: str | None = None
    device_name: str | None = None
    dtype: str | None = None
    block_size: int | None = Field(default=None, ge=1)
    max_num_seqs: int | None = Field(default=None, ge=1)
    vllm: str | None = None
    torch: str | None = None
    measured_at: str | None = None


class LatencyProfile(_Strict):
    format: Literal["mplm-bench/latency-profile@1"] = FORMAT
    measured_on: MeasuredOn
    fit: Fit
    measurements: Measurements

    def costs(self) -> EngineCosts:
        f, on = self.fit, self.measured_on
        return EngineCosts(f.per_request_s, f.prefill_s_per_token, f.decode_base_s, f.decode_per_seq_s,
                           max_batch=on.max_num_seqs, block_size=on.block_size,
                           decode_points=decode_points(self.measurements.decode))


def decode_points(points: Sequence[DecodePoint]) -> tuple[tuple[int, float], ...]:
    """(batch, seconds per iteration) by batch; the median where a batch was measured more than once."""
    bs, its = medians([(d.batch, d.iteration_s) for d in points])
    return tuple((int(b), s) for b, s in zip(bs, its, strict=True))


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line; a flat line through the mean when every x
    is the same."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def medians(pairs: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The median y at each x: one busy moment on a shared machine moves one point, not the fit."""
    by: dict[float, list[float]] = {}
    for x, y in pairs:
        by.setdefault(x, []).append(y)
    xs = sorted(by)
    return xs, [statistics.median(by[x]) for x in xs]


def fit(m: Measurements) -> Fit:
    """Both lines through the medians, clamped at zero: a slightly negative intercept is noise."""
    per_request, prefill = least_squares(*medians([(p.uncached_tokens, p.latency_s) for p in m.prefill]))
    bs, its = medians([(d.batch, d.iteration_s) for d in m.decode])
    base, per_seq = least_squares(bs, its)
    if per_seq < 0:  # decoding more sequences is never faster: fit a flat line instead
        base, per_seq = sum(its) / len(its), 0.0
    return Fit(per_request_s=max(0.0, per_request), prefill_s_per_token=max(0.0, prefill),
               decode_base_s=max(0.0, base), decode_per_seq_s=per_seq)


def dump(profile: LatencyProfile) -> str:
    return yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False, width=100)


def save(profile: LatencyProfile, path: Path) -> None:
    """Written to a temporary name and renamed: never a half-written profile."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump(profile))
    tmp.replace(path)


def load(path: str | Path) -> LatencyProfile:
    """Read and validate a profile; anything wrong is one ConfigError line."""
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"latency profile {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"latency profile {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"latency profile {path}: expected a mapping (made by `mplm-bench calibrate`)")
    try:
        return LatencyProfile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "profile"
        raise ConfigError(f"latency profile {path}: {where}: {err['msg']}") from None


def describe(path: str | Path, profile: LatencyProfile) -> dict[str, Any]:
    """What a run's manifest records about the profile it simulated with."""
    digest = hashlib.sha256(dump(profile).encode()).hexdigest()[:12]
    return {"path": str(path), "sha256_12": digest, "measured_on": profile.measured_on.model_dump(mode="json"),
            "fit": profile.fit.model_dump()}


def profiled_latency(path: str, backend: str, given: LatencyModel) -> tuple[LatencyModel, dict[str, Any]]:
    """`-M latency_profile=FILE`: the batch-clock latency model and the manifest's record of it."""
    if backend != "scripted":
        raise ConfigError(f"-M latency_profile simulates an engine on the scripted backend; -b {backend} "
                          "measures its own time (replay it there with -M replay=scripted)")
    if given != LatencyModel():
        raise ConfigError("-M latency_profile replaces -M decode_per_token / prefill_per_token / "
                          "per_request: give one or the other")
    profile = load(path)
    return LatencyModel(batch=profile.costs()), describe(path, profile)
