"""The statistics: power-law exponents, Wilson intervals, the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mplm_bench.analysis.stats import fit_power_law, paired_bootstrap, wilson


@given(exponent=st.floats(-2, 3), coef=st.floats(0.01, 1e4), n=st.integers(2, 8))
@settings(max_examples=60, deadline=None)
def test_exponent_of_an_exact_power_law(exponent, coef, n):
    x = np.array([4, 9, 16, 25, 36, 49, 64, 81][:n], dtype=float) ** 2
    fit = fit_power_law(x, coef * x**exponent)
    assert fit is not None
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.coef == pytest.approx(coef, rel=1e-6)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9) or exponent == pytest.approx(0, abs=1e-9)


def test_exponent_under_multiplicative_noise():
    rng = np.random.default_rng(1)
    x = np.geomspace(16, 625, 12)
    y = 3.0 * x**1.5 * np.exp(rng.normal(0, 0.05, len(x)))
    fit = fit_power_law(x, y)
    assert fit.exponent == pytest.approx(1.5, abs=0.05) and fit.r2 > 0.99
    assert fit(np.array([100.0]))[0] == pytest.approx(fit.coef * 100**fit.exponent)


def test_power_law_needs_two_sizes_and_ignores_non_positive_points():
    assert fit_power_law([9, 9], [1, 2]) is None
    assert fit_power_law([0, 4, 16], [5, 2, 8]).exponent == pytest.approx(1.0)


def test_wilson_interval():
    lo, hi = wilson(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)  # the textbook value at n = 20
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.4038, abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_paired_bootstrap_known_shift_and_determinism():
    rng = np.random.default_rng(0)
    a = rng.integers(100, 1000, 50).astype(float)
    d = paired_bootstrap(a, a + 25)
    assert d.diff == 25 and d.diff_lo == pytest.approx(25) and d.diff_hi == pytest.approx(25)
    b = a * rng.normal(1.2, 0.1, 50)
    d1, d2 = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert d1 == d2  # a fixed seed: the same table every time
    assert d1.diff_lo < d1.diff < d1.diff_hi and d1.rel_lo < 0.2 < d1.rel_hi
    assert d1.rel == pytest.approx(b.mean() / a.mean() - 1)
    with pytest.raises(ValueError):
        paired_bootstrap(a, b[:10])
