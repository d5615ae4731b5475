"""Paired statistics for the eval gate: candidate and champion scored on the same examples.

Everything works on per-example values (repeats averaged first), paired by example id.
Standard errors are clustered by ``cluster_id`` when examples share a passage or a
conversation; proportions get Wilson intervals; ratios of percentiles and of means get a
seeded paired bootstrap. scipy is imported narrowly (scipy.special) for t and normal
quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri, stdtr, stdtrit

Arr = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    se: float | None = None
    df: float | None = None
    p_above: float | None = None  # bootstrap: share of resamples above the bound


def z(p: float) -> float:
    return float(ndtri(p))


def paired_mean_diff(diff: Arr, clusters: NDArray[np.int64] | None, confidence: float) -> Interval:
    """Mean of candidate - champion with a two-sided interval at ``confidence``
    (use 1 - 2 alpha for a one-sided alpha bound on either side). Cluster-robust
    (CR1) when clusters are given: examples of one cluster are not independent."""
    n = diff.size
    mean = float(diff.mean())
    if n < 2:
        return Interval(mean, -math.inf, math.inf, None, None)
    if clusters is None:
        se = float(diff.std(ddof=1) / math.sqrt(n))
        df = float(n - 1)
    else:
        _, inverse = np.unique(clusters, return_inverse=True)
        g = int(inverse.max()) + 1
        if g < 2:
            return Interval(mean, -math.inf, math.inf, None, None)
        resid = np.bincount(inverse, weights=diff - mean, minlength=g)
        se = float(math.sqrt(g / (g - 1) * float(np.sum(resid**2))) / n)
        df = float(g - 1)
    if se == 0:
        return Interval(mean, mean, mean, 0.0, df)
    q = float(stdtrit(df, 0.5 + confidence / 2))
    return Interval(mean, mean - q * se, mean + q * se, se, df)


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t."""
    return float(1.0 - stdtr(df, t))


def wilson(successes: float, n: int, confidence: float) -> Interval:
    """Wilson score interval for a proportion: sound at small n and near 0 or 1."""
    if n == 0:
        return Interval(math.nan, 0.0, 1.0)
    p = successes / n
    q = z(0.5 + confidence / 2)
    denom = 1 + q * q / n
    centre = (p + q * q / (2 * n)) / denom
    half = q * math.sqrt(p * (1 - p) / n + q * q / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def rule_of_three(n: int) -> float:
    """95 % upper bound on a failure rate when none of n trials failed."""
    return 3.0 / n if n else 1.0


def bootstrap_ratio(
    cand: Arr,
    champ: Arr,
    statistic: str,
    resamples: int,
    seed: int,
    confidence: float,
    chunk: int = 64,
    bound: float | None = None,
) -> Interval:
    """Paired bootstrap of statistic(candidate) / statistic(champion), resampling
    examples (pairs) together. ``statistic`` is "mean" or "p<NN>" (e.g. "p95").
    Returns the percentile interval and, with ``bound``, the share of resamples above
    it in ``p_above`` (the one-sided bootstrap p-value of "ratio <= bound").
    Resamples are drawn in chunks (int32 indices) to bound memory at 100k examples."""
    n = cand.size
    rng = np.random.default_rng(seed)

    def stat(values: Arr) -> Arr:
        if statistic == "mean":
            return values.mean(axis=-1)
        q = float(statistic[1:]) / 100.0
        k = min(values.shape[-1] - 1, max(0, math.ceil(q * values.shape[-1]) - 1))
        values.partition(k, axis=-1)  # in place: the gathered copy is ours to reorder
        return values[..., k]

    def ratio(c: Arr, h: Arr) -> Arr:
        # A free champion: any cost is an infinite ratio, no cost at all is parity.
        safe = np.where(h > 0, h, 1.0)
        return np.where(h > 0, c / safe, np.where(c > 0, np.inf, 1.0))

    estimate = float(ratio(stat(cand[None, :].copy()), stat(champ[None, :].copy()))[0])
    ratios = []
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int32)
        ratios.append(ratio(stat(cand[idx]), stat(champ[idx])))
        done += b
    all_r = np.concatenate(ratios)
    tail = (1 - confidence) / 2 * 100
    # inverted_cdf never interpolates, so infinite ratios stay infinite (not NaN).
    low, high = np.percentile(all_r, [tail, 100 - tail], method="inverted_cdf")
    p = None
    if bound is not None:
        p = float((np.sum(all_r > bound) + 1) / (all_r.size + 1))
    return Interval(estimate, float(low), float(high), p_above=p)


def ratio_of_means(cand: Arr, champ: Arr, confidence: float, bound: float) -> Interval:
    """mean(candidate) / mean(champion) on paired examples with a delta-method
    interval (the CLT holds for means; percentiles need the bootstrap instead), and
    the one-sided p-value of "ratio <= bound" in ``p_above``."""
    n = cand.size
    mc, mh = float(cand.mean()), float(champ.mean())
    if mh <= 0:
        est = math.inf if mc > 0 else 1.0
        return Interval(est, est, est, p_above=0.0 if est <= bound else 1.0)
    r = mc / mh
    if n < 2:
        return Interval(r, -math.inf, math.inf, p_above=1.0)
    resid = cand - r * champ  # linearisation of the ratio around its estimate
    se = float(resid.std(ddof=1) / math.sqrt(n) / mh)
    q = z(0.5 + confidence / 2)
    if se == 0:
        return Interval(r, r, r, se=0.0, p_above=0.0 if r <= bound else 1.0)
    p = float(1 - 0.5 * (1 + math.erf((bound - r) / se / math.sqrt(2))))
    return Interval(r, r - q * se, r + q * se, se=se, p_above=p)


def score_test_p(successes: float, n: int, p0: float, sign: float) -> float:
    """One-sided score-test p-value of H0 "proportion on the wrong side of p0": the
    test whose inversion is the Wilson interval, so the two always agree."""
    if n == 0 or p0 <= 0 or p0 >= 1:
        return 1.0
    stat = (successes / n - p0) * sign / math.sqrt(p0 * (1 - p0) / n)
    return float(1 - 0.5 * (1 + math.erf(stat / math.sqrt(2))))


def holm(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected, family-wise error <= alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] <= alpha / (m - rank):
            rejected[i] = True
        else:
            break
    return rejected


def needed_n(n: int, se: float, margin: float, alpha: float, power: float) -> int:
    """Examples for the non-inferiority bound to clear a margin-sized gap with the
    given power, from the standard error observed at n (SE scales as 1/sqrt(n))."""
    if margin <= 0 or se <= 0:
        return n
    k = (z(1 - alpha) + z(power)) * se * math.sqrt(n) / margin
    return math.ceil(k * k)
