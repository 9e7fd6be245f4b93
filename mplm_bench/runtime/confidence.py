"""DeepConf's confidence arithmetic (Fu et al., "Deep Think with Confidence", arXiv 2508.15260),
pure and engine-free: engines turn their top-k log-probabilities into token confidences here, the
`deepconf` strategy turns token confidences into trace confidences, thresholds and votes.

Definitions follow the upstream code (facebookresearch/deepconf @506aac2):

- token confidence C_i = -(1/k) Σ_j log P_i(j) over the k log-probabilities the engine returned
  for token i (`helper.py` `compute_confidence`: the mean over every entry of vLLM's logprobs
  dict, rounded to 3 decimals). High when the distribution is peaked: the top-k alternatives of a
  confident step are very unlikely, so their log-probabilities are very negative;
- group confidence: the mean of C over a sliding window of `window_size` tokens (paper eq. 4;
  `helper.py` `compute_least_grouped`, which gives the mean of all tokens for a trace shorter
  than one window, and rounds each window's mean to 3 decimals);
- lowest group confidence: the minimum group confidence of a trace (`process_output`'s
  `min_conf`; `analysis_offline.py` `calculate_bottom_window_confidence(bottom_percent=-1)`);
- bottom-10% group confidence: the mean of the lowest 10% of the group confidences
  (`calculate_bottom_window_confidence`, `bottom_percent=0.1`; at least one window);
- tail confidence: the mean C of the last `tail_tokens` tokens (`calculate_tail_confidence`);
- mean confidence: the mean C of the whole trace (`calculate_mean_confidence`);
- a threshold at percentile p of a set of values is numpy's default (linear) percentile
  (`deepconf-online.py`: `np.percentile(min_confs, CONFIDENCE_PERCENTILE)`;
  `analysis_offline.py` `filter_top_confidence`: `np.percentile(confs, (1 - top_percent) * 100)`);
- the weighted majority vote sums each answer's trace confidences (`helper.py`
  `weighted_majority_vote`); ties go here to the smallest answer string, as `sc` breaks them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

ConfidenceType = Literal["min_window", "bottom_window", "tail", "mean"]


def token_confidence(logprobs: Iterable[float]) -> float:
    """C = -mean(log-probabilities of the top-k tokens), rounded to 3 decimals as upstream does.
    An entry of -inf (a token the sampler ruled out) counts as the lowest finite float would:
    it is skipped, so one impossible token does not make a step infinitely confident."""
    finite = [lp for lp in logprobs if math.isfinite(lp)]
    if not finite:
        return 0.0
    return round(-sum(finite) / len(finite), 3)


def group_confidences(confs: Sequence[float], window_size: int) -> list[float]:
    """Sliding-window means of the token confidences (`compute_least_grouped`): one per window
    position; the mean of all of them when the trace is shorter than a window; [0.0] when empty."""
    n = len(confs)
    if n == 0:
        return [0.0]
    if n < window_size:
        return [sum(confs) / n]
    out = []
    s = sum(confs[:window_size])
    out.append(round(s / window_size, 3))
    for i in range(window_size, n):
        s += confs[i] - confs[i - window_size]
        out.append(round(s / window_size, 3))
    return out


def lowest_group_confidence(confs: Sequence[float], window_size: int) -> float:
    return min(group_confidences(confs, window_size))


def bottom_group_confidence(confs: Sequence[float], window_size: int, bottom_percent: float = 0.1) -> float:
    """The mean of the lowest `bottom_percent` of the group confidences (at least one)."""
    groups = sorted(group_confidences(confs, window_size))
    k = max(1, int(len(groups) * bottom_percent))
    return sum(groups[:k]) / k


def tail_confidence(confs: Sequence[float], tail_tokens: int) -> float:
    tail = confs[-tail_tokens:] if tail_tokens > 0 else confs
    return sum(tail) / len(tail) if tail else 0.0


def mean_confidence(confs: Sequence[float]) -> float:
    return sum(confs) / len(confs) if confs else 0.0


def trace_confidence(confs: Sequence[float], kind: ConfidenceType, window_size: int,
                     tail_tokens: int | None = None, bottom_percent: float = 0.1) -> float:
    if kind == "min_window":
        return lowest_group_confidence(confs, window_size)
    if kind == "bottom_window":
        return bottom_group_confidence(confs, window_size, bottom_percent)
    if kind == "tail":
        return tail_confidence(confs, tail_tokens if tail_tokens is not None else window_size)
    return mean_confidence(confs)


def percentile(values: Sequence[float], p: float) -> float:
    """numpy.percentile(values, p) with its default linear interpolation."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    rank = (len(xs) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def weighted_vote(answers: Sequence[str | None], weights: Sequence[float]) -> tuple[str | None, dict[str, float]]:
    """(winner, weight per answer): None answers do not vote; ties go to the smallest string."""
    totals: dict[str, float] = {}
    for a, w in zip(answers, weights, strict=True):
        if a is not None:
            totals[a] = totals.get(a, 0.0) + float(w)
    if not totals:
        return None, totals
    best = max(totals.values())
    return min(a for a, w in totals.items() if w == best), totals


def consensus(totals: dict[str, float]) -> float:
    """β = V(winner) / Σ V (paper Algorithm 2, adaptive sampling); 0 when nobody voted."""
    total = sum(totals.values())
    return max(totals.values()) / total if total > 0 else 0.0


class WindowMonitor:
    """The online stop rule, token by token: with at least `window_size` tokens, stop as soon as
    the mean confidence of the last `window_size` tokens is below `threshold`.

    As the DeepConf vLLM logits processor does (it forces EOS once `len(conf_group_list) >=
    conf_group_size` and the window's mean is below `conf_threshold`): no decision before a whole
    window has been generated. `stopped_at`: how many tokens had been generated when it fired."""

    __slots__ = ("window_size", "threshold", "_confs", "_sum", "stopped_at", "window_conf")

    def __init__(self, window_size: int, threshold: float) -> None:
        self.window_size = window_size
        self.threshold = threshold
        self._confs: list[float] = []
        self._sum = 0.0
        self.stopped_at: int | None = None
        self.window_conf: float | None = None  # the window's mean when it fired

    @property
    def confidences(self) -> list[float]:
        return self._confs

    def feed(self, confs: Iterable[float]) -> bool:
        """Add token confidences; True (once, and from then on) when the rule has fired."""
        if self.stopped_at is not None:
            self._confs.extend(confs)
            return True
        w = self.window_size
        new = list(confs)
        for i, c in enumerate(new):
            self._confs.append(c)
            self._sum += c
            n = len(self._confs)
            if n > w:
                self._sum -= self._confs[n - 1 - w]
            if n >= w and self._sum / w < self.threshold:
                self.stopped_at, self.window_conf = n, self._sum / w
                self._confs.extend(new[i + 1:])
                return True
        return False
