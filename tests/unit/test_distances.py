"""Drift distances and tests against scipy and the textbook formulas, on fixed data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from release_guard.drift.profile import PROBS
from release_guard.stats import distances as d
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

REF = np.array([120.0, 300.0, 410.0, 150.0, 20.0])
CUR = np.array([100.0, 260.0, 380.0, 220.0, 40.0])


def test_psi_matches_the_formula() -> None:
    r, c = REF / REF.sum(), CUR / CUR.sum()
    assert d.psi(REF, CUR) == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)
    assert d.psi(REF, REF * 3) == pytest.approx(0.0, abs=1e-15)


def test_kl_and_js_match_scipy() -> None:
    r, c = REF / REF.sum(), CUR / CUR.sum()
    assert d.kl(CUR, REF) == pytest.approx(float(stats.entropy(c, r)), rel=1e-12)
    assert d.js_distance(REF, CUR) == pytest.approx(float(jensenshannon(r, c, base=2)), rel=1e-9)
    assert d.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_ks_statistic_is_the_largest_cdf_gap_and_p_matches_scipy_asymptotics() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 4000), rng.normal(0.1, 1, 3000)
    edges = np.quantile(a, np.linspace(0.001, 0.999, 999))
    bins = lambda x: np.bincount(np.searchsorted(edges, x), minlength=edges.size + 1)  # noqa: E731
    binned = d.ks_statistic(bins(a).astype(float), bins(b).astype(float))
    exact = stats.ks_2samp(a, b, method="asymp")
    assert binned <= exact.statistic + 1e-12  # binned: never above the exact statistic
    assert binned == pytest.approx(exact.statistic, abs=0.003)
    # Same statistic, same p-value up to Stephens' small-sample correction.
    assert d.ks_pvalue(exact.statistic, 4000, 3000) == pytest.approx(exact.pvalue, rel=0.1)


@pytest.mark.parametrize("lam", [0.3, 0.5, 0.8, 1.0, 1.36, 2.0, 3.0])
def test_kolmogorov_survival_matches_scipy(lam: float) -> None:
    assert d.kolmogorov_sf(lam) == pytest.approx(float(special.kolmogorov(lam)), abs=1e-10)


@pytest.mark.parametrize(("x", "df"), [(0.5, 1), (3.84, 1), (10, 4), (40, 20), (200, 49), (1, 30)])
def test_chi2_survival_matches_scipy(x: float, df: int) -> None:
    assert d.chi2_sf(x, df) == pytest.approx(float(special.chdtrc(df, x)), rel=1e-9, abs=1e-300)


def test_homogeneity_is_scipys_contingency_test() -> None:
    stat, df, p = d.homogeneity(REF, CUR)
    ref = stats.chi2_contingency(np.vstack([REF, CUR]), correction=False)
    assert (stat, df) == (pytest.approx(ref.statistic), ref.dof)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_wasserstein_of_binned_data_is_close_to_scipys() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 20000), rng.normal(0.3, 1.2, 20000)
    edges = np.quantile(a, PROBS)  # the profile's grid: 1 % steps and 0.1 % tails
    k = edges.size + 1
    ra = np.bincount(np.searchsorted(edges, a, side="left"), minlength=k).astype(float)
    rb = np.bincount(np.searchsorted(edges, b, side="left"), minlength=k).astype(float)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    exact = stats.wasserstein_distance(a, b)
    assert d.wasserstein_binned(edges, lo, hi, ra, rb) == pytest.approx(exact, rel=0.05)


def test_merge_cells_meets_the_expected_count() -> None:
    ref = np.ones(100)
    starts = d.merge_cells(ref, np.ones(100), 5.0, 50)  # n = 100: 5 per cell -> 20 cells
    assert len(starts) == 20 and starts[0] == 0
    ref = np.full(100, 100.0)
    assert len(d.merge_cells(ref, np.full(100, 1e4), 5.0, 50)) == 50  # capped
    # the reference is a sample too: 100 reference rows give 20 cells, however many
    # current rows there are
    assert len(d.merge_cells(np.ones(100), np.full(100, 1e4), 5.0, 50)) == 20


def test_quantile_groups_are_deciles_for_continuous_bins() -> None:
    # 102 bins of a continuous reference (0.1 % tails, 1 % inside): ten deciles
    ref = np.diff(np.concatenate(([0.0], PROBS, [1.0]))) * 100_000
    starts = d.quantile_groups(ref, 10)
    shares = np.add.reduceat(ref, starts) / ref.sum()
    assert len(starts) == 10 and np.allclose(shares, 0.1)


def test_quantile_groups_keep_point_masses_and_empty_bins_apart() -> None:
    # a constant: below it (none), exactly it (all), above it (none): three cells, where
    # deciles made one and scored any change 0
    assert d.quantile_groups(np.array([0.0, 500.0, 0.0]), 10) == [0, 1, 2]
    # 5 % | point mass 90 % | 5 %: three cells (deciles: one)
    assert d.quantile_groups(np.array([50.0, 900.0, 50.0]), 10) == [0, 1, 2]
    # ordinary bins between point masses are grouped on their own, a short last group
    # joining the one before; adjacent empty bins are one cell
    ref = np.array([0.0, 300.0, 0.0, 0.0] + [10.0] * 25 + [450.0])
    assert d.quantile_groups(ref, 10) == [0, 1, 2, 4, 14, 29]


def test_benjamini_hochberg_matches_the_step_up_rule() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    flags, q = d.benjamini_hochberg(p, 0.05)
    assert flags == [True, True] + [False] * 8
    assert q[0] == pytest.approx(0.01) and q[1] == pytest.approx(0.04)
    assert all(a <= b for a, b in itertools.pairwise(q))


def test_binomial_and_share_tests_match_scipy() -> None:
    assert d.binomial_two_sided(3, 40, 0.02) == pytest.approx(
        min(1.0, 2 * min(stats.binom.sf(2, 40, 0.02), stats.binom.cdf(3, 40, 0.02))), rel=1e-9
    )
    # 2 % vs 10 % missing on 1,000 rows each: clearly different; equal shares: p = 1.
    assert d.share_test(20, 1000, 100, 1000) < 1e-9
    assert d.share_test(20, 1000, 20, 1000) == pytest.approx(1.0)


def test_mmd_separates_shifted_vectors_and_not_equal_ones() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (100, 8))
    same = rng.normal(0, 1, (100, 8))
    shifted = rng.normal(0.5, 1, (100, 8))
    _, p_same = d.mmd_test(x, same, 199, seed=1)
    mmd2, p_shift = d.mmd_test(x, shifted, 199, seed=1)
    assert p_same > 0.05
    assert p_shift == pytest.approx(1 / 200) and mmd2 > 0
    assert math.isfinite(mmd2)


# -- one baseline: tests that hold for the deployment's own baseline -------------------


@pytest.mark.parametrize(("x", "df", "nc"), [(30, 9, 10), (120, 49, 40), (900, 100, 600)])
def test_noncentral_chi2_is_close_to_scipy_and_never_below_it_in_the_tail(
    x: float, df: int, nc: float
) -> None:
    exact = float(stats.ncx2.sf(x, df, nc))
    got = d.noncentral_chi2_sf(x, df, nc)
    assert got == pytest.approx(exact, rel=0.1) or got >= exact
    for p in (0.01, 0.001):  # deeper in the tail Patnaik's p-values err high: conservative
        assert d.noncentral_chi2_sf(float(stats.ncx2.isf(p, df, nc)), df, nc) >= p * 0.98


def test_inverse_survival_functions_match_scipy() -> None:
    assert d.chi2_isf(0.001, 49) == pytest.approx(float(stats.chi2.isf(0.001, 49)), rel=1e-6)
    assert d.normal_isf(0.0005) == pytest.approx(float(stats.norm.isf(0.0005)), rel=1e-6)
    assert d.kolmogorov_isf(0.001) == pytest.approx(float(stats.kstwobign.isf(0.001)), rel=1e-6)


def test_per_baseline_p_values_are_the_two_sample_ones_for_a_large_baseline() -> None:
    # 1,000 live rows against 10^9 baseline rows: the baseline's own error is nothing.
    assert d.chi2_pvalue_per_baseline(60.0, 49, 1e9, 1000) == pytest.approx(
        d.chi2_sf(60.0, 49), rel=1e-3
    )
    assert d.ks_pvalue_per_baseline(0.05, 1e9, 1000) == pytest.approx(
        d.ks_pvalue(0.05, 1e9, 1000), rel=0.05
    )
    assert d.share_test_per_baseline(20_000_000, 10**9, 30, 1000) == pytest.approx(
        d.share_test(20_000_000, 10**9, 30, 1000), rel=0.05
    )


@pytest.mark.parametrize("n_cur", [1_000, 20_000, 1_000_000])
def test_per_baseline_p_values_are_never_below_the_two_sample_ones(n_cur: int) -> None:
    for stat in (20.0, 60.0, 100.0, 200.0):
        assert d.chi2_pvalue_per_baseline(stat, 49, 20_000, n_cur) >= d.chi2_sf(stat, 49)
    for gap in (0.01, 0.03, 0.1):
        assert d.ks_pvalue_per_baseline(gap, 20_000, n_cur) >= d.ks_pvalue(gap, 20_000, n_cur)
    for b in (0, 30, 300):
        p = d.share_test_per_baseline(400, 20_000, round(b * n_cur / 1000), n_cur)
        assert p >= d.share_test(400, 20_000, round(b * n_cur / 1000), n_cur)


@pytest.mark.parametrize("n_cur", [2_000, 20_000, 2_000_000])
def test_an_unlucky_baseline_alarms_at_most_alpha_with_per_baseline_p_values(n_cur: int) -> None:
    # The chi-square statistic of one baseline against its checks, in the Gaussian
    # model: |sqrt(w) z_ref - sqrt(1 - w) z_cur|^2, z_ref fixed at the baseline's own
    # error. A baseline at its 99th percentile (|z_ref|^2 = chi2 quantile 0.99) makes
    # the plain two-sample test alarm in most checks once live rows outnumber it; the
    # per-baseline p-value stays at or below alpha.
    df, n_ref = 49, 20_000
    w = n_cur / (n_ref + n_cur)
    z_ref = np.zeros(df)
    z_ref[0] = math.sqrt(float(stats.chi2.isf(0.01, df)))
    z_cur = np.random.default_rng(n_cur).normal(size=(4000, df))
    t = np.sum((math.sqrt(w) * z_ref - math.sqrt(1 - w) * z_cur) ** 2, axis=1)
    plain = np.mean([d.chi2_sf(float(x), df) < 0.05 for x in t])
    ours = np.mean([d.chi2_pvalue_per_baseline(float(x), df, n_ref, n_cur) < 0.05 for x in t])
    assert ours <= 0.05
    if n_cur >= n_ref:
        assert plain > 0.3


@pytest.mark.parametrize(("n", "m"), [(20_000, 100), (20_000, 1_000), (20_000, 100_000)])
def test_null_distances_are_what_two_samples_of_one_distribution_show(n: int, m: int) -> None:
    rng = np.random.default_rng(m)
    zipf = 1 / np.arange(1, 401)
    for p in (np.full(10, 0.1), zipf / zipf.sum()):
        draws = [(rng.multinomial(n, p) * 1.0, rng.multinomial(m, p) * 1.0) for _ in range(200)]
        tv = np.mean([d.total_variation(r, c) for r, c in draws])
        assert d.tv_null(*draws[0]) == pytest.approx(tv, rel=0.1)
        if min(n, m) * p.min() >= 5:  # PSI's second-order form needs filled cells
            psi = np.mean([d.psi(r, c) for r, c in draws])
            js2 = np.mean([d.js_distance(r, c) ** 2 for r, c in draws])
            assert d.psi_null(*draws[0]) == pytest.approx(psi, rel=0.15)
            assert d.js_null(*draws[0]) ** 2 == pytest.approx(js2, rel=0.15)
    # KS on the profile's 1 % grid: the null is the continuous one, a little above
    edges = np.quantile(rng.normal(size=n), PROBS)

    def binned(k: int) -> np.ndarray:
        x = np.sort(rng.normal(size=k))
        return np.diff(np.concatenate(([0], np.searchsorted(x, edges, "right"), [k]))) * 1.0

    ks = np.mean([d.ks_statistic(binned(n), binned(m)) for _ in range(200)])
    assert ks <= d.ks_null(n, m) <= 1.15 * ks
