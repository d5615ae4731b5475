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
    assert len(d.merge_cells(ref, np.full(100, 1e4), 5.0, 50)) == 50  # capped


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
