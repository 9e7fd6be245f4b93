"""The statistics behind the tables and figures: Wilson intervals, paired bootstrap, power laws."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion; sensible at 0% and 100% with small n."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0% and 100% one bound equals the estimate exactly; in floats it can land a hair on the
    # wrong side of it (1 − 1e-16 at 10/10), and a plot's error bar then has a negative length
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


@dataclass(frozen=True)
class PairedDiff:
    """B − A over paired observations, with percentile bootstrap 95% intervals."""

    n: int
    mean_a: float
    mean_b: float
    diff: float  # mean(B) − mean(A)
    diff_lo: float
    diff_hi: float
    rel: float  # mean(B) / mean(A) − 1 (nan when mean(A) is 0)
    rel_lo: float
    rel_hi: float


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> PairedDiff:
    """Resample the pairs (instances) with replacement; fixed seed, so tables repeat exactly."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired_bootstrap needs two equal-length, non-empty 1-d arrays")
    n = len(a)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    d_lo, d_hi = np.percentile(mb - ma, [lo_q, hi_q])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_s = mb / ma - 1
    mean_a, mean_b = float(a.mean()), float(b.mean())
    rel = mean_b / mean_a - 1 if mean_a != 0 else math.nan
    if np.isfinite(rel_s).all():
        r_lo, r_hi = np.percentile(rel_s, [lo_q, hi_q])
    else:
        r_lo = r_hi = math.nan
    return PairedDiff(n, mean_a, mean_b, mean_b - mean_a, float(d_lo), float(d_hi),
                      rel, float(r_lo), float(r_hi))


@dataclass(frozen=True)
class PowerFit:
    """y ≈ coef · x^exponent, fitted by least squares on (log x, log y)."""

    exponent: float
    coef: float
    r2: float
    n_points: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.coef * np.asarray(x, dtype=float) ** self.exponent


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerFit | None:
    """None with fewer than two distinct positive x (no slope to fit)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2:
        return None
    lx, ly = np.log(x), np.log(y)
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + intercept)
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return PowerFit(float(slope), float(math.exp(intercept)), r2, len(x))


def bootstrap_mean(values: np.ndarray, resamples: int = 2_000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean (units resampled with replacement; fixed seed)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        return (math.nan, math.nan)
    if np.all(v == v[0]):
        return (float(v[0]), float(v[0]))  # every resample is the same
    idx = np.random.default_rng(seed).integers(0, len(v), size=(resamples, len(v)))
    lo, hi = np.percentile(v[idx].mean(axis=1), [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return (float(lo), float(hi))
