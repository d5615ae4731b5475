"""Distances and two-sample tests on binned counts, for drift checks.

Everything here works on counts over the same bins (reference vs current), so a check
never needs the raw reference data. No scipy: the two survival functions a drift check
needs (chi-square, Kolmogorov) are a few lines each, which keeps the drift Lambda's
cold start small; tests check them against scipy.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numpy.typing import NDArray

Counts = NDArray[np.float64]

# A deployment has one baseline, and its own sampling error is fixed for every check
# made against it. A plain two-sample test treats that error as fresh in each check: its
# false-alarm rate is alpha averaged over baselines, but for one baseline checked against
# far more live rows than it holds, the test sees the baseline's error and little else,
# and alarms in nearly every check (an unlucky baseline) or in none. The tests below
# instead hold alpha for every baseline whose own error is no larger than it is for all
# but this share of baselines: the worst case within that error is taken, so a p-value
# never depends on how lucky the one baseline was.
BASELINE_LUCK = 1e-3

# Proportions are floored at this before logs (PSI, KL): an empty bin would make them
# infinite. 1e-4 is the usual choice for PSI in credit-risk practice.
EPS = 1e-4


def _props(counts: Counts) -> Counts:
    total = counts.sum()
    if total <= 0:
        raise ValueError("no counts")
    return np.maximum(counts / total, EPS)


def psi(ref: Counts, cur: Counts) -> float:
    """Population stability index: sum (c - r) ln(c / r) over bins."""
    r, c = _props(ref), _props(cur)
    return float(np.sum((c - r) * np.log(c / r)))


def kl(cur: Counts, ref: Counts) -> float:
    """Kullback-Leibler divergence D(current || reference), in nats."""
    r, c = _props(ref), _props(cur)
    return float(np.sum(c * np.log(c / r)))


def js_distance(ref: Counts, cur: Counts) -> float:
    """Jensen-Shannon distance, base 2 (0 = same, 1 = disjoint)."""
    r = ref / ref.sum()
    c = cur / cur.sum()
    m = (r + c) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(r > 0, r * np.log2(r / m), 0.0)
        b = np.where(c > 0, c * np.log2(c / m), 0.0)
    return float(math.sqrt(max(0.0, (a.sum() + b.sum()) / 2)))


def total_variation(ref: Counts, cur: Counts) -> float:
    return float(np.abs(ref / ref.sum() - cur / cur.sum()).sum() / 2)


# What two samples of sizes n and m drawn from one distribution show on average. A
# distance between a baseline and live traffic holds this much sampling noise even with
# no drift: the baseline is a sample too. Thresholds that grade a distance are raised by
# it, so a grade means the same for a 20,000-row baseline as for a 2,000,000-row one,
# and at 100 or 1,000,000 live rows.


def psi_null(ref: Counts, cur: Counts) -> float:
    """Expected PSI of two samples from one distribution: (k - 1)(1/n + 1/m) over the k
    cells either side holds a value (PSI is, to second order, the chi-square statistic
    of homogeneity times 1/n + 1/m, and that statistic averages its degrees of freedom).
    """
    k = int(np.count_nonzero((ref + cur) > 0))
    n, m = float(ref.sum()), float(cur.sum())
    if k < 2 or n <= 0 or m <= 0:
        return 0.0
    return (k - 1) * (1.0 / n + 1.0 / m)


def js_null(ref: Counts, cur: Counts) -> float:
    """Expected Jensen-Shannon distance (base 2) of two samples from one distribution:
    the JS divergence is, to second order, PSI / (8 ln 2), so its null is psi_null's."""
    return math.sqrt(psi_null(ref, cur) / (8 * math.log(2)))


def ks_null(n: float, m: float) -> float:
    """Expected two-sample KS distance with no drift: the Brownian bridge's mean sup,
    sqrt(pi / 2) ln 2, times sqrt(1/n + 1/m). (Fewer distinct values, less: a discrete
    feature's null is smaller, so this errs on the side of a lower grade.)"""
    if n <= 0 or m <= 0:
        return 0.0
    return math.sqrt(math.pi / 2) * math.log(2) * math.sqrt(1.0 / n + 1.0 / m)


def tv_null(ref: Counts, cur: Counts) -> float:
    """Expected total variation of two samples from one distribution: half the sum over
    cells of E|c/m - r/n|, normal for a well-filled cell, at most 2p for a sparse one
    (a cell either sample rarely holds)."""
    n, m = float(ref.sum()), float(cur.sum())
    if n <= 0 or m <= 0:
        return 0.0
    p = (ref + cur) / (n + m)
    normal = np.sqrt(2 / math.pi * p * (1 - p) * (1.0 / n + 1.0 / m))
    return float(np.minimum(2 * p, normal).sum() / 2)


def share_change_null(a: int, n_a: int, b: int, n_b: int) -> float:
    """Expected |a/n_a - b/n_b| of two samples with one share (normal approximation)."""
    if n_a <= 0 or n_b <= 0:
        return 0.0
    p = (a + b) / (n_a + n_b)
    return min(2 * p, math.sqrt(2 / math.pi * p * (1 - p) * (1.0 / n_a + 1.0 / n_b)))


def beyond_noise(distance: float, null: float) -> float:
    """The part of a sum of many cells' gaps (PSI, total variation) its sampling noise
    does not explain: ``distance - null``, never below 0. Each cell adds its own noise,
    and most cells carry none of a shift, so the noise adds up and comes off whole."""
    return max(0.0, distance - null)


def beyond_noise_gap(gap: float, null: float) -> float:
    """The same for one gap (KS, a share's change): sqrt(gap^2 - null^2), never below
    0. A real gap and its noise add in quadrature: a 0.04 KS gap measured against noise
    of 0.01 reads about 0.041, and subtracting the whole 0.01 would call it 0.031."""
    return math.sqrt(max(0.0, gap * gap - null * null))


def ks_statistic(ref: Counts, cur: Counts) -> float:
    """Largest gap between the two empirical CDFs, evaluated at the bin edges.

    On binned data this is at most the exact statistic, so its p-value is conservative.
    """
    return float(np.max(np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())))


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution: 2 sum (-1)^(k-1) exp(-2 k^2 lam^2)."""
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * lam * lam)
        total += term if k % 2 else -term
        if term < 1e-16:
            break
    return min(1.0, max(0.0, 2.0 * total))


def ks_pvalue(d: float, n: float, m: float) -> float:
    """Two-sample KS p-value, asymptotic with Stephens' small-sample correction."""
    if n <= 0 or m <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    return kolmogorov_sf((en + 0.12 + 0.11 / en) * d)


@cache
def kolmogorov_isf(p: float) -> float:
    """The lam with P(K > lam) = p (bisection on ``kolmogorov_sf``)."""
    lo, hi = 0.2, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if kolmogorov_sf(mid) > p else (lo, mid)
    return hi


def ks_pvalue_per_baseline(d: float, n_ref: float, n_cur: float) -> float:
    """KS p-value that holds for one baseline (``BASELINE_LUCK``). The gap between the
    two CDFs is at most the reference's gap to the truth plus the current one's; the
    reference's is below the Kolmogorov bound for all but BASELINE_LUCK of baselines,
    so what is left of ``d`` is tested against the current sample alone. Never below
    the two-sample p-value."""
    if n_ref <= 0 or n_cur <= 0:
        return 1.0
    er, ec = math.sqrt(n_ref), math.sqrt(n_cur)
    bound = kolmogorov_isf(BASELINE_LUCK) / (er + 0.12 + 0.11 / er)
    own = kolmogorov_sf((ec + 0.12 + 0.11 / ec) * max(0.0, d - bound))
    return max(own, ks_pvalue(d, n_ref, n_cur))


def wasserstein_binned(edges: Counts, lo: float, hi: float, ref: Counts, cur: Counts) -> float:
    """Earth mover's distance between two binned distributions sharing ``edges``.

    The outer bins end at ``lo``/``hi`` (the smallest and largest value seen). Within a
    bin both CDFs are taken as linear, so |F - G| is integrated by the trapezoid rule
    (exact unless the CDFs cross inside a bin).
    """
    points = np.concatenate(([lo], edges, [hi]))
    points = np.maximum.accumulate(points)
    gap = np.concatenate(([0.0], np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum()))
    widths = np.diff(points)
    return float(np.sum(widths * (np.abs(gap[:-1]) + np.abs(gap[1:])) / 2))


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square variable: the regularised upper incomplete gamma
    Q(df/2, x/2), by its series below a+1 and its continued fraction above."""
    if x <= 0:
        return 1.0
    a, z = df / 2.0, x / 2.0
    lead = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= z / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(lead))
    # Lentz's method for the continued fraction of Q(a, z).
    tiny = 1e-300
    b = z + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(lead) * h)


@cache
def chi2_isf(p: float, df: float) -> float:
    """The x with P(X > x) = p for a chi-square variable (bisection on ``chi2_sf``)."""
    lo, hi = 0.0, df + 10.0 * math.sqrt(2 * df) + 50.0
    while chi2_sf(hi, df) > p:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if chi2_sf(mid, df) > p else (lo, mid)
    return hi


def noncentral_chi2_sf(x: float, df: float, nc: float) -> float:
    """P(X > x) for a noncentral chi-square, by Patnaik's two-moment approximation
    (a scaled central chi-square). Within a few % of the exact value down to p = 0.01
    and larger than it below (the tests check against scipy): conservative."""
    h = (df + 2 * nc) / (df + nc)
    nu = (df + nc) ** 2 / (df + 2 * nc)
    return chi2_sf(x / h, nu)


def chi2_pvalue_per_baseline(stat: float, df: int, n_ref: float, n_cur: float) -> float:
    """Homogeneity p-value that holds for one baseline (``BASELINE_LUCK``).

    With w = n_cur / (n_ref + n_cur), the statistic is |sqrt(w) Z_ref - sqrt(1 - w)
    Z_cur|^2 for standard normal vectors in df dimensions: Z_ref is the baseline's own
    error, the same in every check against it, and |Z_ref|^2 is below the chi-square
    quantile q for all but BASELINE_LUCK of baselines. For the worst such baseline
    the statistic is (1 - w) times a noncentral chi-square with noncentrality
    w q / (1 - w). As n_cur / n_ref -> 0 this is the usual test; as it grows, the
    threshold moves up to the baseline's own worst error. Never below the two-sample
    p-value."""
    if df < 1 or n_ref <= 0 or n_cur <= 0:
        return 1.0
    central = chi2_sf(stat, df)
    w = n_cur / (n_ref + n_cur)
    if w >= 1.0:
        return 1.0
    nc = w * chi2_isf(BASELINE_LUCK, df) / (1 - w)
    return max(central, noncentral_chi2_sf(stat / (1 - w), df, nc))


def share_test_per_baseline(a: int, n_a: int, b: int, n_b: int) -> float:
    """``share_test`` that holds for one baseline (``BASELINE_LUCK``): reference ``a`` of
    ``n_a``, current ``b`` of ``n_b``. In z units the difference is sqrt(w) z_ref -
    sqrt(1 - w) z_cur; the worst baseline within the bound has |z_ref| at the normal
    quantile. Never below the exact two-sample p-value."""
    exact = share_test(a, n_a, b, n_b)
    if n_a == 0 or n_b == 0 or a + b == 0:
        return exact
    p = (a + b) / (n_a + n_b)
    se = math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))
    if se == 0:
        return exact
    z = abs(a / n_a - b / n_b) / se
    w = n_b / (n_a + n_b)
    bound = math.sqrt(w) * normal_isf(BASELINE_LUCK / 2)
    spread = math.sqrt(1 - w)
    if spread == 0:
        return 1.0 if z <= bound else exact
    own = _normal_sf((z - bound) / spread) + _normal_sf((z + bound) / spread)
    return max(exact, min(1.0, own))


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


@cache
def normal_isf(p: float) -> float:
    """The z with P(Z > z) = p (bisection on the normal tail)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _normal_sf(mid) > p else (lo, mid)
    return hi


def homogeneity(ref: Counts, cur: Counts) -> tuple[float, int, float]:
    """Pearson's chi-square test that two samples share one distribution over the same
    cells (a 2 x k contingency table, not a goodness-of-fit against fixed shares).

    Returns (statistic, degrees of freedom, p-value). Cells empty in both are dropped.
    """
    keep = (ref + cur) > 0
    r, c = ref[keep], cur[keep]
    k = r.size
    if k < 2:
        return 0.0, 0, 1.0
    nr, nc = r.sum(), c.sum()
    total = nr + nc
    col = r + c
    er, ec = col * nr / total, col * nc / total
    stat = float(np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec))
    return stat, k - 1, chi2_sf(stat, k - 1)


def merge_cells(ref: Counts, cur: Counts, min_expected: float, max_cells: int | None) -> list[int]:
    """Boundaries that merge adjacent cells so each expects >= ``min_expected`` values
    on each side under the pooled shares, and there are at most ``max_cells`` cells.

    Both sides, because the test is two-sample: the reference is a sample too, and a
    cell it holds 1 value of (a rare category of a 20,000-row baseline checked against
    a million live rows) is as noisy as a current cell expecting 1. Counting only the
    current side let such cells through, and the chi-square tail was too heavy for the
    table: one baseline alarmed in far more than alpha of its checks. Pooled shares,
    because with no drift the split of a cell's pooled count between the two sides does
    not depend on which cells are merged; merging by the reference's counts alone would
    pick the cells it happened to count low.

    ``max_cells`` suits equal-share bins (deciles): each merged cell then holds at
    least 1/max_cells of the reference. Categories have unequal shares, so for them it
    is None: only the expected count merges cells, and a small category that is big
    enough to test keeps its own cell (and its degree of freedom).

    Returns the start index of each merged cell (for ``np.add.reduceat``).
    """
    n = min(cur.sum(), ref.sum())
    share = (ref + cur) / (ref.sum() + cur.sum())
    target = min_expected / max(n, 1.0)
    if max_cells is not None:
        target = max(target, 1.0 / max_cells)
    starts = [0]
    acc = 0.0
    for i, s in enumerate(share):
        acc += s
        if acc >= target and i + 1 < share.size:
            starts.append(i + 1)
            acc = 0.0
    if len(starts) > 1 and acc < target:  # the last cell is short: join it to the one before
        starts.pop()
    return starts


def quantile_groups(ref: Counts, groups: int) -> list[int]:
    """Boundaries that merge adjacent bins into reference quantile groups (deciles for
    ``groups`` = 10: each holds at least 1/groups of the reference; a short last group
    joins the one before), except for two kinds of bin that stay cells of their own:

    * a bin with no reference value: values the reference never had (below its minimum,
      above its maximum, between two of its point masses). Merged into a decile they
      would vanish: a feature constant in the reference that varies live would score
      PSI = JS = 0;
    * a bin holding at least 1/groups of the reference alone: a point mass. Merged, a
      share moving between it and its neighbours would not show.

    Continuous data has neither, so it gets the usual deciles. Runs of ordinary bins
    between such cells are grouped on their own. Returns the start index of each group
    (for ``np.add.reduceat``).
    """
    share = ref / ref.sum()
    # ten bins of 1 % add up to a hair under 10 % in floating point: not short
    target = (1.0 - 1e-9) / groups
    alone = (share == 0) | (share >= target)
    starts: list[int] = []
    opened = 0  # ordinary groups opened in the current run
    acc = 0.0
    for i, s in enumerate(share):
        if alone[i]:
            if not (s == 0 and i and share[i - 1] == 0):  # adjacent empty bins: one cell
                starts.append(i)
            opened = 0
            continue
        if opened == 0 or acc >= target:
            starts.append(i)
            opened += 1
            acc = 0.0
        acc += s
        run_ends = i + 1 == share.size or alone[i + 1]
        if run_ends and acc < target and opened > 1:
            starts.pop()  # the run's last group is short: join it to the one before
    return starts


def benjamini_hochberg(p: list[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Which hypotheses BH rejects at false discovery rate ``alpha``, and the adjusted
    p-values (q-values). With no real drift anywhere, BH rejects any with probability
    <= alpha (independent or positively dependent tests)."""
    m = len(p)
    if m == 0:
        return [], []
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return [qi <= alpha for qi in q], q


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """Two-sided p-value of k successes in n trials with success probability p
    (twice the smaller tail, capped at 1), summed exactly from log-probabilities."""
    if n == 0 or p <= 0 or p >= 1:
        return 1.0 if (p <= 0 and k == 0) or (p >= 1 and k == n) or n == 0 else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)

    def pmf(i: int) -> float:
        return math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)

    def tail(start: int, step: int) -> float:
        total, i = 0.0, start
        while 0 <= i <= n:
            term = pmf(i)
            total += term
            if term < 1e-18 * max(total, 1e-300) and abs(i - n * p) > 1:
                break
            i += step
        return total

    return min(1.0, 2 * min(tail(k, 1), tail(k, -1)))


def share_test(a: int, n_a: int, b: int, n_b: int) -> float:
    """p-value that two shares a/n_a and b/n_b are equal: conditional on a + b events,
    b is binomial with the current sample's share of the trials (exact tails)."""
    total = a + b
    if total == 0 or n_a == 0 or n_b == 0:
        return 1.0
    if total > 100_000:  # normal approximation is exact enough and avoids long sums
        p = (a + b) / (n_a + n_b)
        se = math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))
        zs = abs(a / n_a - b / n_b) / se if se > 0 else 0.0
        return math.erfc(zs / math.sqrt(2))
    return binomial_two_sided(b, total, n_b / (n_a + n_b))


def mmd_test(
    x: NDArray[np.float64], y: NDArray[np.float64], permutations: int, seed: int
) -> tuple[float, float]:
    """Maximum mean discrepancy (squared, biased estimate) between two samples of
    vectors with a Gaussian kernel at the median pairwise distance, and its
    permutation p-value. Cost: O((n + m)^2 (dim + permutations))."""
    z = np.vstack([x, y]).astype(np.float64)
    n, total = len(x), len(z)
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    off = d2[np.triu_indices(total, 1)]
    bandwidth = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    k = np.exp(-d2 / bandwidth)
    rng = np.random.default_rng(seed)
    labels = np.zeros((permutations + 1, total))
    labels[0, :n] = 1.0
    for i in range(1, permutations + 1):
        labels[i, rng.permutation(total)[:n]] = 1.0
    ka = labels @ k  # row i: K summed against sample x of labelling i
    xx = np.einsum("ij,ij->i", ka, labels)
    xy = ka.sum(axis=1) - xx
    yy = k.sum() - xx - 2 * xy
    m = total - n
    stats = xx / n**2 + yy / m**2 - 2 * xy / (n * m)
    p = float((1 + np.sum(stats[1:] >= stats[0])) / (1 + permutations))
    return float(stats[0]), p
