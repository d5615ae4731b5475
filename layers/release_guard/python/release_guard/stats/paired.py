"""Paired statistics for the eval gate: candidate and champion scored on the same examples.

Everything works on per-example values (repeats averaged first), paired by example id.
Standard errors are clustered by ``cluster_id`` when examples share a passage or a
conversation; proportions get Wilson intervals; ratios of percentiles and of means get a
seeded paired bootstrap. scipy is imported narrowly (scipy.special) for t, normal and
beta quantiles.

Clustered 0/1 scores get a Clopper-Pearson interval at the design-effect-adjusted sample
size (Korn and Graubard), ratios of means a studentised bootstrap of the log ratio; both
choices were measured against the alternatives at the sizes the gate sees
(bench/gate_calibration.py, docs/eval-gate.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import betainc, betaincinv, ndtri, stdtr, stdtrit

Arr = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    se: float | None = None
    df: float | None = None
    # One-sided p-values against a bound (ratios): of "ratio <= bound" (small when few
    # resamples lie above it) and of "ratio >= bound" (few below it).
    p_above: float | None = None
    p_below: float | None = None
    n_eff: float | None = None  # clustered proportions: the design-effect-adjusted n


def z(p: float) -> float:
    return float(ndtri(p))


def t_ppf(p: float, df: float) -> float:
    """Student's t quantile; the normal one for infinite degrees of freedom."""
    return float(stdtrit(max(df, 1.0), p)) if math.isfinite(df) else z(p)


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


def clustered_proportion(values: Arr, clusters: NDArray[np.int64], confidence: float) -> Interval:
    """A 0/1 score whose examples come in clusters (turns of a conversation, questions
    on one passage): the Clopper-Pearson interval at the effective sample size of Korn
    and Graubard (1998), n* = n / deff * (t_{n-1} / t_{g-1})^2. The design effect deff is
    the cluster-robust (CR1) variance of the proportion over the binomial one, never
    below 1 (a design never makes examples worth more than independent ones); the
    ratio of t quantiles charges for estimating it from g clusters. Clopper-Pearson
    counts whole trials and successes: n* is rounded down, and the successes down for
    the lower bound and up for the upper one, the conservative way each time (a
    design effect estimated from the sample is optimistic as often as not). A Wilson
    interval at n ignores the clusters (8.5 % false passes at a 0.95 floor, issue 13);
    Wilson at n*, or Clopper-Pearson at the unrounded n*, stays near or above alpha
    when clusters are uneven (bench/gate_calibration.py). ``n_eff`` carries the rounded
    n*; ``se`` the CR1 standard error."""
    n = values.size
    if n == 0:
        return Interval(math.nan, 0.0, 1.0)
    p = float(values.mean())
    _, inverse = np.unique(clusters, return_inverse=True)
    g = int(inverse.max()) + 1
    if g < 2:  # one cluster: no variance between clusters to go by
        return Interval(p, 0.0, 1.0, n_eff=1.0)
    resid = np.bincount(inverse, weights=values - p, minlength=g)
    v_cr = g / (g - 1) * float(resid @ resid) / (n * n)
    v_bin = p * (1 - p) / n
    deff = max(1.0, v_cr / v_bin) if v_bin > 0 else 1.0
    tail = (1 - confidence) / 2
    if n > 1:
        deff *= (float(stdtrit(g - 1, 1 - tail)) / float(stdtrit(n - 1, 1 - tail))) ** 2
    n_eff = float(max(1, math.floor(n / deff + 1e-9)))
    low_x, high_x = _whole_successes(p, n_eff)
    low = float(betaincinv(low_x, n_eff - low_x + 1, tail)) if low_x > 0 else 0.0
    high = float(betaincinv(high_x + 1, n_eff - high_x, 1 - tail)) if high_x < n_eff else 1.0
    return Interval(p, low, high, se=math.sqrt(v_cr), df=float(g - 1), n_eff=n_eff)


def _whole_successes(p: float, n: float) -> tuple[float, float]:
    """p * n successes as whole numbers: rounded down and up."""
    x = p * n
    return float(math.floor(x + 1e-9)), float(min(n, math.ceil(x - 1e-9)))


def exact_p(p: float, n: float, p0: float, sign: float) -> float:
    """One-sided Clopper-Pearson p-value of H0 "proportion on the wrong side of p0"
    (``sign`` > 0: at most p0) for the share ``p`` of ``n`` trials (an effective n, a
    whole number), with the successes rounded as clustered_proportion rounds them for
    the bound the test inverts: P(X >= x | p0) = I_p0(x, n - x + 1) from the successes
    rounded down, P(X <= x | p0) = 1 - I_p0(x + 1, n - x) from them rounded up."""
    if n <= 0 or p0 <= 0 or p0 >= 1:
        return 1.0
    low_x, high_x = _whole_successes(p, n)
    if sign > 0:
        return float(betainc(low_x, n - low_x + 1, p0)) if low_x > 0 else 1.0
    return float(1 - betainc(high_x + 1, n - high_x, p0)) if high_x < n else 1.0


def rule_of_three(n: int) -> float:
    """95 % upper bound on a failure rate when none of n trials failed."""
    return 3.0 / n if n else 1.0


# Index draws per chunk of resamples (int32: 25 MiB at the most): bounds memory at 100k
# examples while keeping small slices to one chunk, and numpy calls few.
_CHUNK_DRAWS = 64 * 100_000


def bootstrap_ratio(
    cand: Arr,
    champ: Arr,
    statistic: str,
    resamples: int,
    seed: int,
    confidence: float,
    chunk: int | None = None,
    bound: float | None = None,
) -> Interval:
    """Paired bootstrap of statistic(candidate) / statistic(champion), resampling
    examples (pairs) together. ``statistic`` is "mean" or "p<NN>" (e.g. "p95", the
    nearest-rank percentile). Returns the percentile interval and, with ``bound``, the
    share of resamples above it in ``p_above`` (the one-sided bootstrap p-value of
    "ratio <= bound") and below it in ``p_below`` (of "ratio >= bound"). Resamples are
    drawn ``chunk`` at a time (default: as many as 6.4M int32 indices hold); the chunk
    bounds memory and never changes the result."""
    n = cand.size
    rng = np.random.default_rng(seed)
    if chunk is None:
        chunk = max(1, _CHUNK_DRAWS // max(n, 1))

    def ratio(c: Arr, h: Arr) -> Arr:
        # A free champion: any cost is an infinite ratio, no cost at all is parity.
        safe = np.where(h > 0, h, 1.0)
        return np.where(h > 0, c / safe, np.where(c > 0, np.inf, 1.0))

    if statistic == "mean":
        estimate = float(ratio(np.array([cand.mean()]), np.array([champ.mean()]))[0])
        stat_c: Callable[[NDArray[np.int32]], Arr] = lambda idx: cand[idx].mean(axis=-1)  # noqa: E731
        stat_h: Callable[[NDArray[np.int32]], Arr] = lambda idx: champ[idx].mean(axis=-1)  # noqa: E731
    else:
        k = min(n - 1, max(0, math.ceil(float(statistic[1:]) / 100.0 * n) - 1))
        select_c, select_h = _KthOfResamples(cand, k), _KthOfResamples(champ, k)
        estimate = float(ratio(select_c.sorted[k : k + 1], select_h.sorted[k : k + 1])[0])
        stat_c, stat_h = select_c, select_h
    ratios = []
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int32)
        ratios.append(ratio(stat_c(idx), stat_h(idx)))
        done += b
    all_r = np.concatenate(ratios)
    tail = (1 - confidence) / 2 * 100
    # inverted_cdf never interpolates, so infinite ratios stay infinite (not NaN).
    low, high = np.percentile(all_r, [tail, 100 - tail], method="inverted_cdf")
    p = q = None
    if bound is not None:
        p = float((np.sum(all_r > bound) + 1) / (all_r.size + 1))
        q = float((np.sum(all_r < bound) + 1) / (all_r.size + 1))
    return Interval(estimate, float(low), float(high), p_above=p, p_below=q)


class _KthOfResamples:
    """The k-th smallest value of each resample ``values[idx[r]]``, exactly as sorting
    each resample would give it, without sorting or partitioning it.

    A resample holds values of the sample, so its k-th smallest is ``sorted[j]`` for the
    k-th smallest rank j among the ranks it drew. Ranks far from k are only counted:
    each draw is coded once, by a table of the sample's size, as below a band of ranks
    around k, in it (as its place in the band) or above it; the band's counts per
    resample, added to the count below, find j. The band spans 6 binomial standard
    deviations (and 8 ranks) either side of k, so a resample's k-th smallest falls
    outside it with probability about 1e-9; such a resample is computed exactly the slow
    way. A coded gather and a count are several times faster than a gather and a
    partition of the values (bench/gate_bench.py)."""

    def __init__(self, values: Arr, k: int, sds: float = 6.0) -> None:
        n = values.size
        order = np.argsort(values, kind="stable")
        self.values, self.k = values, k
        self.sorted = values[order]
        # Draws below rank k are Binomial(n, p), p = (k + 1) / n: its sd, in ranks.
        p = min(max((k + 1) / n, 1 / n), 1 - 1 / n) if n > 1 else 0.5
        half = int(sds * math.sqrt(n * p * (1 - p))) + 8
        self.low = max(0, k - half)
        width = min(n, k + half + 1) - self.low
        self.width = width
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        # 0: below the band; 1..width: the band; width + 1: above it.
        code = np.clip(rank - self.low + 1, 0, width + 1)
        # The narrowest integer that holds the codes: the gather moves fewer bytes.
        kind = np.uint8 if width + 1 < 2**8 else np.int16 if width + 1 < 2**15 else np.int32
        self.code: NDArray[np.integer[Any]] = code.astype(kind)
        self._codes: NDArray[np.integer[Any]] | None = None
        self._flags: tuple[NDArray[np.bool_], NDArray[np.bool_]] = (np.empty(0, bool),) * 2

    def __call__(self, idx: NDArray[np.int32]) -> Arr:
        b, k, width = idx.shape[0], self.k, self.width
        if self._codes is None or self._codes.shape != idx.shape:
            # Buffers for a chunk, reused by the next chunks of this bootstrap: a fresh
            # 6.4M-element array per step is page faults the CPU pays for again.
            self._codes = np.empty(idx.shape, dtype=self.code.dtype)
            self._flags = np.empty(idx.shape, dtype=bool), np.empty(idx.shape, dtype=bool)
        codes, (inside, scratch) = self._codes, self._flags
        np.take(self.code, idx, out=codes, mode="clip")  # idx is in range: no checks
        below = np.count_nonzero(np.equal(codes, 0, out=scratch), axis=1)
        np.greater(codes, 0, out=inside)
        np.logical_and(inside, np.less_equal(codes, width, out=scratch), out=inside)
        counts = np.count_nonzero(inside, axis=1)
        rows = np.repeat(np.arange(b, dtype=np.int64), counts)
        places = codes[inside].astype(np.int64) - 1
        hist = np.bincount(rows * width + places, minlength=b * width).reshape(b, width)
        before = np.cumsum(hist, axis=1) + below[:, None]  # draws at or below each place
        place = np.count_nonzero(before <= k, axis=1)
        out = self.sorted[self.low + np.minimum(place, width - 1)]
        missed = np.flatnonzero((below > k) | (below + counts <= k))
        for r in missed:  # the k-th smallest fell outside the band
            row = self.values[idx[r]]
            row.partition(k)
            out[r] = row[k]
        return out


def ratio_of_means(
    cand: Arr,
    champ: Arr,
    confidence: float,
    bound: float,
    clusters: NDArray[np.int64] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    chunk: int | None = None,
) -> Interval:
    """mean(candidate) / mean(champion) on paired examples: a studentised (bootstrap-t)
    interval of the log ratio, and the one-sided p-values of "ratio <= bound"
    (``p_above``) and "ratio >= bound" (``p_below``).

    Costs and token counts are right-skewed: a sample that misses the tail has both a
    low mean and a low standard error, so a delta-method (or percentile bootstrap)
    upper bound is too low too often (6.9 % instead of 5 % at the margin for lognormal
    costs). Each one-sided bound therefore uses the largest of three critical values:
    the bootstrap-t quantile (the skew of the statistic the sample shows); a Student t
    whose degrees of freedom 2u / (kurtosis - 1) shrink with the kurtosis of the
    influence values (the chi-square approximation to the variance estimate, which
    heavy tails make unreliable); and Hall's (1992) skewness-corrected normal quantile
    at those degrees of freedom. bench/gate_calibration.py measured each alone and
    together (docs/eval-gate.md). With ``clusters``, the units are clusters: the ratio
    of means is the ratio of cluster totals, so totals are resampled, whole clusters
    at a time. Resamples are drawn ``chunk`` at a time (never changes the result)."""
    c: Arr = cand
    h: Arr = champ
    if clusters is not None:
        _, inverse = np.unique(clusters, return_inverse=True)
        units = int(inverse.max()) + 1
        c = np.bincount(inverse, weights=cand, minlength=units).astype(np.float64)
        h = np.bincount(inverse, weights=champ, minlength=units).astype(np.float64)
    g = c.size
    mc, mh = (float(c.mean()), float(h.mean())) if g else (0.0, 0.0)
    if mh <= 0:
        # A free champion: any cost is an infinite ratio, no cost at all is parity.
        est = math.inf if mc > 0 else 1.0
        return Interval(
            est,
            est,
            est,
            p_above=0.0 if est <= bound else 1.0,
            p_below=0.0 if est >= bound else 1.0,
        )
    if mc <= 0:  # a free candidate: ratio 0, below any bound
        return Interval(0.0, 0.0, 0.0, se=0.0, p_above=0.0, p_below=1.0)
    r = mc / mh
    if g < 2:
        return Interval(r, -math.inf, math.inf, p_above=1.0, p_below=1.0)
    psi = c / mc - h / mh  # influence of each unit on log(ratio); sums to 0
    ss = float(psi @ psi)
    se = math.sqrt(ss / (g - 1) / g)
    if se == 0:
        return Interval(
            r, r, r, se=0.0, p_above=0.0 if r <= bound else 1.0, p_below=0.0 if r >= bound else 1.0
        )
    kurtosis = g * float(np.sum(psi**4)) / (ss * ss)
    df = min(float(g - 1), 2.0 * g / (kurtosis - 1.0)) if kurtosis > 1 else float(g - 1)
    df = max(df, 1.0)
    skew = math.sqrt(g) * float(np.sum(psi**3)) / ss**1.5
    t_boot = _studentised_log_ratios(c, h, r, resamples, seed, chunk)
    tail = (1 - confidence) / 2
    q_t = float(stdtrit(df, 1 - tail))
    lo_boot, hi_boot = np.quantile(t_boot, [tail, 1 - tail], method="inverted_cdf")
    # Upper bound: the statistic's lower tail; lower bound: its upper tail.
    up = max(-float(lo_boot), q_t, _hall(skew, g, q_t, upper=True))
    down = max(float(hi_boot), q_t, _hall(skew, g, q_t, upper=False))
    lr = math.log(r)
    low, high = math.exp(lr - down * se), math.exp(lr + up * se)
    # p-values of the same three tests; a bound clears only when all three do.
    t_obs = (lr - math.log(bound)) / se if bound > 0 else math.inf
    hall_obs = _hall_transform(skew, g, t_obs)
    b = t_boot.size
    p_le = max(
        float((np.sum(t_boot <= t_obs) + 1) / (b + 1)),
        float(stdtr(df, t_obs)),
        float(stdtr(df, hall_obs)),
    )
    p_ge = max(
        float((np.sum(t_boot >= t_obs) + 1) / (b + 1)),
        float(1 - stdtr(df, t_obs)),
        float(1 - stdtr(df, hall_obs)),
    )
    return Interval(r, low, high, se=se, df=df, p_above=p_le, p_below=p_ge)


def _hall_transform(skew: float, n: int, t: float) -> float:
    """Hall's (1992) monotone cubic transformation of a studentised mean, g(t) = t +
    a t^2 / 3 + a^2 t^3 / 27 + a / 6 with a = skew / sqrt(n): g(T) is nearer normal
    than T, whose skew is the opposite of the data's."""
    if not math.isfinite(t):
        return t
    a = skew / math.sqrt(n)
    return t + a * t * t / 3 + a * a * t**3 / 27 + a / 6


def _hall(skew: float, n: int, q: float, upper: bool) -> float:
    """The critical value c of the one-sided bound log r + c se (``upper``) or log r -
    c se that inverting _hall_transform at the quantile q gives: g(t) = ((1 + a t / 3)^3
    - 1) / a + a / 6, so g^-1(y) = 3 (cbrt(1 + a (y - a / 6)) - 1) / a. The lower bound
    is the upper one of -T, whose skew is the opposite."""
    a = (skew if upper else -skew) / math.sqrt(n)
    if abs(a) < 1e-12:
        return q
    inner = 1 + a * (-q - a / 6)
    return -3 * (math.copysign(abs(inner) ** (1 / 3), inner) - 1) / a


def _studentised_log_ratios(
    c: Arr, h: Arr, r: float, resamples: int, seed: int, chunk: int | None
) -> Arr:
    """(log r* - log r) / se* for resamples of the units: each resample's sums of c, h,
    c^2, h^2 and c h come from its counts of each unit times one matrix (a bincount
    per resample and a small matrix product per chunk, a third of the time of five
    gathers at 100k units)."""
    g = c.size
    rng = np.random.default_rng(seed)
    if chunk is None:
        chunk = max(1, _CHUNK_DRAWS // 4 // max(g, 1))
    moments = np.column_stack([c, h, c * c, h * h, c * h])
    counts: NDArray[np.float64] = np.empty((min(chunk, resamples), g))
    out = []
    done = 0
    lr = math.log(r)
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, g, size=(b, g), dtype=np.int32)
        if counts.shape[0] != b:
            counts = counts[:b]
        for row, drawn in zip(counts, idx, strict=True):  # a bincount a row: no offsets
            row[:] = np.bincount(drawn, minlength=g)
        sc, sh, scc, shh, sch = (counts @ moments).T
        with np.errstate(divide="ignore", invalid="ignore"):
            mc, mh = sc / g, sh / g
            ss = scc / (mc * mc) + shh / (mh * mh) - 2 * sch / (mc * mh)
            se_b = np.sqrt(np.maximum(ss, 0.0) / (g - 1) / g)
            lr_b = np.log(sc) - np.log(sh)
            t = (lr_b - lr) / se_b
        # A resample of one repeated unit has no spread: its sign is all it says.
        t = np.where(np.isnan(t), np.where(lr_b > lr, np.inf, np.where(lr_b < lr, -np.inf, 0.0)), t)
        out.append(t)
        done += b
    return np.concatenate(out)


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


def min_n_margin(margin: float, spread: float, alpha: float) -> int:
    """The fewest paired examples that can show a regression no larger than ``margin``,
    whatever the distribution. The best evidence of no regression is n pairs with not
    one worse; it still leaves a share 1 - alpha**(1/n) of pairs that may be worse (the
    exact one-sided binomial bound at level alpha: about 3/n at 0.05, the rule of three),
    each by up to ``spread``, the widest a regression can be (1 for scores in [0, 1]).
    That unexcluded regression, spread * (1 - alpha**(1/n)), is at most the margin from
    n >= ln(alpha) / ln(1 - margin / spread). Below it a t interval can still look
    decisive (n identical pairs give [0, 0]), but only by trusting a spread it has not
    seen. ``margin`` > 0."""
    if spread <= margin:
        return 1
    return max(1, math.ceil(math.log(alpha) / math.log1p(-margin / spread) - 1e-9))


def min_n_proportion(rate: float, confidence: float) -> int | None:
    """The fewest examples at which a perfect 0/1 score's Wilson bound (at
    ``confidence``, two-sided) reaches ``rate`` (oriented: the share of successes the
    score must show). All n successes give the bound n / (n + z^2), which is at least
    the rate from n >= z^2 rate / (1 - rate). None when no n can (rate >= 1)."""
    if rate <= 0:
        return 1
    if rate >= 1:
        return None
    q = z(0.5 + confidence / 2)
    return max(1, math.ceil(q * q * rate / (1 - rate) - 1e-9))


def min_n_quantile(q: float, alpha: float) -> int:
    """The fewest examples from which a q-quantile has a one-sided confidence bound at
    level alpha without assuming a distribution: the sample lies wholly on one side of
    the quantile with probability max(q, 1 - q)**n, at most alpha from n >= ln(alpha) /
    ln(max(q, 1 - q)) (59 for p95 at 0.05). Fewer, and the bootstrap only resamples the
    largest values it happened to see."""
    return max(1, math.ceil(math.log(alpha) / math.log(max(q, 1 - q)) - 1e-9))


def needed_n(n: int, se: float, margin: float, alpha: float, power: float) -> int:
    """Examples for the non-inferiority bound to clear a margin-sized gap with the
    given power, from the standard error observed at n (SE scales as 1/sqrt(n))."""
    if margin <= 0 or se <= 0:
        return n
    k = (z(1 - alpha) + z(power)) * se * math.sqrt(n) / margin
    return math.ceil(k * k)
