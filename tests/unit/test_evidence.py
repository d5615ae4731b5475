"""Per-rule evidence (release_guard.canary.evidence): one rule + both variants'
per-period series -> a Finding, with the numbers a person needs to check it.

Series are scripted per period with tests/unit/fakes.py (``steady``, ``period``)
from the start of the release; the current step is the periods from ``step_from``.
"""

from __future__ import annotations

import math

import pytest
from release_guard.canary import evidence
from release_guard.canary.evidence import Series
from release_guard.canary.metrics import CATALOG, SAGEMAKER, series_key
from release_guard.events import Finding
from release_guard.policy import CanaryPolicy, MetricRule

from tests.unit.fakes import (
    ERRORS_5XX,
    INVOCATIONS,
    LATENCY_SAMPLES,
    Period,
    app_key,
    latency_key,
    period,
    series,
    steady,
)

POLICY = CanaryPolicy()
FIVE_XX = POLICY.metrics[0]  # <= 5 % absolute and <= 1.25x champion, critical
P95_2X = POLICY.metrics[1]  # p95 <= 2x champion, critical
P95_110 = POLICY.metrics[2]  # p95 <= 1.1x champion, not critical
GUARDRAIL = POLICY.metrics[3]
FEEDBACK = POLICY.metrics[4]  # negative feedback <= 2x champion, hold
COST = POLICY.metrics[5]  # cost per request <= 2x champion, hold
A = evidence.alpha_each(POLICY)


def finding(
    rule: MetricRule,
    cand: list[Period],
    champ: list[Period],
    step_from: int = 0,
    policy: CanaryPolicy = POLICY,
) -> Finding:
    s = series(cand, champ, step_from)
    kind = CATALOG[rule.metric].kind
    a = evidence.alpha_each(policy)
    if kind == "rate":
        return evidence.rate(rule, s, policy, a)
    return evidence.ordered(rule, s, policy, a)


def by_label(policy: CanaryPolicy, s: Series) -> dict[str, Finding]:
    return {f.metric: f for f in evidence.evaluate(policy, s)}


def with_key(
    rows: list[Period], key: str, value: float | None, at: int | None = None
) -> list[Period]:
    """A copy with ``key`` set to ``value`` in every period (or only at index ``at``)."""
    out = [dict(r) for r in rows]
    for i, row in enumerate(out):
        if at is None or i == at:
            row[key] = value
    return out


def without_key(rows: list[Period], key: str) -> list[Period]:
    return [{k: v for k, v in r.items() if k != key} for r in rows]


# --- set-up the evidence relies on --------------------------------------------------------


def test_the_release_alpha_is_split_over_every_regression_test() -> None:
    # 5XX has two thresholds (absolute and ratio); the five other rules one each.
    assert evidence.alpha_each(POLICY) == pytest.approx(0.05 / 7)
    only = CanaryPolicy(alpha=0.01, metrics=[MetricRule(metric="5xx_rate", max_absolute=0.02)])
    assert evidence.alpha_each(only) == pytest.approx(0.01)


def test_each_rule_asks_cloudwatch_for_its_own_series() -> None:
    ns = "Churn/GenAI"
    assert evidence.keys(FIVE_XX, ns) == [
        (SAGEMAKER, "Invocation5XXErrors", "Sum"),
        (SAGEMAKER, "Invocations", "Sum"),
    ]
    p99 = MetricRule(metric="model_latency", statistic="p99", max_ratio=1.5)
    assert evidence.keys(p99, ns) == [
        (SAGEMAKER, "ModelLatency", "p99"),
        (SAGEMAKER, "ModelLatency", "SampleCount"),
    ]
    assert evidence.keys(GUARDRAIL, ns) == [
        (ns, "GuardrailTriggers", "Sum"),
        (ns, "Requests", "Sum"),
    ]
    assert evidence.keys(COST, ns) == [(ns, "CostUSD", "Sum"), (ns, "Requests", "Sum")]
    ttft = MetricRule(metric="time_to_first_token", statistic="p90", max_ratio=1.5)
    assert evidence.keys(ttft, ns) == [
        (ns, "TimeToFirstToken", "p90"),
        (ns, "TimeToFirstToken", "SampleCount"),
    ]
    # The fakes' keys are the judge's keys.
    assert series_key(*evidence.keys(FIVE_XX, ns)[0]) == ERRORS_5XX
    assert series_key(*evidence.keys(FIVE_XX, ns)[1]) == INVOCATIONS
    assert series_key(*evidence.keys(P95_2X, ns)[0]) == latency_key("p95")
    assert series_key(*evidence.keys(P95_2X, ns)[1]) == LATENCY_SAMPLES
    assert series_key(*evidence.keys(GUARDRAIL, ns)[0]) == app_key("GuardrailTriggers")


# --- rates ---------------------------------------------------------------------------------


def test_a_5xx_rate_conclusively_above_5_percent_fails() -> None:
    f = finding(FIVE_XX, steady(5, 200, 0.2), steady(5, 3800, 0.01))
    assert f.outcome == "fail"
    assert f.action == "rollback" and f.critical
    assert f.candidate == pytest.approx(0.2) and f.champion == pytest.approx(0.01)
    assert (f.candidate_n, f.champion_n) == (1000, 19_000)
    assert "conclusively above 5.00%" in f.reason
    assert "20.00%" in f.reason
    assert f.e_value is not None and f.e_value >= 1 / A


def test_above_the_ceiling_but_not_yet_conclusive_is_pending_not_fail() -> None:
    # 6 errors in 100 requests: over 5 %, but far from conclusive.
    rule = MetricRule(metric="5xx_rate", max_absolute=0.05)
    f = finding(rule, [period(100, 6)], [period(1900, 2)])
    assert f.outcome == "pending"
    assert f.candidate == pytest.approx(0.06)
    assert f.e_value is not None and f.e_value < 1 / A


def test_a_candidate_at_the_ceiling_is_never_a_conclusive_regression() -> None:
    rule = MetricRule(metric="5xx_rate", max_absolute=0.05)
    for n in (1, 5, 20, 60):
        f = finding(rule, steady(n, 1000, 0.05), steady(n, 19_000, 0.05))
        assert f.outcome != "fail", (n, f.reason)


def test_a_ratio_rule_passes_with_enough_traffic_at_the_champions_rate() -> None:
    f = finding(FIVE_XX, steady(12, 1000, 0.01), steady(12, 19_000, 0.01))
    assert f.outcome == "pass"
    assert f.threshold == 1.25
    assert f.interval is not None
    lo, hi = f.interval
    assert lo < 1.0 < hi < 1.5
    assert "within the allowance" in f.reason and "rate ratio in [" in f.reason


def test_rate_findings_carry_their_evidence() -> None:
    f = finding(FIVE_XX, steady(8, 60, 0.02), steady(8, 1140, 0.01), step_from=3)
    assert f.threshold is not None
    assert (f.candidate_n, f.champion_n) == (480, 9120)
    assert f.candidate == pytest.approx(10 / 480)
    assert f.interval is not None and f.interval[0] <= f.interval[1]
    assert f.e_value is not None
    assert f.reason.strip()


def test_too_few_candidate_requests_this_step_is_pending_with_what_is_missing() -> None:
    # 900 requests in earlier steps, 40 in this one: min_sample (100) is per step.
    cand = steady(9, 100, 0.01) + steady(2, 20, 0.0)
    champ = steady(11, 1900, 0.01)
    f = finding(FIVE_XX, cand, champ, step_from=9)
    assert f.outcome == "pending"
    assert f.required_n == 60
    assert "40 of 100 candidate requests this step" in f.reason


def test_low_traffic_rates_say_how_many_requests_the_evidence_needs() -> None:
    f = finding(FIVE_XX, steady(10, 50, 0.001), steady(10, 950, 0.001))
    assert f.outcome == "pending"
    assert f.required_n is not None and f.required_n > 1000
    assert "evidence needs ~" in f.reason
    assert int(f.reason.split("evidence needs ~")[1].split()[0]) == f.required_n + 500


def test_negative_feedback_two_and_a_half_times_the_champion_fails_with_hold() -> None:
    feedback = {"NegativeFeedback": 0.05}
    cand = steady(20, 500, 0.01, app_rates=feedback)
    champ = steady(20, 9500, 0.01, app_rates={"NegativeFeedback": 0.02})
    f = finding(FEEDBACK, cand, champ)
    assert f.outcome == "fail"
    assert f.action == "hold" and not f.critical
    assert f.candidate == pytest.approx(0.05) and f.champion == pytest.approx(0.02)
    assert f.interval is not None and f.interval[0] > 2.0
    assert "conclusively over 2x the champion" in f.reason


def test_app_metrics_are_read_from_the_policys_namespace() -> None:
    ns = "Churn/GenAI"
    policy = CanaryPolicy(app_namespace=ns)
    numerator, denominator = (series_key(*k) for k in evidence.keys(GUARDRAIL, ns))
    assert (numerator, denominator) == (app_key("GuardrailTriggers"), app_key("Requests"))
    cand = steady(20, 500, app_rates={"GuardrailTriggers": 0.2})
    champ = steady(20, 9500, app_rates={"GuardrailTriggers": 0.01})
    f = finding(GUARDRAIL, cand, champ, policy=policy)
    assert f.outcome == "fail" and f.action == "rollback" and not f.critical


# --- latency and means ----------------------------------------------------------------------


def test_a_p95_conclusively_above_twice_the_champion_fails() -> None:
    f = finding(P95_2X, steady(15, 200, p95_us=250_000), steady(15, 3800, p95_us=100_000))
    assert f.outcome == "fail"
    assert f.action == "rollback" and f.critical
    assert f.candidate == 250_000 and f.champion == 100_000
    assert f.ratio == pytest.approx(2.5)
    assert f.periods == 15
    assert "250 ms" in f.reason and "100 ms" in f.reason and "15 of 15 periods" in f.reason


def test_a_few_slow_periods_are_not_yet_conclusive() -> None:
    f = finding(P95_2X, steady(4, 200, p95_us=250_000), steady(4, 3800, p95_us=100_000))
    assert f.outcome == "pending"
    assert f.required_periods is not None and f.required_periods > 0
    assert "clean periods" in f.reason


def test_latency_within_the_allowance_passes_after_enough_clean_periods() -> None:
    f = finding(P95_2X, steady(15, 200, p95_us=150_000), steady(15, 3800, p95_us=100_000))
    assert f.outcome == "pass"
    assert f.ratio == pytest.approx(1.5)
    # ... and the stricter non-critical 1.1x rule sees the same periods as regressions.
    g = finding(P95_110, steady(15, 200, p95_us=150_000), steady(15, 3800, p95_us=100_000))
    assert g.outcome == "fail" and not g.critical


def test_periods_with_too_few_latency_samples_are_skipped() -> None:
    thin = steady(15, 5, p95_us=900_000)  # < min_period_samples (10) per period
    f = finding(P95_2X, thin, steady(15, 3800, p95_us=100_000))
    assert f.outcome == "no_data"
    assert "10+" in f.reason
    assert f.candidate_n == 75


def test_cost_per_request_is_a_mean_over_requests() -> None:
    cand = steady(15, 500, app_means={"CostUSD": 0.005})
    champ = steady(15, 9500, app_means={"CostUSD": 0.002})
    f = finding(COST, cand, champ)
    assert f.outcome == "fail" and f.action == "hold"
    assert f.candidate == pytest.approx(0.005) and f.champion == pytest.approx(0.002)
    assert f.ratio == pytest.approx(2.5)


def test_at_100_percent_the_champions_earlier_periods_still_count() -> None:
    """The champion serves nothing at the last step; the latency evidence gathered
    while it served is not forgotten: the critical rule stays pass."""
    cand = steady(20, 1000, p95_us=110_000) + steady(10, 20_000, p95_us=110_000)
    for idle in ([period(0, 0, None) for _ in range(10)], [{} for _ in range(10)]):
        champ = steady(20, 19_000, p95_us=100_000) + idle
        f = finding(P95_2X, cand, champ, step_from=20)
        assert f.outcome == "pass", f.reason
        assert f.periods == 20
        assert f.candidate_n == 220_000


# --- no data is never a pass -----------------------------------------------------------------

HEALTHY_C = steady(12, 3000, 0.001, 110_000)
HEALTHY_H = steady(12, 57_000, 0.001, 100_000)


def test_the_healthy_reference_passes_every_critical_rule() -> None:
    found = by_label(POLICY, series(HEALTHY_C, HEALTHY_H))
    assert found[FIVE_XX.label].outcome == "pass"
    assert found[P95_2X.label].outcome == "pass"


QUALITY = "data quality"
CORRUPT_RATES = [
    ("errors NaN", lambda r: with_key(r, ERRORS_5XX, None), "without the bad-event"),
    ("errors missing", lambda r: without_key(r, ERRORS_5XX), "without the bad-event"),
    ("errors > requests", lambda r: with_key(r, ERRORS_5XX, 10**6, at=4), "more bad events"),
    ("negative errors", lambda r: with_key(r, ERRORS_5XX, -1, at=4), "negative counts"),
    ("negative requests", lambda r: with_key(r, INVOCATIONS, -10, at=4), "negative counts"),
]


@pytest.mark.parametrize(("name", "corrupt", "words"), CORRUPT_RATES)
@pytest.mark.parametrize("side", ["candidate", "champion"])
def test_corrupt_counts_are_no_data_with_a_data_quality_reason(
    name: str, corrupt: object, words: str, side: str
) -> None:
    assert callable(corrupt)
    cand = corrupt(HEALTHY_C) if side == "candidate" else HEALTHY_C
    champ = corrupt(HEALTHY_H) if side == "champion" else HEALTHY_H
    f = finding(FIVE_XX, cand, champ)
    assert f.outcome == "no_data", name
    assert f.reason.startswith(f"{QUALITY} ({side} Invocation5XXErrors)"), f.reason
    assert words in f.reason


@pytest.mark.parametrize(
    ("cand", "champ", "words"),
    [
        (with_key(HEALTHY_C, INVOCATIONS, None), HEALTHY_H, "no Invocations published"),
        (without_key(HEALTHY_C, INVOCATIONS), HEALTHY_H, "no Invocations published"),
        (steady(12, 0), HEALTHY_H, "no Invocations published"),
        ([{}] * 12, HEALTHY_H, "no Invocations published"),
        (HEALTHY_C, steady(12, 0), "the champion served nothing"),
    ],
)
def test_absent_traffic_is_no_data_saying_what_is_missing(
    cand: list[Period], champ: list[Period], words: str
) -> None:
    f = finding(FIVE_XX, cand, champ)
    assert f.outcome == "no_data"
    assert words in f.reason
    assert f.threshold is not None and f.reason.strip()


@pytest.mark.parametrize(
    ("cand", "champ", "words"),
    [
        (with_key(HEALTHY_C, latency_key("p95"), None), HEALTHY_H, "no ModelLatency published"),
        (HEALTHY_C, without_key(HEALTHY_H, latency_key("p95")), "no period with 10+"),
        (without_key(HEALTHY_C, LATENCY_SAMPLES), HEALTHY_H, "no period with 10+"),
        (steady(12, 0), HEALTHY_H, "no ModelLatency published"),
        (with_key(HEALTHY_C, LATENCY_SAMPLES, 0), HEALTHY_H, "no period with 10+"),
        (with_key(HEALTHY_C, latency_key("p95"), -5.0, at=3), HEALTHY_H, "data quality"),
        (HEALTHY_C, with_key(HEALTHY_H, latency_key("p95"), -5.0, at=3), "data quality"),
    ],
)
def test_latency_without_usable_periods_is_no_data(
    cand: list[Period], champ: list[Period], words: str
) -> None:
    f = finding(P95_2X, cand, champ)
    assert f.outcome == "no_data"
    assert words in f.reason


@pytest.mark.parametrize(
    ("rule", "key"),
    [(P95_2X, LATENCY_SAMPLES), (COST, app_key("Requests"))],
    ids=["ModelLatency SampleCount", "app Requests"],
)
def test_negative_sample_counts_are_no_data_with_a_data_quality_reason(
    rule: MetricRule, key: str
) -> None:
    means = {"CostUSD": 0.002}
    cand = with_key(steady(20, 3000, 0.001, 110_000, app_means=means), key, -5, at=3)
    champ = steady(20, 57_000, 0.001, 100_000, app_means=means)
    f = finding(rule, cand, champ)
    assert f.outcome == "no_data", f.reason  # got "pass"
    assert "data quality" in f.reason
    assert f.candidate_n >= 0


def test_the_absolute_ceiling_needs_no_champion_data() -> None:
    cand = steady(10, 100, 0.3)  # 30 % 5XX over 1,000 requests
    f = finding(FIVE_XX, cand, [{} for _ in range(10)])
    assert f.outcome == "fail", f.reason  # got no_data
    assert (
        "conclusively above 5.00%" in f.reason
    )  # got "no Invocations published for the candidate"


def test_every_finding_of_a_full_policy_carries_its_numbers() -> None:
    rates = {"GuardrailTriggers": 0.01, "NegativeFeedback": 0.02}
    cand = steady(15, 500, 0.01, 120_000, app_rates=rates, app_means={"CostUSD": 0.002})
    champ = steady(15, 9500, 0.01, 100_000, app_rates=rates, app_means={"CostUSD": 0.002})
    found = evidence.evaluate(POLICY, series(cand, champ))
    assert [f.metric for f in found] == [r.label for r in POLICY.metrics]
    for f, rule in zip(found, POLICY.metrics, strict=True):
        assert f.threshold == (rule.max_ratio if rule.max_ratio is not None else rule.max_absolute)
        assert f.candidate_n > 0 and f.champion_n > 0
        assert f.reason.strip()
        assert f.critical == rule.critical and f.action == rule.action
        assert f.e_value is not None and math.isfinite(f.e_value)
        if CATALOG[rule.metric].kind == "rate":
            assert f.interval is not None
            assert 0 <= f.interval[0] <= f.interval[1]
        else:
            assert f.periods == 15 and f.ratio is not None


def test_findings_survive_the_ledgers_json() -> None:
    f = finding(FIVE_XX, steady(5, 200, 0.2), steady(5, 3800, 0.01))
    assert Finding.model_validate(f.model_dump(mode="json")) == f
