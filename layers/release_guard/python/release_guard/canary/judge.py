"""The canary judge: per-period series + policy -> verdict with per-rule evidence.

Pure: the caller passes the clock and the series. The evidence of each rule comes
from anytime-valid sequential tests (canary/evidence.py, stats/sequential.py), so
the release-wide false-rollback rate stays at most the policy's alpha however often
the judge looks, across all steps. No data, or too little, is never a pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from release_guard import limits
from release_guard.canary.evidence import Series, evaluate
from release_guard.canary.metrics import SAGEMAKER, series_key
from release_guard.events import (
    Action,
    CanaryState,
    Finding,
    Verdict,
)
from release_guard.policy import CanaryPolicy

INVOCATIONS = series_key(SAGEMAKER, "Invocations", "Sum")


def _hours(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def evidence_time(findings: list[Finding], series: Series, elapsed: float) -> tuple[float, str]:
    """Seconds until the open critical rules have their evidence at today's traffic,
    and the sentence that says so ("needs ~4,700 candidate requests at 0.4 req/s...")."""
    step_requests = float(np.nansum(series.get("candidate", INVOCATIONS)[series.step]))
    rate = step_requests / elapsed if elapsed > 0 else 0.0
    if rate <= 0:
        return 0.0, "no candidate requests in this step yet"
    worst, text = 0.0, ""
    for f in findings:
        if not f.critical or f.outcome not in ("pending", "no_data"):
            continue
        if f.required_n:
            secs = f.required_n / rate if rate > 0 else float("inf")
            line = (
                f"needs ~{f.required_n:,} more candidate requests at {rate:.2g} req/s: "
                f"~{_hours(secs)} at this weight"
            )
        elif f.required_periods:
            secs = f.required_periods * series.period_seconds
            line = f"needs ~{f.required_periods} more periods: ~{_hours(secs)}"
        else:
            continue
        if secs > worst:
            worst, text = secs, line
    return worst, text


def judge(
    series: Series,
    state: CanaryState,
    policy: CanaryPolicy,
    policy_version: str,
    now: datetime,
    window: tuple[datetime, datetime],
    intervals: bool = True,
) -> Verdict:
    """Candidate vs champion over every period of the release so far; the verdict
    carries each rule's evidence. A conclusive failure acts at once (its action);
    a step is left only when every critical rule has its evidence and the minimum
    bake has passed; without evidence by max_bake the policy decides; no data is
    never a pass."""
    findings = evaluate(policy, series, intervals)
    elapsed = (now - state.step_started_at).total_seconds()
    last = state.step_index == len(policy.steps) - 1
    failed = [f for f in findings if f.outcome == "fail"]
    open_ = [f for f in findings if f.critical and f.outcome in ("pending", "no_data")]

    action: Action
    wait = limits.look_wait(policy, state.checks + 1, elapsed)  # bounded looks per step
    next_index: int | None = None
    need_s, need_text = evidence_time(findings, series, elapsed) if open_ else (0.0, "")
    why = "; ".join(f"{f.metric}: {f.reason}" for f in open_)
    out_of_time = bool(open_) and elapsed >= policy.max_bake_seconds
    # Evidence short at max_bake, under a rollback policy, outranks a failure whose
    # action is only a hold: a worse candidate never gets a milder verdict.
    short_rollback = out_of_time and policy.on_insufficient_data == "rollback"
    if failed and not (short_rollback and all(f.action == "hold" for f in failed)):
        rollback = [f for f in failed if f.action == "rollback"]
        action = "rollback" if rollback else "hold"
        reason = "; ".join(f.reason for f in (rollback or failed))
        if action == "hold":
            next_index = None if last else state.step_index + 1
    elif out_of_time:
        choice = policy.on_insufficient_data
        if choice == "advance" and not last:
            action, next_index = "next_step", state.step_index + 1
            reason = (
                f"evidence still short after {elapsed:.0f} s; the policy raises the weight "
                f"to {policy.steps[next_index]:g} % to gather it (never promotes without it): "
                f"{why}"
            )
        else:
            action = "rollback" if choice == "rollback" else "hold"
            next_index = None if last or action == "rollback" else state.step_index + 1
            reason = f"not enough evidence after {elapsed:.0f} s: {need_text or why}"
            if failed:
                reason += "; and " + "; ".join(f.reason for f in failed)
    elif open_:
        action = "keep_baking"
        reason = "keep baking: " + (need_text + "; " if need_text else "") + why
        if need_text and elapsed + need_s > policy.max_bake_seconds:
            reason += (
                f" (beyond max_bake {policy.max_bake_seconds} s: then "
                f"{policy.on_insufficient_data})"
            )
    elif elapsed < policy.min_bake_seconds:
        action = "keep_baking"
        wait = max(1, min(wait, int(policy.min_bake_seconds - elapsed + 0.999)))
        reason = f"every critical rule has its evidence; minimum bake {policy.min_bake_seconds} s"
    elif last:
        action = "promote"
        reason = "every critical rule passes at 100 % after the minimum bake"
    else:
        action, next_index = "next_step", state.step_index + 1
        reason = (
            f"every critical rule passes at {state.percent:g} %; "
            f"next step {policy.steps[next_index]:g} %"
        )
    return Verdict(
        action=action,
        reason=reason,
        step_index=state.step_index,
        percent=state.percent,
        next_step_index=next_index,
        wait_seconds=wait if action == "keep_baking" else 0,
        window_start=window[0],
        window_end=window[1],
        findings=findings,
        policy_version=policy_version,
        checks=state.checks + 1,
    )


# --- operator overrides (`release-guard release pause|resume|promote`) -------------------

# A paused step's next look waits the judge's usual wait or a tenth of the pause so far
# (capped at this), whichever is longer: a long pause costs a bounded number of history
# events (about 24 looks a day once capped), and a resume is noticed within about a
# tenth of how long the pause lasted.
PAUSED_MAX_WAIT = 3600


def _by(mark: dict[str, Any]) -> str:
    return f"{mark.get('by') or 'an operator'}: {mark.get('reason') or 'no reason given'}"


def _since(mark: dict[str, Any], now: datetime) -> float:
    try:
        at = datetime.fromisoformat(str(mark.get("at")))
    except ValueError:
        return 0.0
    if at.tzinfo is None and now.tzinfo is not None:
        at = at.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - at).total_seconds())


def paused_wait(policy: CanaryPolicy, checks: int, elapsed: float, paused_for: float) -> int:
    """Seconds to the next look of a paused step."""
    grown = min(PAUSED_MAX_WAIT, int(paused_for // 10))
    return max(limits.look_wait(policy, checks, elapsed), grown)


def operator_overrides(
    verdict: Verdict,
    policy: CanaryPolicy,
    summary: dict[str, Any] | None,
    now: datetime,
    step_started_at: datetime,
) -> Verdict:
    """The operator's marks on the release summary applied to a canary verdict.

    ``promote_requested`` turns a step that passed its normal checks (next_step: every
    critical rule has its evidence and passes, the minimum bake is over) into promotion.
    It never overrides waiting for evidence or the minimum bake, a rollback, a hold, or
    the policy advancing a step whose evidence is still short.

    ``paused`` withholds advancing only: next_step and promote become keep_baking. A
    conclusive failure still rolls back (or holds, as its rule says), and max_bake
    without the evidence still ends as the policy's on_insufficient_data says (rollback
    or hold): a pause never keeps traffic on a candidate longer than the policy allows
    an unproven one. Watch (post-promotion) verdicts are not passed here."""
    meta = summary or {}
    promote = meta.get("promote_requested")
    paused = meta.get("paused")
    if isinstance(promote, dict):
        open_ = any(f.critical and f.outcome in ("pending", "no_data") for f in verdict.findings)
        if verdict.action == "next_step" and not open_:
            verdict = verdict.model_copy(
                update={
                    "action": "promote",
                    "next_step_index": None,
                    "wait_seconds": 0,
                    "reason": f"promotion requested by {_by(promote)}; straight to 100 % "
                    f"(the judge would have gone on: {verdict.reason})",
                }
            )
        elif verdict.action in ("next_step", "keep_baking"):
            verdict = verdict.model_copy(
                update={
                    "reason": f"{verdict.reason} (promotion requested by {_by(promote)}: "
                    "once a step passes its checks)"
                }
            )
    if isinstance(paused, dict):
        elapsed = (now - step_started_at).total_seconds()
        if verdict.action in ("next_step", "promote"):
            wait = paused_wait(policy, verdict.checks, elapsed, _since(paused, now))
            verdict = verdict.model_copy(
                update={
                    "action": "keep_baking",
                    "next_step_index": None,
                    "wait_seconds": wait,
                    "reason": f"paused by {_by(paused)}; advancing is withheld until resumed "
                    "(a failing rule, or max_bake without evidence, still rolls back or "
                    f"holds); without the pause: {verdict.action}: {verdict.reason}",
                }
            )
        elif verdict.action == "keep_baking":
            verdict = verdict.model_copy(
                update={"reason": f"{verdict.reason} (paused by {_by(paused)})"}
            )
    return verdict
