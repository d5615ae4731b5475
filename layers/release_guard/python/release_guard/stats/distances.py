"""Distances and two-sample tests on binned counts, for drift checks.

Everything here works on counts over the same bins (reference vs current), so a check
never needs the raw reference data. No scipy: the two survival functions a drift check
needs (chi-square, Kolmogorov) are a few lines each, which keeps the drift Lambda's
cold start small; tests check them against scipy.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Counts = NDArray[np.float64]

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
    """Boundaries that merge adjacent cells so each expects >= ``min_expected`` current
    values under the reference shares, and there are at most ``max_cells`` cells.

    ``max_cells`` suits equal-share bins (deciles): each merged cell then holds at
    least 1/max_cells of the reference. Categories have unequal shares, so for them it
    is None: only the expected count merges cells, and a small category that is big
    enough to test keeps its own cell (and its degree of freedom).

    Returns the start index of each merged cell (for ``np.add.reduceat``).
    """
    n = cur.sum()
    share = ref / ref.sum()
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
