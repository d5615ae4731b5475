"""Anytime-valid sequential tests: evidence that stays valid however often one looks.

Every test here is a likelihood ratio of binomial observations, mixed over a grid of
alternatives with fixed prior weights. Under the null such a mixture is a nonnegative
supermartingale with expectation at most 1, so by Ville's inequality the chance that it
*ever* reaches 1/alpha (at any look, in any step) is at most alpha. Observations come
in batches (one CloudWatch period each); a batch may have its own null probability,
which is how a changing traffic split between candidate and champion is handled.

Three uses, all reduced to "successes x out of trials X with null probability theta0":

* candidate's share of errors, given the errors of both variants in a period
  (rate ratio candidate/champion, conditioning on the total: exact for Poisson
  counts, accurate for rare events);
* candidate's errors out of its invocations (an absolute error-rate ceiling);
* periods in which the candidate's statistic exceeds the allowed multiple of the
  champion's (a sign test: under the null this happens at most half the time).

Pure numpy; no scipy import on this path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def _log_lr(x: FloatArray, trials: FloatArray, th0: FloatArray, th1: FloatArray) -> FloatArray:
    """log LR of binomial batches, alternatives in rows: shape (grid, batches)."""
    th0 = np.clip(th0, 1e-12, 1 - 1e-12)
    th1 = np.clip(th1, 1e-12, 1 - 1e-12)
    fails = trials - x
    return x * (np.log(th1) - np.log(th0)) + fails * (np.log1p(-th1) - np.log1p(-th0))


def _log_mix(log_lr_total: FloatArray, log_w: FloatArray) -> float:
    a = log_lr_total + log_w
    m = float(np.max(a))
    return m + float(np.log(np.sum(np.exp(a - m))))


@dataclass(frozen=True)
class Evidence:
    """The running evidence of one test."""

    log_e: float  # log of the mixture martingale; >= log(1/alpha) rejects the null
    threshold: float  # log(1/alpha)

    @property
    def rejected(self) -> bool:
        return self.log_e >= self.threshold

    @property
    def e_value(self) -> float:
        return float(np.exp(min(self.log_e, 700.0)))


Side = str  # "above": H0 is "at most the threshold"; "below": H0 is "at least it"


@lru_cache(maxsize=256)
def ratio_grid(r0: float, side: Side = "above", span: float = 50.0, points: int = 48) -> FloatArray:
    """Alternatives beyond r0, log-spaced: above it (regressions, up to span x r0)
    or below it (evidence of staying under the allowance, down to r0 / span)."""
    if side == "above":
        return np.exp(np.linspace(np.log(r0 * 1.02), np.log(r0 * span), points))
    return np.exp(np.linspace(np.log(r0 / span), np.log(r0 / 1.02), points))


def share(ratio: ArrayLike, n_cand: ArrayLike, n_champ: ArrayLike) -> FloatArray:
    """Probability that an error comes from the candidate when its rate is ``ratio``
    times the champion's and the variants served n_cand and n_champ requests."""
    r = np.asarray(ratio, dtype=float)
    nc = np.asarray(n_cand, dtype=float)
    nh = np.asarray(n_champ, dtype=float)
    return r * nc / (r * nc + nh)


def rate_ratio_test(
    x_cand: ArrayLike,
    n_cand: ArrayLike,
    x_champ: ArrayLike,
    n_champ: ArrayLike,
    r0: float,
    alpha: float,
    side: Side = "above",
) -> Evidence:
    """side "above": H0 candidate rate <= r0 x champion rate, against larger ratios
    (rejecting it is a conclusive regression); side "below": H0 ratio >= r0 against
    smaller ones (rejecting it is evidence the candidate stays within r0).

    Batches with no errors or no traffic on either side carry no information about
    the ratio and contribute a factor of 1."""
    xc = np.asarray(x_cand, dtype=float)
    nc = np.asarray(n_cand, dtype=float)
    xh = np.asarray(x_champ, dtype=float)
    nh = np.asarray(n_champ, dtype=float)
    keep = (nc > 0) & (nh > 0) & (xc + xh > 0)
    threshold = float(np.log(1.0 / alpha))
    if not np.any(keep):
        return Evidence(0.0, threshold)
    xc, nc, xh, nh = xc[keep], nc[keep], xh[keep], nh[keep]
    grid = ratio_grid(r0, side)
    th0 = share(r0, nc, nh)[None, :]
    th1 = share(grid[:, None], nc[None, :], nh[None, :])
    total = _log_lr(xc[None, :], (xc + xh)[None, :], th0, th1).sum(axis=1)
    log_w = np.full(grid.size, -np.log(grid.size))
    return Evidence(_log_mix(total, log_w), threshold)


@lru_cache(maxsize=256)
def _p_grid(p0: float, side: Side) -> tuple[FloatArray, FloatArray]:
    if side == "above":
        grid = np.linspace(p0 + (1 - p0) / 64, 1 - (1 - p0) / 64, 48, dtype=np.float64)
    else:
        grid = np.exp(np.linspace(np.log(p0 / 1000), np.log(p0 * 63 / 64), 48), dtype=np.float64)
    return grid, np.full(grid.size, -np.log(grid.size), dtype=np.float64)


def proportion_test(
    x: ArrayLike, trials: ArrayLike, p0: float, alpha: float, side: Side = "above"
) -> Evidence:
    """side "above": H0 success probability <= p0, against a mixture of larger ones;
    side "below": H0 >= p0 against smaller ones. The null is the same for every
    batch, so the totals are sufficient: the product over batches is one term."""
    total_x = float(np.sum(x))
    total_n = float(np.sum(trials))
    threshold = float(np.log(1.0 / alpha))
    if total_n <= 0:
        return Evidence(0.0, threshold)
    grid, log_w = _p_grid(p0, side)
    th0 = np.array([p0])
    lr = _log_lr(np.array([total_x]), np.array([total_n]), th0, grid)
    return Evidence(_log_mix(lr, log_w), threshold)


_RATIO_CANDIDATES = np.exp(np.linspace(np.log(1 / 64), np.log(64), 193))
_RATIO_ALTS = np.exp(np.linspace(np.log(1 / 100), np.log(100), 81))
_RATIO_LOG_W = np.full(_RATIO_ALTS.size, -np.log(_RATIO_ALTS.size))
# Candidates whose separable evidence lies this close to the threshold (relative to the
# size of the terms summed) are recomputed term by term, as the test itself computes
# them. Both ways round to ~1e-15 of that size, so the margin is a millionfold.
_RECHECK = 1e-9


def _clipped_logs(th: FloatArray) -> tuple[FloatArray, FloatArray]:
    th = np.clip(th, 1e-12, 1 - 1e-12)
    return np.log(th), np.log1p(-th)


def ratio_interval(
    x_cand: ArrayLike,
    n_cand: ArrayLike,
    x_champ: ArrayLike,
    n_champ: ArrayLike,
    alpha: float,
) -> tuple[float, float]:
    """A confidence sequence for the rate ratio: every ratio r that a two-sided
    mixture test of H0: ratio = r does not reject at alpha. Valid at every look.
    Returns (lower, upper); (0, inf) when there is no information yet.

    The log-LR of r against an alternative a sums x*(log th1 - log th0) + fails*(...)
    over periods, which separates into a term of a and a term of r: two small sums
    (193 + 81 rows) instead of 193 x 81 x periods logarithms. A candidate whose mixture
    lands within rounding of the threshold is recomputed term by term (as
    ``rate_ratio_test`` computes it), so the accepted set is the same either way."""
    xc = np.asarray(x_cand, dtype=float)
    nc = np.asarray(n_cand, dtype=float)
    xh = np.asarray(x_champ, dtype=float)
    nh = np.asarray(n_champ, dtype=float)
    keep = (nc > 0) & (nh > 0) & (xc + xh > 0)
    if not np.any(keep):
        return 0.0, float("inf")
    xc, nc, xh, nh = xc[keep], nc[keep], xh[keep], nh[keep]
    candidates, alts, log_w = _RATIO_CANDIDATES, _RATIO_ALTS, _RATIO_LOG_W
    fails = xh  # trials (xc + xh) minus successes xc
    th1 = share(alts[:, None], nc[None, :], nh[None, :])
    th0 = share(candidates[:, None], nc[None, :], nh[None, :])
    l1, m1 = _clipped_logs(th1)
    l0, m0 = _clipped_logs(th0)
    a_part = np.einsum("ab,b->a", l1, xc) + np.einsum("ab,b->a", m1, fails)
    r_part = np.einsum("rb,b->r", l0, xc) + np.einsum("rb,b->r", m0, fails)
    scale = np.einsum("ab,b->a", np.abs(l1), xc) + np.einsum("ab,b->a", np.abs(m1), fails)
    r_scale = np.einsum("rb,b->r", np.abs(l0), xc) + np.einsum("rb,b->r", np.abs(m0), fails)
    total = a_part[None, :] - r_part[:, None] + log_w[None, :]
    top = np.max(total, axis=1)
    log_e = top + np.log(np.sum(np.exp(total - top[:, None]), axis=1))
    threshold = np.log(1.0 / alpha)
    inside = log_e < threshold
    margin = _RECHECK * (1.0 + float(scale.max()) + r_scale)
    for i in np.flatnonzero(np.abs(log_e - threshold) <= margin):
        row = _log_lr(xc[None, :], (xc + xh)[None, :], th0[i][None, :], th1).sum(axis=1)
        inside[i] = _log_mix(row, log_w) < threshold
    ok = candidates[inside]
    if ok.size == 0:  # the data reject every ratio on the grid: it lies beyond an end
        rate_c = xc.sum() / nc.sum()
        rate_h = xh.sum() / nh.sum()
        above = rate_h == 0 or rate_c / rate_h > 1
        return (float(candidates[-1]), float("inf")) if above else (0.0, float(candidates[0]))
    lo = 0.0 if ok[0] == candidates[0] else float(ok[0])
    hi = float("inf") if ok[-1] == candidates[-1] else float(ok[-1])
    return lo, hi


def _two_sided_log_e(x: FloatArray, n: float, p0: FloatArray) -> FloatArray:
    """log e-value of x successes in n trials against each p0, the mean of the "above"
    and "below" mixtures of proportion_test (a test martingale under p = p0)."""
    up = np.linspace(p0 + (1 - p0) / 64, 1 - (1 - p0) / 64, 48, axis=-1)
    down = np.exp(np.linspace(np.log(p0 / 1000), np.log(p0 * 63 / 64), 48, axis=-1))
    alts = np.concatenate([up, down], axis=-1)
    th0 = p0[..., None]
    lr = x[..., None] * np.log(alts / th0) + (n - x[..., None]) * np.log((1 - alts) / (1 - th0))
    top = np.max(lr, axis=-1, keepdims=True)
    return np.asarray(top[..., 0] + np.log(np.mean(np.exp(lr - top), axis=-1)), dtype=np.float64)


def proportion_interval(x: ArrayLike, trials: ArrayLike, alpha: float) -> tuple[float, float]:
    """A confidence sequence for a success probability (the candidate's error rate):
    every p that the two-sided mixture test of H0: rate = p does not reject at alpha.
    Valid at every look. (0, 1) when there are no trials."""
    total_x, total_n = float(np.sum(x)), float(np.sum(trials))
    if total_n <= 0:
        return 0.0, 1.0
    candidates = np.exp(np.linspace(np.log(1e-6), np.log(0.999), 321))
    log_e = _two_sided_log_e(np.full(candidates.size, total_x), total_n, candidates)
    ok = candidates[log_e < np.log(1.0 / alpha)]
    if ok.size == 0:  # beyond the grid's ends: the rate is tiny or near 1
        below = total_x / total_n < candidates[0]
        return (0.0, float(candidates[0])) if below else (float(candidates[-1]), 1.0)
    lo = 0.0 if ok[0] == candidates[0] else float(ok[0])
    hi = 1.0 if ok[-1] == candidates[-1] else float(ok[-1])
    return lo, hi


def median_interval(values: ArrayLike, alpha: float) -> tuple[float, float]:
    """A confidence sequence for the median of per-period values (the candidate's period
    statistic over the champion's): every m for which the sign test of "half the values
    exceed m" (the two-sided mixture at p = 1/2) does not reject at alpha. Valid at every
    look; its ends are observed values. (0, inf) when there are none."""
    v = np.asarray(values, dtype=float)
    s = np.sort(v[np.isfinite(v)])
    m = s.size
    if m == 0:
        return 0.0, float("inf")
    above = np.arange(m + 1, dtype=float)  # how many values exceed a candidate median
    log_e = _two_sided_log_e(above, float(m), np.full(m + 1, 0.5))
    accepted = np.flatnonzero(log_e < np.log(1.0 / alpha))  # a range around m / 2
    k_lo, k_hi = int(accepted[0]), int(accepted[-1])
    lo = 0.0 if k_hi == m else float(s[m - k_hi - 1])
    hi = float("inf") if k_lo == 0 else float(s[m - k_lo])
    return lo, hi


@lru_cache(maxsize=4096)
def required_trials(p0: float, p1: float, alpha: float, power: float = 0.8) -> int:
    """Trials for a one-sided binomial test of p0 against p1 to reach 1/alpha with
    the given power: the expected log-evidence per trial under p1 is KL(p1 || p0);
    the spread of the log-LR adds the normal quantile term (Wald's approximation),
    and the mixture's cost of not knowing p1 exactly adds ~ log(grid size)."""
    p0 = min(max(p0, 1e-9), 1 - 1e-9)
    p1 = min(max(p1, 1e-9), 1 - 1e-9)
    kl = p1 * np.log(p1 / p0) + (1 - p1) * np.log((1 - p1) / (1 - p0))
    if kl <= 0:
        return 0
    step = np.log(p1 / p0) - np.log((1 - p1) / (1 - p0))
    var = p1 * (1 - p1) * step**2
    z = _z(power)
    target = np.log(1 / alpha) + np.log(48.0)
    # Solve n*kl - z*sqrt(n*var) = target for sqrt(n).
    a, b, c = kl, -z * np.sqrt(var), -target
    root = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    return int(np.ceil(root**2))


@lru_cache(maxsize=64)
def _z(power: float) -> float:
    """Standard normal quantile by Acklam-free bisection on erf (no scipy import)."""
    from math import erf, sqrt

    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1 + erf(mid / sqrt(2))) < power:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
