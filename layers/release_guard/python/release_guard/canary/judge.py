"""The canary judge: metrics snapshot + policy -> verdict with per-metric reasons.

These are the guard rules of a first release: an absolute 5XX ceiling and a p95
latency ratio to the champion, each judged only once the step has its minimum
sample. No data, or too little, is never a pass. The function is pure: the caller
passes the clock and the metrics.
"""

from __future__ import annotations

from datetime import datetime

from release_guard.events import (
    Action,
    CanaryState,
    Finding,
    MetricsSnapshot,
    VariantMetrics,
    Verdict,
)
from release_guard.policy import CanaryPolicy


def _rate_finding(
    cand: VariantMetrics, champ: VariantMetrics, ceiling: float, min_n: int
) -> Finding:
    n = cand.invocations or 0
    champ_rate = (
        champ.errors_5xx / champ.invocations
        if champ.invocations and champ.errors_5xx is not None
        else None
    )
    if cand.invocations is None or cand.errors_5xx is None:
        return Finding(
            metric="5xx_rate",
            outcome="no_data",
            candidate=None,
            champion=champ_rate,
            threshold=ceiling,
            candidate_n=n,
            champion_n=champ.invocations or 0,
            reason="no Invocations/Invocation5XXErrors published for the candidate",
        )
    if cand.errors_5xx > cand.invocations or cand.errors_5xx < 0:
        return Finding(
            metric="5xx_rate",
            outcome="no_data",
            candidate=None,
            champion=champ_rate,
            threshold=ceiling,
            candidate_n=n,
            champion_n=champ.invocations or 0,
            reason=f"inconsistent data: {cand.errors_5xx} errors for {n} invocations",
        )
    rate = cand.errors_5xx / n if n else 0.0
    common = {
        "metric": "5xx_rate",
        "candidate": rate,
        "champion": champ_rate,
        "threshold": ceiling,
        "candidate_n": n,
        "champion_n": champ.invocations or 0,
    }
    if n < min_n:
        return Finding(
            outcome="pending",
            reason=f"{n} of {min_n} candidate invocations needed before judging",
            **common,
        )
    champ_txt = f" (champion {champ_rate:.2%})" if champ_rate is not None else ""
    if rate > ceiling:
        return Finding(
            outcome="fail",
            reason=f"candidate 5XX rate {rate:.2%} over {n} requests exceeds {ceiling:.2%}"
            + champ_txt,
            **common,
        )
    return Finding(
        outcome="pass",
        reason=f"candidate 5XX rate {rate:.2%} over {n} requests is within {ceiling:.2%}"
        + champ_txt,
        **common,
    )


def _latency_finding(
    cand: VariantMetrics,
    champ: VariantMetrics,
    max_ratio: float,
    min_n: int,
    champion_reference_us: float | None,
) -> Finding:
    n = cand.invocations or 0
    champ_p95 = champ.p95_latency_us
    reference_note = ""
    if champ_p95 is None and champion_reference_us is not None:
        # At 100 % the champion serves nothing; compare with its last judged window.
        champ_p95 = champion_reference_us
        reference_note = " (champion p95 from its last window with traffic)"
    common = {
        "metric": "p95_model_latency",
        "candidate": cand.p95_latency_us,
        "champion": champ_p95,
        "threshold": max_ratio,
        "candidate_n": cand.latency_samples,
        "champion_n": champ.latency_samples,
    }
    if cand.p95_latency_us is None or champ_p95 is None or champ_p95 <= 0:
        missing = "candidate" if cand.p95_latency_us is None else "champion"
        return Finding(
            outcome="no_data",
            reason=f"no ModelLatency p95 for the {missing} in this window",
            **common,
        )
    ratio = cand.p95_latency_us / champ_p95
    text = (
        f"candidate p95 {cand.p95_latency_us / 1000:.1f} ms is {ratio:.2f}x the champion's "
        f"{champ_p95 / 1000:.1f} ms{reference_note}"
    )
    if n < min_n:
        return Finding(
            outcome="pending",
            reason=f"{text}; waiting for {min_n} invocations",
            **common,
        )
    if ratio > max_ratio:
        return Finding(outcome="fail", reason=f"{text}, above {max_ratio:.2f}x", **common)
    return Finding(outcome="pass", reason=f"{text}, within {max_ratio:.2f}x", **common)


def judge(
    snapshot: MetricsSnapshot,
    state: CanaryState,
    policy: CanaryPolicy,
    policy_version: str,
    now: datetime,
    champion_reference_us: float | None = None,
) -> Verdict:
    guards = policy.guards
    findings = [
        _rate_finding(
            snapshot.candidate, snapshot.champion, guards.max_5xx_rate, guards.min_invocations
        ),
        _latency_finding(
            snapshot.candidate,
            snapshot.champion,
            guards.max_p95_latency_ratio,
            guards.min_invocations,
            champion_reference_us,
        ),
    ]
    elapsed = (now - state.step_started_at).total_seconds()
    last = state.step_index == len(policy.steps) - 1
    failed = [f for f in findings if f.outcome == "fail"]
    unsettled = [f for f in findings if f.outcome in ("no_data", "pending")]

    action: Action
    wait = policy.check_interval_seconds
    next_index: int | None = None
    if failed:
        action = "rollback"
        reason = "; ".join(f.reason for f in failed)
    elif unsettled:
        why = "; ".join(f.reason for f in unsettled)
        if elapsed >= policy.max_bake_seconds:
            action = policy.on_insufficient_data
            # An operator's approval of a hold continues at the next step, not at 100 %.
            next_index = None if last else state.step_index + 1
            reason = (
                f"not enough evidence after {elapsed:.0f} s (limit {policy.max_bake_seconds} s): "
                f"{why}"
            )
        else:
            action = "keep_baking"
            reason = f"keep baking: {why}"
    elif elapsed < policy.min_bake_seconds:
        action = "keep_baking"
        remaining = policy.min_bake_seconds - elapsed
        wait = max(1, min(wait, int(remaining + 0.999)))
        reason = f"all checks pass; minimum bake {policy.min_bake_seconds} s not reached"
    elif last:
        action = "promote"
        reason = "all checks pass at 100 % after the minimum bake"
    else:
        action = "next_step"
        next_index = state.step_index + 1
        reason = f"all checks pass at {state.percent:g} %; next step {policy.steps[next_index]:g} %"
    return Verdict(
        action=action,
        reason=reason,
        step_index=state.step_index,
        percent=state.percent,
        next_step_index=next_index,
        wait_seconds=wait if action == "keep_baking" else 0,
        window_start=snapshot.window_start,
        window_end=snapshot.window_end,
        findings=findings,
        policy_version=policy_version,
        checks=state.checks + 1,
    )
