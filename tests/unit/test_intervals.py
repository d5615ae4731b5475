"""The intervals the release report draws for every rule, and what the judge records for
the report: confidence sequences for an absolute rate and for the median period ratio
(release_guard.stats.sequential), the findings that carry them, their JSON form (no
infinity), and the per-period values of each judge look."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import pytest
from release_guard.aws import ledger as ledger_io
from release_guard.canary import evidence, judging
from release_guard.events import Finding, Verdict
from release_guard.policy import CanaryPolicy, MetricRule
from release_guard.stats import sequential as seq

from tests.unit.fakes import FakeMetrics, series, steady
from tests.unit.test_release import CHAMPION, HEALTHY, IDLE, T0, canary_ready, shift

POLICY = CanaryPolicy()
ABSOLUTE = MetricRule(metric="5xx_rate", max_absolute=0.05, min_sample=20)
P95 = POLICY.metrics[1]  # p95 <= 2x champion


# --- a rate -------------------------------------------------------------------------------


def test_the_rate_interval_holds_the_estimate_and_narrows() -> None:
    lo, hi = seq.proportion_interval([5], [100], 0.05)
    assert lo < 0.05 < hi < 0.2
    lo2, hi2 = seq.proportion_interval([50], [1000], 0.05)
    assert lo < lo2 < 0.05 < hi2 < hi
    assert seq.proportion_interval([], [], 0.05) == (0.0, 1.0)
    lo0, hi0 = seq.proportion_interval([0], [2000], 0.05)
    assert lo0 == 0.0 and 0 < hi0 < 0.005


def test_the_rate_interval_covers_the_true_rate_at_every_look() -> None:
    """Anytime-valid: the chance that any of 25 looks misses the rate stays <= alpha."""
    rng = np.random.default_rng(7)
    misses, runs, p = 0, 120, 0.03
    for _ in range(runs):
        x = rng.binomial(40, p, size=25)
        for k in range(1, 26):
            lo, hi = seq.proportion_interval(x[:k], np.full(k, 40), 0.1)
            if not lo <= p <= hi:
                misses += 1
                break
    assert misses / runs <= 0.1


# --- the median period ratio ----------------------------------------------------------------


def test_the_median_interval_has_observed_ends_and_is_open_with_few_periods() -> None:
    assert seq.median_interval([1.3], 0.05) == (0.0, math.inf)
    assert seq.median_interval([], 0.05) == (0.0, math.inf)
    values = np.linspace(0.8, 1.2, 41)
    lo, hi = seq.median_interval(values, 0.05)
    assert lo in values and hi in values and lo < 1.0 < hi
    lo2, hi2 = seq.median_interval(np.concatenate([values, values, values]), 0.05)
    assert lo <= lo2 < 1.0 < hi2 <= hi


def test_the_median_interval_covers_the_true_median_at_every_look() -> None:
    rng = np.random.default_rng(11)
    misses, runs, median = 0, 300, 1.2
    for _ in range(runs):
        ratios = median * np.exp(rng.normal(0, 0.3, size=60))
        for k in range(1, 61):
            lo, hi = seq.median_interval(ratios[:k], 0.1)
            if not lo <= median <= hi:
                misses += 1
                break
    assert misses / runs <= 0.1


# --- the findings that carry them -----------------------------------------------------------


def test_an_absolute_ceiling_gets_an_interval_on_the_rate_scale() -> None:
    s = series(steady(6, 200, 0.04), steady(6, 3800, 0.01))
    f = evidence.rate(ABSOLUTE, s, POLICY, evidence.alpha_each(POLICY))
    assert f.interval is not None and f.candidate is not None
    assert f.interval[0] <= f.candidate <= f.interval[1] < 1
    assert f.threshold == 0.05
    assert "rate ratio" not in f.reason  # the sentence is unchanged
    bare = evidence.rate(ABSOLUTE, s, POLICY, evidence.alpha_each(POLICY), intervals=False)
    assert bare.interval is None and bare.outcome == f.outcome


def test_a_latency_rule_gets_an_interval_of_the_median_period_ratio() -> None:
    s = series(steady(30, 1000, 0.0, 150_000), steady(30, 19_000, 0.0, 100_000))
    f = evidence.ordered(P95, s, POLICY, evidence.alpha_each(POLICY))
    assert f.interval is not None and f.ratio is not None
    assert f.interval[0] <= f.ratio <= f.interval[1]
    assert f.interval == pytest.approx((1.5, 1.5))
    bare = evidence.ordered(P95, s, POLICY, evidence.alpha_each(POLICY), intervals=False)
    assert bare.interval is None and bare.outcome == f.outcome


def test_an_unbounded_interval_is_null_in_json_and_infinity_again_when_read() -> None:
    f = Finding(
        metric="model_latency p95 <= 2x champion",
        outcome="pending",
        candidate=1.0,
        champion=1.0,
        threshold=2.0,
        candidate_n=10,
        champion_n=100,
        reason="few periods",
        interval=(0.0, math.inf),
    )
    dumped = f.model_dump(mode="json")
    assert dumped["interval"] == [0.0, None]
    json.dumps(dumped, allow_nan=False)  # Step Functions takes no Infinity
    stored = ledger_io._from_ddb(ledger_io._to_ddb(dumped))
    assert Finding.model_validate(stored) == f


# --- what a judge look records for the report -----------------------------------------------


def test_a_judge_look_records_its_steps_periods_for_both_variants() -> None:
    eps, ledger, ctx = canary_ready()
    policy = ctx.policy.model_copy(
        update={"canary": ctx.policy.canary.model_copy(update={"metric_delay_seconds": 0})}
    )
    ctx = ctx.model_copy(update={"policy": policy})
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    eps.settle()
    metrics = FakeMetrics({"v7": IDLE + HEALTHY, "v6": CHAMPION})
    now = t1 + timedelta(seconds=700)
    judging.judge_canary(ctx, state, metrics, ledger, now)
    periods = ledger.record(ctx.release_id, "02#STEP#00#JUDGE#0001")["periods"]
    # The step's periods (from t1, a period boundary, to the end of the judged window)
    # and those before it that the previous step's last look could not see yet: metric
    # delay (none in this policy) + check interval (60 s) + one period = two periods.
    assert ctx.policy.canary.metric_delay_seconds == 0
    assert periods["start"] == int(t1.timestamp()) - 2 * 60 and periods["seconds"] == 60
    cand, champ = periods["candidate"], periods["champion"]
    assert set(cand) == set(champ) and "Invocations:Sum" in cand and "ModelLatency:p95" in cand
    assert cand["Invocations:Sum"] == [None] * 2 + [1000] * 11  # no traffic before t1
    assert set(cand["ModelLatency:p95"][2:]) == {110_000}
    assert champ["Invocations:Sum"] == [19_000] * 13


def test_periods_reach_back_by_the_metric_delay_and_a_check_interval() -> None:
    eps, ledger, ctx = canary_ready()
    assert ctx.policy.canary.metric_delay_seconds == 120  # the built-in policy's
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    eps.settle()
    metrics = FakeMetrics({"v7": IDLE + HEALTHY, "v6": CHAMPION})
    judging.judge_canary(ctx, state, metrics, ledger, t1 + timedelta(seconds=700))
    periods = ledger.record(ctx.release_id, "02#STEP#00#JUDGE#0001")["periods"]
    assert periods["start"] == int(t1.timestamp()) - 4 * 60


def test_periods_without_a_datapoint_are_null_and_a_look_keeps_the_last_ones() -> None:
    starts = np.arange(1000) * 60.0
    step = starts >= 60 * 10
    values = {"Invocations:Sum": np.where(np.arange(1000) % 2 == 0, 5.0, np.nan)}
    out = judging.step_periods(starts, step, values, values, 60)
    assert out["start"] == int(starts[-judging.MAX_PERIODS])
    column = out["candidate"]["Invocations:Sum"]  # type: ignore[index]
    assert len(column) == judging.MAX_PERIODS and None in column and 5.0 in column
    empty = judging.step_periods(starts, np.zeros(1000, bool), values, values, 60)
    assert empty["start"] is None and empty["candidate"] == {"Invocations:Sum": []}


def test_a_redelivered_look_with_an_open_interval_returns_the_first_verdict() -> None:
    eps, ledger, ctx = canary_ready()
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    eps.settle()
    metrics = FakeMetrics({"v7": IDLE + HEALTHY, "v6": CHAMPION})
    # Two periods past the built-in 120 s metric delay: every interval still open.
    now = t1 + timedelta(seconds=130 + ctx.policy.canary.metric_delay_seconds)
    _, first, written = judging.judge_canary(ctx, state, metrics, ledger, now)
    assert written and any(f.interval and math.isinf(f.interval[1]) for f in first.findings)
    _, again, written_again = judging.judge_canary(ctx, state, metrics, ledger, now)
    assert not written_again
    assert isinstance(again, Verdict) and again == first
