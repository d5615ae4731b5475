"""The anytime-valid tests of release_guard.stats.sequential.

Reference values against scipy (the module itself must not import it), monotonicity
properties, and small seeded simulations: the false-alarm rate under continuous
peeking (with a naive fixed-sample test as the control that shows what the
correction buys) and the power to catch a real regression.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard.stats import sequential as seq
from scipy.special import logsumexp
from scipy.stats import binom

PROPS = settings(max_examples=40, derandomize=True, deadline=None)
Z_95 = 1.6448536269514722  # one-sided 5 % normal quantile


def log_mean_exp(values: np.ndarray) -> float:
    return float(logsumexp(values) - math.log(values.size))


# --- reference values -------------------------------------------------------------------


def test_log_lr_of_a_batch_is_the_binomial_log_pmf_difference() -> None:
    x = np.array([3.0, 0.0, 7.0, 12.0])
    n = np.array([50.0, 20.0, 40.0, 12.0])
    th0 = np.array([0.05, 0.1, 0.2, 0.5])
    grid = np.linspace(0.06, 0.95, 9)
    th1 = np.broadcast_to(grid[:, None], (grid.size, x.size))
    got = seq._log_lr(x[None, :], n[None, :], th0[None, :], th1)
    assert got.shape == (grid.size, x.size)
    for g, p1 in enumerate(grid):
        want = binom.logpmf(x, n, p1) - binom.logpmf(x, n, th0)
        np.testing.assert_allclose(got[g], want, rtol=1e-10, atol=1e-10)


def test_proportion_test_is_the_log_mean_exp_of_the_grids_likelihood_ratios() -> None:
    x = np.array([4.0, 9.0, 2.0])
    n = np.array([100.0, 120.0, 80.0])
    p0 = 0.05
    above = np.linspace(p0 + (1 - p0) / 64, 1 - (1 - p0) / 64, 48)
    below = np.exp(np.linspace(np.log(p0 / 1000), np.log(p0 * 63 / 64), 48))
    for side, grid in (("above", above), ("below", below)):
        per_alt = np.array([np.sum(binom.logpmf(x, n, p1) - binom.logpmf(x, n, p0)) for p1 in grid])
        ev = seq.proportion_test(x, n, p0, 0.01, side=side)
        assert ev.log_e == pytest.approx(log_mean_exp(per_alt), rel=1e-9, abs=1e-9)
        assert ev.threshold == pytest.approx(math.log(100))


@pytest.mark.parametrize("side", ["above", "below"])
def test_rate_ratio_test_is_the_mixture_over_the_candidates_share_of_errors(side: str) -> None:
    xc = np.array([2.0, 5.0, 0.0, 3.0])
    nc = np.array([150.0, 400.0, 0.0, 150.0])  # a period without candidate traffic
    xh = np.array([28.0, 30.0, 12.0, 0.0])
    nh = np.array([2850.0, 1600.0, 3000.0, 2850.0])
    r0 = 1.25
    keep = (nc > 0) & (nh > 0) & (xc + xh > 0)
    k_c, k_n, k_h, k_m = xc[keep], nc[keep], xh[keep], nh[keep]
    share0 = r0 * k_n / (r0 * k_n + k_m)
    grid = seq.ratio_grid(r0, side)
    per_alt = []
    for r in grid:
        share1 = r * k_n / (r * k_n + k_m)
        trials = k_c + k_h
        per_alt.append(
            np.sum(binom.logpmf(k_c, trials, share1) - binom.logpmf(k_c, trials, share0))
        )
    ev = seq.rate_ratio_test(xc, nc, xh, nh, r0, 0.05, side=side)
    assert ev.log_e == pytest.approx(log_mean_exp(np.array(per_alt)), rel=1e-9, abs=1e-9)


def test_the_ratio_grids_lie_beyond_the_null() -> None:
    above, below = seq.ratio_grid(2.0, "above"), seq.ratio_grid(2.0, "below")
    assert above.size == below.size == 48
    assert np.all(above > 2.0) and above.max() == pytest.approx(100.0)
    assert np.all(below < 2.0) and below.min() == pytest.approx(2.0 / 50)
    np.testing.assert_allclose(np.diff(np.log(above)), np.diff(np.log(above))[0])


def test_share_is_the_candidates_probability_of_owning_an_error() -> None:
    # Equal rates, 5 % of the traffic: 5 % of the errors; twice the rate: ~9.5 %.
    assert seq.share(1.0, 50, 950) == pytest.approx(0.05)
    assert seq.share(2.0, 50, 950) == pytest.approx(100 / 1050)


def test_batches_without_information_are_a_factor_of_one() -> None:
    assert seq.rate_ratio_test([], [], [], [], 1.0, 0.05).log_e == 0.0
    assert seq.rate_ratio_test([0, 0], [100, 0], [0, 5], [900, 900], 1.0, 0.05).log_e == 0.0
    assert seq.proportion_test([0], [0], 0.05, 0.05).log_e == 0.0
    base = seq.rate_ratio_test([3], [100], [10], [900], 1.0, 0.05)
    # no errors on either side, no candidate traffic, no champion traffic
    padded = seq.rate_ratio_test(
        [3, 0, 4, 2], [100, 100, 0, 100], [10, 0, 6, 3], [900, 900, 900, 0], 1.0, 0.05
    )
    assert padded.log_e == pytest.approx(base.log_e)


def test_evidence_rejects_at_one_over_alpha() -> None:
    ev = seq.Evidence(log_e=math.log(20), threshold=math.log(20))
    assert ev.rejected and ev.e_value == pytest.approx(20)
    assert not seq.Evidence(log_e=math.log(19.99), threshold=math.log(20)).rejected
    assert seq.Evidence(log_e=5000.0, threshold=3.0).e_value < math.inf


# --- required_trials ----------------------------------------------------------------------


def test_required_trials_grows_as_the_alternative_nears_the_null() -> None:
    needs = [seq.required_trials(0.05, p1, 0.01) for p1 in (0.5, 0.2, 0.1, 0.07, 0.06, 0.052)]
    assert all(b > a for a, b in itertools.pairwise(needs)), needs
    assert seq.required_trials(0.05, 0.05, 0.01) == 0  # nothing to detect


def test_required_trials_grows_with_smaller_alpha_and_more_power() -> None:
    by_alpha = [seq.required_trials(0.05, 0.1, a) for a in (0.2, 0.05, 0.01, 1e-3, 1e-6)]
    assert all(b > a for a, b in itertools.pairwise(by_alpha)), by_alpha
    by_power = [seq.required_trials(0.05, 0.1, 0.05, p) for p in (0.5, 0.8, 0.9, 0.99)]
    assert all(b > a for a, b in itertools.pairwise(by_power)), by_power


@pytest.mark.parametrize(
    ("p0", "p1", "alpha", "power"),
    [(0.05, 0.1, 0.05 / 7, 0.8), (0.01, 0.03, 0.01, 0.9), (0.2, 0.3, 0.01, 0.8)],
)
def test_required_trials_delivers_its_power(
    p0: float, p1: float, alpha: float, power: float
) -> None:
    """At the required count a single look rejects with at least the stated power
    (400 seeded draws; slack 0.05)."""
    n = seq.required_trials(p0, p1, alpha, power)
    rng = np.random.default_rng(11)
    hits = [seq.proportion_test([x], [n], p0, alpha).rejected for x in rng.binomial(n, p1, 400)]
    assert np.mean(hits) >= power - 0.05, (n, np.mean(hits))


# --- ratio_interval ------------------------------------------------------------------------


def seeded_release(seed: int, periods: int = 20, ratio: float = 2.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    nc, nh = np.full(periods, 500.0), np.full(periods, 9500.0)
    xc = rng.binomial(500, 0.01 * ratio, periods).astype(float)
    xh = rng.binomial(9500, 0.01, periods).astype(float)
    return xc, nc, xh, nh


def test_the_interval_contains_the_true_ratio() -> None:
    covered = 0
    for seed in range(40):
        lo, hi = seq.ratio_interval(*seeded_release(seed), 0.05)
        covered += lo <= 2.0 <= hi
        assert 0 < lo < hi < math.inf
    assert covered >= 38  # a confidence sequence at 5 %: misses are rare


def test_the_interval_narrows_with_more_data() -> None:
    xc, nc, xh, nh = seeded_release(7)
    lo1, hi1 = seq.ratio_interval(xc, nc, xh, nh, 0.05)
    lo2, hi2 = seq.ratio_interval(*(np.concatenate([v, v]) for v in (xc, nc, xh, nh)), 0.05)
    assert lo1 <= lo2 <= 2.0 <= hi2 <= hi1
    assert hi2 / lo2 < 0.85 * (hi1 / lo1)
    # Fewer periods of the same release: wider.
    lo_h, hi_h = seq.ratio_interval(xc[:5], nc[:5], xh[:5], nh[:5], 0.05)
    assert hi_h / lo_h > hi1 / lo1


def test_no_information_is_the_whole_half_line() -> None:
    assert seq.ratio_interval([0], [100], [0], [900], 0.05) == (0.0, math.inf)
    assert seq.ratio_interval([], [], [], [], 0.05) == (0.0, math.inf)
    lo, hi = seq.ratio_interval([0], [1000], [40], [1000], 0.05)  # no candidate errors
    assert lo == 0.0 and hi < 1.0


def test_overwhelming_evidence_of_a_huge_ratio_never_widens_the_interval() -> None:
    one = seq.ratio_interval([50], [1000], [0], [19_000], 0.05)
    assert one[0] > 40 and one[1] == math.inf  # (53.8, inf)
    three = seq.ratio_interval([50] * 3, [1000] * 3, [0] * 3, [19_000] * 3, 0.05)
    assert three[0] >= one[0] and three[1] == math.inf  # got (0.0, inf)


@st.composite
def releases(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Per-period counts near given rates (both within [0.5 %, 10 %]: ratios the
    interval's grid covers), with small per-period deviations."""
    periods = draw(st.integers(1, 12))
    p_c = draw(st.floats(0.005, 0.1))
    p_h = draw(st.floats(0.005, 0.1))
    nc = np.array(draw(st.lists(st.integers(50, 2000), min_size=periods, max_size=periods)))
    nh = np.array(draw(st.lists(st.integers(500, 20_000), min_size=periods, max_size=periods)))
    wiggle = st.lists(st.integers(-2, 2), min_size=periods, max_size=periods)
    xc = np.clip(np.round(nc * p_c) + np.array(draw(wiggle)), 0, nc)
    xh = np.clip(np.round(nh * p_h) + np.array(draw(wiggle)), 0, nh)
    return xc.astype(float), nc.astype(float), xh.astype(float), nh.astype(float)


@PROPS
@given(data=releases())
def test_the_same_data_twice_never_widens_the_interval(data: tuple[np.ndarray, ...]) -> None:
    lo1, hi1 = seq.ratio_interval(*data, 0.05)
    lo2, hi2 = seq.ratio_interval(*(np.concatenate([v, v]) for v in data), 0.05)
    assert lo1 <= lo2 and hi2 <= hi1, ((lo1, hi1), (lo2, hi2))


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    data=releases(),
    extra=st.integers(1, 20),
    r0=st.sampled_from([0.8, 1.0, 1.25, 2.0, 3.0]),
    where=st.integers(0, 11),
)
def test_more_candidate_errors_are_never_less_evidence_of_a_regression(
    data: tuple[np.ndarray, ...], extra: int, r0: float, where: int
) -> None:
    xc, nc, xh, nh = data
    i = where % xc.size
    worse = xc.copy()
    worse[i] = min(nc[i], worse[i] + extra)
    for side, sign in (("above", 1), ("below", -1)):
        good = seq.rate_ratio_test(xc, nc, xh, nh, r0, 0.05, side=side).log_e
        bad = seq.rate_ratio_test(worse, nc, xh, nh, r0, 0.05, side=side).log_e
        assert sign * (bad - good) >= -1e-9, (side, good, bad)
        p_good = seq.proportion_test(xc, nc, 0.05, 0.05, side=side).log_e
        p_bad = seq.proportion_test(worse, nc, 0.05, 0.05, side=side).log_e
        assert sign * (p_bad - p_good) >= -1e-9, (side, p_good, p_bad)


def ratio_interval_loop(xc, nc, xh, nh, alpha):  # type: ignore[no-untyped-def]
    """ratio_interval as it was before the separable sums: one full log-LR matrix per
    candidate ratio. The reference the fast one must equal exactly."""
    xc, nc, xh, nh = (np.asarray(v, dtype=float) for v in (xc, nc, xh, nh))
    keep = (nc > 0) & (nh > 0) & (xc + xh > 0)
    if not np.any(keep):
        return 0.0, float("inf")
    xc, nc, xh, nh = xc[keep], nc[keep], xh[keep], nh[keep]
    candidates = np.exp(np.linspace(np.log(1 / 64), np.log(64), 193))
    alts = np.exp(np.linspace(np.log(1 / 100), np.log(100), 81))
    log_w = np.full(alts.size, -np.log(alts.size))
    th1 = seq.share(alts[:, None], nc[None, :], nh[None, :])
    inside = []
    for r in candidates:
        th0 = seq.share(r, nc, nh)[None, :]
        total = seq._log_lr(xc[None, :], (xc + xh)[None, :], th0, th1).sum(axis=1)
        inside.append(seq._log_mix(total, log_w) < np.log(1.0 / alpha))
    ok = candidates[np.array(inside)]
    if ok.size == 0:
        above = xh.sum() == 0 or (xc.sum() / nc.sum()) / (xh.sum() / nh.sum()) > 1
        return (float(candidates[-1]), float("inf")) if above else (0.0, float(candidates[0]))
    lo = 0.0 if ok[0] == candidates[0] else float(ok[0])
    hi = float("inf") if ok[-1] == candidates[-1] else float(ok[-1])
    return lo, hi


@settings(max_examples=120, derandomize=True, deadline=None)
@given(
    data=releases(),
    repeat=st.integers(1, 20),
    alpha=st.sampled_from([0.05, 0.01, 0.0125, 0.001]),
)
def test_the_separable_interval_equals_the_term_by_term_one(
    data: tuple[np.ndarray, ...], repeat: int, alpha: float
) -> None:
    data = tuple(np.tile(v, repeat) for v in data)  # up to 240 periods
    assert seq.ratio_interval(*data, alpha) == ratio_interval_loop(*data, alpha)


def test_the_interval_equals_the_term_by_term_one_on_judged_series() -> None:
    rng = np.random.default_rng(12)
    for periods in (1, 5, 60, 240):
        for p_c, p_h in ((0.001, 0.001), (0.01, 0.01), (0.01, 0.02), (0.05, 0.01), (0.0, 0.01)):
            for _ in range(4):
                nc = rng.poisson(rng.uniform(1, 3000), periods).astype(float)
                nh = rng.poisson(rng.uniform(1, 30_000), periods).astype(float)
                xc = rng.binomial(nc.astype(int), p_c).astype(float)
                xh = rng.binomial(nh.astype(int), p_h).astype(float)
                got = seq.ratio_interval(xc, nc, xh, nh, 0.05)
                assert got == ratio_interval_loop(xc, nc, xh, nh, 0.05)


def test_a_candidate_on_the_threshold_is_decided_term_by_term(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the recheck margin wide open every candidate goes the slow way: the same
    answer, so the recheck path computes what the reference computes."""
    data = seeded_release(3, periods=30)
    fast = seq.ratio_interval(*data, 0.05)
    monkeypatch.setattr(seq, "_RECHECK", 1e6)
    assert seq.ratio_interval(*data, 0.05) == fast == ratio_interval_loop(*data, 0.05)


# --- simulations ---------------------------------------------------------------------------

PERIODS = 60
N_CAND, N_CHAMP = 150, 2850  # 5 % of 3,000 requests a period


def naive_z_rejects(xc: np.ndarray, xh: np.ndarray) -> bool:
    """A fixed-sample one-sided two-proportion z-test at 5 %, applied at every look
    to the cumulative counts: what a judge without the peeking correction would do."""
    looks = np.arange(1, xc.size + 1)
    cx, hx = np.cumsum(xc), np.cumsum(xh)
    cn, hn = N_CAND * looks, N_CHAMP * looks
    pooled = (cx + hx) / (cn + hn)
    se = np.sqrt(pooled * (1 - pooled) * (1 / cn + 1 / hn))
    z = np.divide(cx / cn - hx / hn, se, out=np.zeros_like(se), where=se > 0)
    return bool(np.any(z > Z_95))


def test_a_and_a_peeking_after_every_period_keeps_the_false_alarm_rate() -> None:
    """400 releases of two identical variants (1 % errors), judged after each of 60
    periods: the anytime-valid test rejects 'candidate <= champion' in at most 8 %
    of them (alpha 5 % plus binomial slack); the naive test, peeking the same way,
    in more than 10 %."""
    rng = np.random.default_rng(20250301)
    nc, nh = np.full(PERIODS, float(N_CAND)), np.full(PERIODS, float(N_CHAMP))
    sequential = naive = 0
    releases_run = 400
    for _ in range(releases_run):
        xc = rng.binomial(N_CAND, 0.01, PERIODS).astype(float)
        xh = rng.binomial(N_CHAMP, 0.01, PERIODS).astype(float)
        sequential += any(
            seq.rate_ratio_test(xc[:k], nc[:k], xh[:k], nh[:k], 1.0, 0.05).rejected
            for k in range(1, PERIODS + 1)
        )
        naive += naive_z_rejects(xc, xh)
    assert sequential / releases_run <= 0.08, sequential
    assert naive / releases_run > 0.10, naive


def test_peeking_at_an_absolute_ceiling_keeps_the_false_alarm_rate() -> None:
    """A candidate exactly at a 5 % ceiling, judged after each of 60 periods of
    100 requests: proportion_test rejects in at most 8 % of 200 releases."""
    rng = np.random.default_rng(5)
    n = np.full(PERIODS, 100.0)
    alarms = 0
    for _ in range(200):
        x = rng.binomial(100, 0.05, PERIODS).astype(float)
        alarms += any(
            seq.proportion_test(x[:k], n[:k], 0.05, 0.05).rejected for k in range(1, PERIODS + 1)
        )
    assert alarms / 200 <= 0.08, alarms


def test_a_five_fold_error_rate_is_caught_within_ten_periods() -> None:
    """1 % -> 5 % errors at 150 / 2,850 requests a period, tested against the default
    5XX ratio allowance (1.25x) at the default policy's per-test alpha (0.05 / 7):
    rejected within 10 looks in at least 95 % of 200 runs."""
    rng = np.random.default_rng(99)
    alpha = 0.05 / 7
    nc, nh = np.full(10, float(N_CAND)), np.full(10, float(N_CHAMP))
    caught = 0
    for _ in range(200):
        xc = rng.binomial(N_CAND, 0.05, 10).astype(float)
        xh = rng.binomial(N_CHAMP, 0.01, 10).astype(float)
        caught += any(
            seq.rate_ratio_test(xc[:k], nc[:k], xh[:k], nh[:k], 1.25, alpha).rejected
            for k in range(1, 11)
        )
    assert caught / 200 >= 0.95, caught
