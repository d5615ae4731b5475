"""stats/paired.py against reference values (scipy, hand computations) and properties.

scipy.stats is the reference here only: the code under test imports scipy.special alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from release_guard.gate.gate import evaluate
from release_guard.gate.records import EvalRecord, Problems
from release_guard.policy import GateMetric, GatePolicy
from release_guard.stats import paired
from scipy import stats

PROPERTY = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
URIS = {"candidate_uri": "s3://bucket/c.jsonl", "champion_uri": "s3://bucket/h.jsonl"}


# --- the t interval ---------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.80, 0.90, 0.95, 0.99])
@pytest.mark.parametrize("n", [2, 3, 17, 250])
def test_t_interval_matches_scipy_ttest_1samp(n: int, confidence: float) -> None:
    rng = np.random.default_rng(n)
    diff = rng.normal(0.03, 0.2, n)
    ci = paired.paired_mean_diff(diff, None, confidence)
    ref = stats.ttest_1samp(diff, 0.0).confidence_interval(confidence_level=confidence)
    assert ci.estimate == pytest.approx(diff.mean(), rel=1e-12)
    assert (ci.low, ci.high) == (
        pytest.approx(ref.low, rel=1e-9, abs=1e-12),
        pytest.approx(ref.high, rel=1e-9, abs=1e-12),
    )
    assert ci.se == pytest.approx(stats.sem(diff), rel=1e-12)
    assert ci.df == n - 1
    q = stats.t.ppf(0.5 + confidence / 2, n - 1)
    assert ci.high - ci.estimate == pytest.approx(q * stats.sem(diff), rel=1e-9)


def test_one_sided_bound_is_the_two_sided_interval_at_one_minus_two_alpha() -> None:
    # The gate asks for confidence 1 - 2 alpha and reads one end as a one-sided alpha bound.
    diff = np.array([0.1, -0.3, 0.25, 0.05, 0.0, 0.4, -0.1, 0.2])
    alpha = 0.05
    ci = paired.paired_mean_diff(diff, None, 1 - 2 * alpha)
    one_sided = stats.ttest_1samp(diff, 0.0, alternative="greater").confidence_interval(
        confidence_level=1 - alpha
    )
    assert ci.low == pytest.approx(one_sided.low, rel=1e-9)


def test_t_interval_degenerate_inputs() -> None:
    one = paired.paired_mean_diff(np.array([0.3]), None, 0.9)
    assert (one.estimate, one.low, one.high) == (0.3, -math.inf, math.inf)
    flat = paired.paired_mean_diff(np.full(10, 0.25), None, 0.9)
    assert (flat.low, flat.high, flat.se) == (0.25, 0.25, 0.0)


def test_t_sf_matches_scipy() -> None:
    for t, df in [(0.0, 5), (1.7, 9), (-2.3, 30), (4.0, 2.5), (12.0, 1000)]:
        assert paired.t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-7, abs=1e-15)


# --- CR1 cluster-robust standard error --------------------------------------------------


def test_cr1_se_matches_a_hand_computation() -> None:
    # diff 1..6, clusters {1,2} {3,4} {5,6}: mean 3.5; residuals -2.5 -1.5 | -0.5 0.5 |
    # 1.5 2.5; cluster sums -4, 0, 4; sum of squares 32. G = 3:
    # V = G/(G-1) * 32 / n^2 = 1.5 * 32 / 36 = 4/3; SE = sqrt(4/3); df = G - 1 = 2.
    diff = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    clusters = np.array([7, 7, 3, 3, 9, 9])  # labels need not be 0..G-1
    ci = paired.paired_mean_diff(diff, clusters, 0.95)
    se = math.sqrt(4 / 3)
    assert ci.estimate == 3.5
    assert ci.se == pytest.approx(se, rel=1e-12)
    assert ci.df == 2
    half = 4.302652729911275 * se  # t(0.975, 2)
    assert (ci.low, ci.high) == (pytest.approx(3.5 - half), pytest.approx(3.5 + half))


def test_cr1_se_with_unequal_clusters_by_hand() -> None:
    # diff [0.2, -0.1, 0.4 | 0.0 | 0.3 | -0.2, 0.1]: n 7, mean 0.1, G 4.
    # residuals 0.1 -0.2 0.3 | -0.1 | 0.2 | -0.3 0.0 -> sums 0.2, -0.1, 0.2, -0.3
    # sum of squares 0.04 + 0.01 + 0.04 + 0.09 = 0.18; V = 4/3 * 0.18 / 49.
    diff = np.array([0.2, -0.1, 0.4, 0.0, 0.3, -0.2, 0.1])
    clusters = np.array([0, 0, 0, 1, 2, 3, 3])
    ci = paired.paired_mean_diff(diff, clusters, 0.90)
    assert ci.estimate == pytest.approx(0.1)
    assert ci.se == pytest.approx(math.sqrt(4 / 3 * 0.18 / 49), rel=1e-12)
    assert ci.df == 3
    assert ci.high - ci.estimate == pytest.approx(stats.t.ppf(0.95, 3) * ci.se, rel=1e-9)


def test_singleton_clusters_equal_the_iid_interval() -> None:
    # CR1 with one example per cluster is G/(G-1) * sum r^2 / n^2 = s^2 / n exactly.
    diff = np.random.default_rng(3).normal(0, 1, 40)
    iid = paired.paired_mean_diff(diff, None, 0.9)
    cr1 = paired.paired_mean_diff(diff, np.arange(40), 0.9)
    assert cr1.se == pytest.approx(iid.se, rel=1e-12)
    assert (cr1.low, cr1.high, cr1.df) == (pytest.approx(iid.low), pytest.approx(iid.high), 39)


def test_correlated_clusters_widen_the_interval() -> None:
    rng = np.random.default_rng(5)
    shared = np.repeat(rng.normal(0, 1, 50), 4)  # 50 conversations of 4 turns
    diff = shared + rng.normal(0, 0.3, 200)
    iid = paired.paired_mean_diff(diff, None, 0.9)
    cr1 = paired.paired_mean_diff(diff, np.repeat(np.arange(50), 4), 0.9)
    assert cr1.se is not None and iid.se is not None
    assert cr1.se > 1.5 * iid.se


def test_a_single_cluster_gives_no_interval() -> None:
    ci = paired.paired_mean_diff(np.array([0.1, 0.2, 0.3]), np.zeros(3, dtype=np.int64), 0.9)
    assert (ci.low, ci.high) == (-math.inf, math.inf)


# --- Wilson, rule of three, needed_n ----------------------------------------------------


def _wilson_by_hand(k: int, n: int, confidence: float) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("k", "n"), [(0, 10), (10, 10), (1, 10), (7, 20), (593, 600), (600, 600), (0, 1), (50, 100)]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_matches_scipy_and_the_formula(k: int, n: int, confidence: float) -> None:
    ci = paired.wilson(k, n, confidence)
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert ci.estimate == k / n
    assert ci.low == pytest.approx(ref.low, abs=1e-12)
    assert ci.high == pytest.approx(ref.high, abs=1e-12)
    lo, hi = _wilson_by_hand(k, n, confidence)
    assert ci.low == pytest.approx(max(0.0, lo), abs=1e-12)
    assert ci.high == pytest.approx(min(1.0, hi), abs=1e-12)


def test_wilson_at_zero_failures_is_one_over_one_plus_z_squared_over_n() -> None:
    # With all n successes the lower bound is n / (n + z^2): 600 at z(0.95) -> 0.99551.
    z = stats.norm.ppf(0.95)
    assert paired.wilson(600, 600, 0.9).low == pytest.approx(600 / (600 + z * z), rel=1e-12)
    assert paired.wilson(0, 0, 0.9).low == 0.0 and paired.wilson(0, 0, 0.9).high == 1.0


def test_rule_of_three() -> None:
    assert paired.rule_of_three(300) == pytest.approx(0.01)
    assert paired.rule_of_three(600) == pytest.approx(0.005)
    assert paired.rule_of_three(0) == 1.0
    # It is the 95 % exact (Clopper-Pearson) one-sided bound, approximately: 1 - 0.05^(1/n).
    assert paired.rule_of_three(1000) == pytest.approx(1 - 0.05 ** (1 / 1000), rel=0.01)


def test_needed_n_by_hand() -> None:
    # k = (z(0.95) + z(0.8)) * se * sqrt(n) / margin = 2.48647 * 0.02 * 10 / 0.05 = 9.9459;
    # k^2 = 98.92 -> 99 examples.
    assert paired.needed_n(100, 0.02, 0.05, 0.05, 0.8) == 99
    # Halving the margin quadruples the examples.
    assert paired.needed_n(100, 0.02, 0.025, 0.05, 0.8) == math.ceil(4 * 98.9203)
    assert paired.needed_n(100, 0.0, 0.05, 0.05, 0.8) == 100
    # At the planned n, the planned SE clears the margin with the given power.
    n = paired.needed_n(400, 0.013, 0.017, 0.05, 0.8)
    planned_se = 0.013 * math.sqrt(400 / n)
    assert (stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) * planned_se <= 0.017


# --- Holm -------------------------------------------------------------------------------


def test_holm_hand_worked_example() -> None:
    # m = 4 at alpha 0.05; sorted: 0.005 <= 0.0125 yes, 0.01 <= 0.0167 yes,
    # 0.03 <= 0.025 no -> stop: 0.04 is not rejected although 0.04 <= 0.05.
    assert paired.holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    # Step-down stops at the first failure even when a later p would clear alpha / 1.
    assert paired.holm([0.001, 0.02, 0.026, 0.049], 0.05) == [True, False, False, False]
    # All clear when each sorted p clears its threshold 0.0125, 0.0167, 0.025, 0.05.
    assert paired.holm([0.012, 0.016, 0.024, 0.049], 0.05) == [True, True, True, True]
    assert paired.holm([], 0.05) == []
    assert paired.holm([0.05], 0.05) == [True]
    assert paired.holm([0.0501], 0.05) == [False]


def _holm_adjusted(p: list[float]) -> list[float]:
    """Holm's adjusted p-values: max over j <= i of min(1, (m - j) * p_(j))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@PROPERTY
@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30),
    st.sampled_from([0.01, 0.05, 0.1]),
)
def test_holm_equals_adjusted_p_values(p: list[float], alpha: float) -> None:
    rejected = paired.holm(p, alpha)
    adjusted = _holm_adjusted(p)
    for r, a, raw in zip(rejected, adjusted, p, strict=True):
        # Floating point: (m - rank) * p vs p <= alpha / (m - rank) can differ at equality.
        if not math.isclose(a, alpha, rel_tol=1e-9):
            assert r == (a <= alpha), (p, alpha)
        if r:
            assert raw <= alpha


# --- the paired bootstrap of a ratio ----------------------------------------------------


def _lognormal_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    champ = np.exp(rng.normal(0, 0.5, n))
    cand = 1.1 * champ * np.exp(rng.normal(0, 0.2, n))
    return cand, champ


@pytest.mark.parametrize("statistic", ["mean", "p50", "p95", "p99"])
def test_bootstrap_is_deterministic_for_a_seed(statistic: str) -> None:
    cand, champ = _lognormal_pairs(300, 1)
    a = paired.bootstrap_ratio(cand, champ, statistic, 500, 42, 0.9)
    b = paired.bootstrap_ratio(cand, champ, statistic, 500, 42, 0.9)
    c = paired.bootstrap_ratio(cand, champ, statistic, 500, 43, 0.9)
    assert a == b
    assert (c.low, c.high) != (a.low, a.high)
    assert c.estimate == a.estimate  # the point estimate does not resample
    assert a.low <= a.estimate <= a.high


def test_bootstrap_chunk_size_only_bounds_memory() -> None:
    cand, champ = _lognormal_pairs(300, 2)
    ref = paired.bootstrap_ratio(cand, champ, "p95", 500, 3, 0.9)
    for chunk in (1, 7, 64, 1000):
        assert paired.bootstrap_ratio(cand, champ, "p95", 500, 3, 0.9, chunk=chunk) == ref


def test_bootstrap_point_estimates() -> None:
    cand = np.arange(1.0, 101.0) * 2
    champ = np.arange(1.0, 101.0)
    for statistic in ("mean", "p50", "p95"):
        ci = paired.bootstrap_ratio(cand, champ, statistic, 200, 0, 0.9)
        # Exactly proportional pairs: every resample has the same ratio.
        assert (ci.estimate, ci.low, ci.high) == (
            pytest.approx(2.0),
            pytest.approx(2.0),
            pytest.approx(2.0),
        )
    # Nearest-rank p95 of 1..100 is 95.
    ci = paired.bootstrap_ratio(np.arange(1.0, 101.0), np.full(100, 50.0), "p95", 100, 0, 0.9)
    assert ci.estimate == pytest.approx(95 / 50)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_bootstrap_of_a_zero_champion_is_infinite() -> None:
    ci = paired.bootstrap_ratio(np.ones(20), np.zeros(20), "mean", 100, 0, 0.9)
    assert ci.estimate == math.inf
    assert (ci.low, ci.high) == (math.inf, math.inf)


@pytest.mark.parametrize(("statistic", "n"), [("mean", 200), ("p95", 400)])
def test_bootstrap_coverage_on_a_simulated_ratio(statistic: str, n: int) -> None:
    # champion ~ lognormal(0, 0.5); candidate = 1.1 * champion * lognormal(0, 0.2), so
    # log(candidate) ~ N(log 1.1, s_c^2) with s_c^2 = 0.25 + 0.04: the true ratios are known.
    s_h, s_c = 0.5, math.sqrt(0.29)
    true = {
        "mean": 1.1 * math.exp(s_c**2 / 2 - s_h**2 / 2),
        "p95": 1.1 * math.exp(stats.norm.ppf(0.95) * (s_c - s_h)),
    }[statistic]
    reps = 200
    hits = 0
    for k in range(reps):
        cand, champ = _lognormal_pairs(n, 1000 + k)
        ci = paired.bootstrap_ratio(cand, champ, statistic, 400, k, 0.9)
        hits += ci.low <= true <= ci.high
    coverage = hits / reps
    # Nominal 0.90; binomial SE over 200 replications is 0.021. Percentile bootstraps of
    # high quantiles are conservative, so only the mean is held to an upper limit.
    assert coverage >= 0.84, coverage
    if statistic == "mean":
        assert coverage <= 0.96, coverage


# --- properties -------------------------------------------------------------------------


def _gate_decision(cand: list[float], champ: list[float], rule: GateMetric) -> str:
    c = [EvalRecord(id=str(i), system="candidate", scores={"m": v}) for i, v in enumerate(cand)]
    h = [EvalRecord(id=str(i), system="champion", scores={"m": v}) for i, v in enumerate(champ)]
    verdict = evaluate(c, h, Problems(), GatePolicy(**URIS, metrics=[rule], slices=False))
    (row,) = verdict.rows  # one rule, one slice, no floor: one row
    return row.decision


RANK = {"fail": 0, "inconclusive": 1, "pass": 2}
# Scores on a grid of 0.01 in [0.01, 1]: positive (ratios) and no float-noise ties.
grid = st.integers(1, 100).map(lambda v: v / 100)


@PROPERTY
@given(
    st.data(),
    st.integers(2, 40),
    st.integers(1, 30).map(lambda v: v / 100),
    st.sampled_from(["absolute", "relative"]),
    st.sampled_from(["higher_is_better", "lower_is_better"]),
    st.sampled_from([0.0, 0.02, 0.1]),
)
def test_a_uniformly_worse_candidate_never_beats_the_better_one(
    data: st.DataObject, n: int, shift: float, kind: str, direction: str, margin: float
) -> None:
    """Shift every candidate score the worse way: the margin rule (a ratio rule for a
    relative lower-is-better metric) never decides better for it than for the original."""
    better = data.draw(st.lists(grid, min_size=n, max_size=n))
    champion = data.draw(st.lists(grid, min_size=n, max_size=n))
    worse = [v - shift if direction == "higher_is_better" else v + shift for v in better]
    rule = GateMetric.model_validate(
        {"metric": "m", "direction": direction, "margin": margin, "margin_kind": kind}
    )
    d_better = _gate_decision(better, champion, rule)
    d_worse = _gate_decision(worse, champion, rule)
    assert RANK[d_worse] <= RANK[d_better], (d_better, d_worse)


@PROPERTY
@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=60),
    st.sampled_from([0.8, 0.9, 0.95]),
)
def test_duplicating_the_dataset_never_widens_the_t_interval(
    diff: list[float], confidence: float
) -> None:
    d = np.array(diff)
    once = paired.paired_mean_diff(d, None, confidence)
    twice = paired.paired_mean_diff(np.tile(d, 2), None, confidence)
    assert twice.high - twice.low <= (once.high - once.low) * (1 + 1e-9) + 1e-12


@PROPERTY
@given(
    st.lists(
        st.tuples(st.floats(-1, 1, allow_nan=False), st.integers(0, 5)), min_size=2, max_size=60
    ),
    st.booleans(),
)
def test_duplicating_the_dataset_never_widens_the_cr1_interval(
    rows: list[tuple[float, int]], same_clusters: bool
) -> None:
    # Copies in their own clusters (more conversations) narrow the interval; copies in
    # the same clusters (longer conversations, perfectly correlated) leave it unchanged.
    d = np.array([v for v, _ in rows])
    cl = np.array([c for _, c in rows], dtype=np.int64)
    once = paired.paired_mean_diff(d, cl, 0.9)
    copy_cl = cl if same_clusters else cl + 100
    twice = paired.paired_mean_diff(np.tile(d, 2), np.concatenate([cl, copy_cl]), 0.9)
    if math.isinf(once.high - once.low):
        return
    assert twice.high - twice.low <= (once.high - once.low) * (1 + 1e-9) + 1e-12


@PROPERTY
@given(st.integers(1, 400), st.data(), st.sampled_from([0.9, 0.95]))
def test_doubling_the_trials_never_widens_the_wilson_interval(
    n: int, data: st.DataObject, confidence: float
) -> None:
    k = data.draw(st.integers(0, n))
    once = paired.wilson(k, n, confidence)
    twice = paired.wilson(2 * k, 2 * n, confidence)
    assert twice.high - twice.low <= once.high - once.low + 1e-12
