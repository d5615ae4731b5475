"""Judge Canary as a workflow state: read both variants' per-period series for the
whole release, judge, record the verdict once. Kept apart from release.py so that only
the judge function pays for numpy at cold start."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from release_guard.canary import evidence
from release_guard.canary.evidence import Series
from release_guard.canary.judge import judge, operator_overrides
from release_guard.canary.metrics import SAGEMAKER, align, series_key
from release_guard.canary.ports import Ledger, Metrics
from release_guard.events import (
    CanaryState,
    MetricsSnapshot,
    ReleaseContext,
    VariantMetrics,
    Verdict,
)
from release_guard.policy import CanaryPolicy


def watch_verdict(verdict: Verdict) -> Verdict:
    """After promotion only a conclusive failure matters: it rolls back; anything
    else ends the watch (the candidate already passed every step)."""
    if verdict.action == "rollback":
        return verdict
    return verdict.model_copy(
        update={
            "action": "promote",
            "next_step_index": None,
            "wait_seconds": 0,
            "reason": f"no conclusive regression in the post-promotion watch ({verdict.reason})",
        }
    )


def wanted_series(policy: CanaryPolicy) -> dict[str, tuple[str, str, str]]:
    """Every series the policy's rules read, by key, Invocations first."""
    wanted = {series_key(SAGEMAKER, "Invocations", "Sum"): (SAGEMAKER, "Invocations", "Sum")}
    for rule in policy.metrics:
        for item in evidence.keys(rule, policy.app_namespace):
            wanted.setdefault(series_key(*item), item)
    return wanted


def _arrays(values: dict[str, list[float | None]]) -> dict[str, np.ndarray]:
    return {
        k: np.array([np.nan if v is None else v for v in vs], dtype=float)
        for k, vs in values.items()
    }


def _summary(values: dict[str, np.ndarray], step: np.ndarray) -> VariantMetrics:
    """What the timeline shows for a variant in the current step."""

    def total(metric: str) -> int | None:
        arr = values.get(series_key(SAGEMAKER, metric, "Sum"))
        if arr is None or not np.any(np.isfinite(arr[step])):
            return None
        return int(np.nansum(arr[step]))

    p95 = values.get(series_key(SAGEMAKER, "ModelLatency", "p95"))
    n = values.get(series_key(SAGEMAKER, "ModelLatency", "SampleCount"))
    finite = p95[step][np.isfinite(p95[step])] if p95 is not None else np.array([])
    return VariantMetrics(
        invocations=total("Invocations"),
        errors_4xx=total("Invocation4XXErrors"),
        errors_5xx=total("Invocation5XXErrors"),
        p95_latency_us=float(np.median(finite)) if finite.size else None,
        latency_samples=int(np.nansum(n[step])) if n is not None else 0,
    )


MAX_PERIODS = 360  # per look: a judge item stays far below DynamoDB's 400 KB


def _value(x: float) -> float | None:
    return float(f"{x:.6g}") if np.isfinite(x) else None


def step_periods(
    starts: np.ndarray,
    step: np.ndarray,
    cand: dict[str, np.ndarray],
    champ: dict[str, np.ndarray],
    period: int,
) -> dict[str, object]:
    """The series the judge read, per variant, for the periods ``step`` selects (at
    most the last MAX_PERIODS): what the release report charts. Every look of a step
    records them again (CloudWatch fills late datapoints); a report keeps the latest
    value of each period. NaN (no datapoint) is null."""
    idx = np.flatnonzero(step)[-MAX_PERIODS:]
    first = int(idx[0]) if idx.size else len(starts)
    return {
        "start": int(starts[first]) if idx.size else None,
        "seconds": period,
        "candidate": {k: [_value(x) for x in v[first:]] for k, v in cand.items()},
        "champion": {k: [_value(x) for x in v[first:]] for k, v in champ.items()},
    }


def judge_canary(
    ctx: ReleaseContext,
    state: CanaryState,
    metrics: Metrics,
    ledger: Ledger,
    now: datetime,
    watch: bool = False,
) -> tuple[CanaryState, Verdict, bool]:
    """Read both variants' per-period series for the whole release, judge, apply the
    operator's pause and promote marks from the release summary (not to a watch),
    record once. Returns the new state, the verdict and whether it was first decided
    now."""
    canary = ctx.policy.canary
    period = canary.metric_period_seconds
    start = align(ctx.started_at, period)
    end = max(start, now - timedelta(seconds=canary.metric_delay_seconds))
    wanted = wanted_series(canary)
    cand = _arrays(
        metrics.variant_series(ctx.endpoint_name, ctx.candidate.name, start, end, period, wanted)
    )
    champ = _arrays(
        metrics.variant_series(ctx.endpoint_name, ctx.champion.name, start, end, period, wanted)
    )
    count = len(next(iter(cand.values()), []))
    starts = np.array([start.timestamp() + i * period for i in range(count)])
    step = starts + period > state.step_started_at.timestamp()
    series = Series(candidate=cand, champion=champ, step=step, period_seconds=period)
    # For the report: this step's periods, and those before it that the previous step's
    # last look could not see yet (the metric delay and a check interval before the shift).
    lead = canary.metric_delay_seconds + canary.check_interval_seconds + period
    since = state.step_started_at.timestamp() - lead
    verdict = judge(series, state, canary, ctx.policy.version, now, (start, end))
    if watch:
        verdict = watch_verdict(verdict)
    else:  # pause and promote marks (`release-guard release pause|promote`)
        meta = ledger.summary(ctx.release_id)
        verdict = operator_overrides(verdict, canary, meta, now, state.step_started_at)
    snapshot = MetricsSnapshot(
        window_start=start,
        window_end=end,
        candidate=_summary(cand, step),
        champion=_summary(champ, step),
    )
    kind = "WATCH" if watch else "JUDGE"
    written, item = ledger.record_once(
        ctx.release_id,
        f"02#STEP#{state.step_index:02d}#{kind}#{verdict.checks:04d}",
        {
            "kind": "watch" if watch else "judge",
            "at": now.isoformat(),
            "verdict": verdict.model_dump(mode="json"),
            "snapshot": snapshot.model_dump(mode="json"),
            "periods": step_periods(starts, starts + period > since, cand, champ, period),
        },
    )
    if not written:
        verdict = Verdict.model_validate(item["verdict"])
    return state.model_copy(update={"checks": verdict.checks}), verdict, written
