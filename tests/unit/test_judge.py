"""The canary judge: hand-computed reference cases and properties over all inputs.

Default policy: steps 5/25/50/100 %, min bake 600 s, max bake 3600 s, check every 60 s,
5XX ceiling 5 %, p95 ratio 2.0, judged from 100 candidate invocations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard.canary.judge import judge
from release_guard.events import CanaryState, Finding, MetricsSnapshot, VariantMetrics, Verdict
from release_guard.policy import CanaryPolicy, GuardRules

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = CanaryPolicy()
PROPS = settings(max_examples=200, derandomize=True, deadline=None)


def metrics(
    n: int | None = 1000,
    errors: int | None = 0,
    p95: float | None = 100_000.0,
    samples: int | None = None,
) -> VariantMetrics:
    return VariantMetrics(
        invocations=n,
        errors_4xx=0 if n is not None else None,
        errors_5xx=errors,
        p95_latency_us=p95,
        latency_samples=n or 0 if samples is None else samples,
    )


CHAMPION = metrics(n=19_000, errors=19, p95=100_000.0)


def run(
    candidate: VariantMetrics,
    champion: VariantMetrics = CHAMPION,
    elapsed: float = 700,
    step: int = 0,
    policy: CanaryPolicy = POLICY,
    reference: float | None = None,
    checks: int = 0,
) -> Verdict:
    state = CanaryState(
        step_index=step,
        percent=policy.steps[step],
        step_started_at=T0,
        checks=checks,
    )
    snapshot = MetricsSnapshot(
        window_start=T0,
        window_end=T0 + timedelta(seconds=elapsed),
        candidate=candidate,
        champion=champion,
    )
    return judge(snapshot, state, policy, "p-1", T0 + timedelta(seconds=elapsed), reference)


def finding(verdict: Verdict, metric: str) -> Finding:
    (found,) = [f for f in verdict.findings if f.metric == metric]
    return found


# --- reference cases ------------------------------------------------------------------


def test_two_errors_in_100_is_within_a_5_percent_ceiling() -> None:
    verdict = run(metrics(n=100, errors=2, p95=120_000))
    rate = finding(verdict, "5xx_rate")
    assert rate.outcome == "pass"
    assert rate.candidate == pytest.approx(0.02)
    assert rate.champion == pytest.approx(0.001)
    assert rate.threshold == 0.05
    assert rate.candidate_n == 100 and rate.champion_n == 19_000
    assert "2.00%" in rate.reason
    assert finding(verdict, "p95_model_latency").outcome == "pass"  # 1.2x <= 2.0x
    assert verdict.action == "next_step"
    assert verdict.next_step_index == 1
    assert verdict.wait_seconds == 0
    assert "25 %" in verdict.reason


def test_exactly_the_ceiling_passes() -> None:
    assert finding(run(metrics(n=100, errors=5)), "5xx_rate").outcome == "pass"


def test_six_errors_in_100_rolls_back() -> None:
    verdict = run(metrics(n=100, errors=6))
    rate = finding(verdict, "5xx_rate")
    assert rate.outcome == "fail"
    assert rate.candidate == pytest.approx(0.06)
    assert verdict.action == "rollback"
    assert "6.00%" in verdict.reason
    assert "5.00%" in verdict.reason
    assert verdict.next_step_index is None
    assert verdict.wait_seconds == 0


def test_a_failure_rolls_back_even_before_the_minimum_bake() -> None:
    assert run(metrics(n=100, errors=6), elapsed=60).action == "rollback"


def test_below_min_invocations_keeps_baking_with_pending_findings() -> None:
    verdict = run(metrics(n=99, errors=1, p95=100_000), elapsed=700)
    assert verdict.action == "keep_baking"
    assert [f.outcome for f in verdict.findings] == ["pending", "pending"]
    assert "99 of 100" in verdict.reason
    assert verdict.wait_seconds == POLICY.check_interval_seconds


def test_below_min_invocations_even_a_bad_rate_is_not_judged_yet() -> None:
    verdict = run(metrics(n=50, errors=40), elapsed=700)
    assert verdict.action == "keep_baking"
    assert finding(verdict, "5xx_rate").outcome == "pending"


def test_p95_two_and_a_half_times_the_champion_rolls_back() -> None:
    verdict = run(metrics(n=500, errors=0, p95=250_000))
    latency = finding(verdict, "p95_model_latency")
    assert latency.outcome == "fail"
    assert latency.candidate == 250_000 and latency.champion == 100_000
    assert latency.threshold == 2.0
    assert verdict.action == "rollback"
    assert "2.50x" in verdict.reason
    assert "250.0 ms" in verdict.reason and "100.0 ms" in verdict.reason


def test_p95_exactly_twice_the_champion_passes() -> None:
    assert finding(run(metrics(p95=200_000)), "p95_model_latency").outcome == "pass"


LAST = len(POLICY.steps) - 1
AT_100 = VariantMetrics(invocations=0, errors_4xx=0, errors_5xx=0, p95_latency_us=None)


def test_at_100_percent_the_champion_reference_is_used() -> None:
    verdict = run(metrics(n=400, p95=150_000), champion=AT_100, step=LAST, reference=100_000)
    latency = finding(verdict, "p95_model_latency")
    assert latency.outcome == "pass"
    assert latency.champion == 100_000
    assert "last window with traffic" in latency.reason
    assert verdict.action == "promote"
    assert verdict.next_step_index is None


def test_at_100_percent_a_slow_candidate_against_the_reference_rolls_back() -> None:
    verdict = run(metrics(n=400, p95=250_000), champion=AT_100, step=LAST, reference=100_000)
    assert verdict.action == "rollback"
    assert "2.50x" in verdict.reason


def test_at_100_percent_without_a_reference_there_is_no_latency_evidence() -> None:
    verdict = run(metrics(n=400, p95=150_000), champion=AT_100, step=LAST, reference=None)
    assert finding(verdict, "p95_model_latency").outcome == "no_data"
    assert verdict.action == "keep_baking"


def test_a_live_champion_p95_wins_over_the_reference() -> None:
    verdict = run(metrics(p95=150_000), reference=50_000)  # 1.5x live, 3x reference
    assert finding(verdict, "p95_model_latency").champion == 100_000
    assert verdict.action == "next_step"


NO_DATA = VariantMetrics(invocations=None, errors_4xx=None, errors_5xx=None, p95_latency_us=None)


def test_no_candidate_data_keeps_baking() -> None:
    verdict = run(NO_DATA, elapsed=3599)
    assert verdict.action == "keep_baking"
    assert [f.outcome for f in verdict.findings] == ["no_data", "no_data"]
    assert verdict.wait_seconds == 60


@pytest.mark.parametrize("on_insufficient", ["hold", "rollback"])
def test_no_data_after_max_bake_follows_the_policy(on_insufficient: str) -> None:
    policy = CanaryPolicy(on_insufficient_data=on_insufficient)  # type: ignore[arg-type]
    verdict = run(NO_DATA, elapsed=3600, policy=policy)
    assert verdict.action == on_insufficient
    assert "3600" in verdict.reason
    assert verdict.wait_seconds == 0


@pytest.mark.parametrize("on_insufficient", ["hold", "rollback"])
def test_too_little_data_after_max_bake_follows_the_policy(on_insufficient: str) -> None:
    policy = CanaryPolicy(on_insufficient_data=on_insufficient)  # type: ignore[arg-type]
    assert run(metrics(n=10), elapsed=4000, policy=policy).action == on_insufficient


@pytest.mark.parametrize(
    ("elapsed", "wait"),
    [(570, 30), (599, 1), (599.5, 1), (100, 60), (0, 60)],
)
def test_passing_data_before_min_bake_keeps_baking_no_longer_than_needed(
    elapsed: float, wait: int
) -> None:
    verdict = run(metrics(), elapsed=elapsed)
    assert verdict.action == "keep_baking"
    assert "minimum bake" in verdict.reason
    assert verdict.wait_seconds == wait
    remaining = POLICY.min_bake_seconds - elapsed
    assert verdict.wait_seconds <= max(1, -(-remaining // 1))


def test_more_errors_than_invocations_is_no_data_never_a_pass() -> None:
    verdict = run(metrics(n=100, errors=101), elapsed=700)
    rate = finding(verdict, "5xx_rate")
    assert rate.outcome == "no_data"
    assert rate.candidate is None
    assert "inconsistent" in rate.reason
    assert verdict.action == "keep_baking"
    assert run(metrics(n=100, errors=101), elapsed=3600).action == "hold"
    assert run(metrics(n=100, errors=-1), elapsed=700).action == "keep_baking"


def test_the_verdict_carries_window_policy_version_and_check_count() -> None:
    verdict = run(metrics(), elapsed=700, checks=4)
    assert verdict.checks == 5
    assert verdict.policy_version == "p-1"
    assert verdict.window_start == T0
    assert verdict.window_end == T0 + timedelta(seconds=700)
    assert verdict.step_index == 0 and verdict.percent == 5.0


# --- properties ----------------------------------------------------------------------------

RANK = {"rollback": 0, "hold": 1, "keep_baking": 2, "next_step": 3, "promote": 3}

policies = st.builds(
    CanaryPolicy,
    on_insufficient_data=st.sampled_from(["hold", "rollback"]),
    min_bake_seconds=st.integers(1, 1200),
    max_bake_seconds=st.integers(1, 7200),
    guards=st.builds(
        GuardRules,
        max_5xx_rate=st.sampled_from([0.001, 0.01, 0.05, 0.2]),
        max_p95_latency_ratio=st.sampled_from([1.1, 1.5, 2.0, 3.0]),
        min_invocations=st.integers(1, 500),
    ),
)
p95s = st.floats(min_value=1.0, max_value=5e6, allow_nan=False)
optional_p95 = st.none() | p95s
elapsed_s = st.sampled_from([0.0, 599.0, 600.0, 1300.0, 3600.0, 7200.0]) | st.floats(0, 10_000)
steps = st.integers(0, LAST)
ratios = st.sampled_from([0.5, 1.0, 1.3, 1.8, 2.5, 3.5]) | st.floats(min_value=0.1, max_value=5.0)
counts = st.sampled_from([0, 99, 100, 500, 1000, 5000]) | st.integers(0, 5000)


def error_counts(n: int) -> st.SearchStrategy[int]:
    """Mostly small error rates (where the ceilings are), sometimes anything up to n."""
    return st.integers(0, n // 50) | st.integers(0, n // 5) | st.integers(0, n)


@st.composite
def champions(draw: st.DrawFn) -> VariantMetrics:
    n = draw(st.none() | st.integers(0, 100_000))
    errors = None if n is None else draw(error_counts(n))
    return VariantMetrics(
        invocations=n,
        errors_4xx=None,
        errors_5xx=errors,
        p95_latency_us=draw(p95s | optional_p95),
        latency_samples=draw(st.integers(0, 100_000)),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[VariantMetrics, VariantMetrics, VariantMetrics]:
    """(better, worse, champion): the worse candidate has at least as many errors and at
    least as high a p95 as the better one, over the same number of requests."""
    champion = draw(champions())
    n = draw(counts)
    good_errors = draw(error_counts(n))
    bad_errors = good_errors + draw(error_counts(n - good_errors))
    base = champion.p95_latency_us or draw(p95s)
    good_p95 = base * draw(ratios)
    bad_p95 = good_p95 * draw(st.sampled_from([1.0, 2.0]) | st.floats(1.0, 4.0))
    better = VariantMetrics(
        invocations=n,
        errors_4xx=0,
        errors_5xx=good_errors,
        p95_latency_us=good_p95,
        latency_samples=n,
    )
    worse = better.model_copy(update={"errors_5xx": bad_errors, "p95_latency_us": bad_p95})
    return better, worse, champion


@PROPS
@given(
    scenario=scenarios(),
    policy=policies,
    elapsed=elapsed_s,
    step=steps,
    reference=optional_p95,
)
def test_a_worse_candidate_never_gets_a_better_action(
    scenario: tuple[VariantMetrics, VariantMetrics, VariantMetrics],
    policy: CanaryPolicy,
    elapsed: float,
    step: int,
    reference: float | None,
) -> None:
    better, worse, champion = scenario
    good = run(better, champion, elapsed, step, policy, reference)
    bad = run(worse, champion, elapsed, step, policy, reference)
    assert RANK[bad.action] <= RANK[good.action], (good.reason, bad.reason)


@st.composite
def candidates_missing_data(draw: st.DrawFn) -> VariantMetrics:
    n = draw(st.none() | st.integers(0, 100_000))
    errors = draw(st.none() | st.integers(0, 100_000))
    p95 = draw(optional_p95)
    missing = draw(st.sampled_from(["invocations", "errors", "p95"]))
    return VariantMetrics(
        invocations=None if missing == "invocations" else n,
        errors_4xx=draw(st.none() | st.integers(0, 10)),
        errors_5xx=None if missing == "errors" else errors,
        p95_latency_us=None if missing == "p95" else p95,
        latency_samples=draw(st.integers(0, 100_000)),
    )


@PROPS
@given(
    candidate=candidates_missing_data(),
    champion=champions(),
    policy=policies,
    elapsed=elapsed_s,
    step=steps,
    reference=optional_p95,
)
def test_missing_data_never_advances(
    candidate: VariantMetrics,
    champion: VariantMetrics,
    policy: CanaryPolicy,
    elapsed: float,
    step: int,
    reference: float | None,
) -> None:
    verdict = run(candidate, champion, elapsed, step, policy, reference)
    assert verdict.action not in ("next_step", "promote"), verdict.reason
    assert any(f.outcome in ("no_data", "pending", "fail") for f in verdict.findings)


@st.composite
def any_candidate(draw: st.DrawFn) -> VariantMetrics:
    n = draw(st.none() | st.integers(0, 100_000))
    errors = st.integers(-5, 100_000) if n is None else error_counts(n) | st.integers(-5, 2 * n)
    return VariantMetrics(
        invocations=n,
        errors_4xx=draw(st.none() | st.integers(0, 10)),
        errors_5xx=draw(st.none() | errors),
        p95_latency_us=draw(st.none() | st.floats(min_value=-1.0, max_value=1e7) | p95s),
        latency_samples=draw(st.integers(0, 100_000)),
    )


# Realistic (candidate, champion) pairs, and anything the model admits.
judged_pairs = scenarios().map(lambda s: (s[0], s[2])) | st.tuples(any_candidate(), champions())


@PROPS
@given(
    pair=judged_pairs,
    policy=policies,
    elapsed=elapsed_s,
    step=steps,
    reference=optional_p95,
    checks=st.integers(0, 1000),
)
def test_every_verdict_explains_itself(
    pair: tuple[VariantMetrics, VariantMetrics],
    policy: CanaryPolicy,
    elapsed: float,
    step: int,
    reference: float | None,
    checks: int,
) -> None:
    candidate, champion = pair
    verdict = run(candidate, champion, elapsed, step, policy, reference, checks)
    assert verdict.reason.strip()
    assert verdict.checks == checks + 1
    assert {f.metric for f in verdict.findings} == {"5xx_rate", "p95_model_latency"}
    for f in verdict.findings:
        assert isinstance(f.candidate_n, int) and f.candidate_n >= 0
        assert isinstance(f.champion_n, int) and f.champion_n >= 0
        assert f.threshold is not None
        assert f.reason.strip()
    if verdict.action in ("next_step", "promote"):
        assert all(f.outcome == "pass" for f in verdict.findings)
        assert elapsed >= policy.min_bake_seconds
        assert (verdict.action == "promote") == (step == LAST)
    if verdict.action == "keep_baking":
        assert verdict.wait_seconds >= 1
    else:
        assert verdict.wait_seconds == 0
