"""Recovery (canary/recover.py), the Step Functions limits a policy must fit
(limits.py) and the approvals that wait for a lock (canary/start.py), with fakes."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from release_guard import limits
from release_guard.canary import plan, recover, release
from release_guard.canary.start import hold_until_free, pending_requests
from release_guard.errors import AccessDenied, InvalidReleaseRequest
from release_guard.events import StartRelease
from release_guard.policy import DEFAULT_POLICY, parse_policy

from tests.unit.fakes import FakeEndpoints, FakeLedger, FakeWorkflow
from tests.unit.test_release import (
    ARN,
    DEFAULTS,
    ENDPOINT,
    START,
    T0,
    account,
    deployed,
    prepared,
)

STOPPED = recover.Ended("ABORTED")
EXEC = "arn:aws:states:us-east-1:123456789012:execution:rg-release:r-1"


class Clock:
    def __init__(self, budget: float = 600) -> None:
        self.t = T0
        self.left = budget

    def now(self) -> Any:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
        self.left -= seconds

    def clock(self) -> recover.Clock:
        return recover.Clock(now=self.now, sleep=self.sleep, seconds_left=lambda: self.left)


def mid_canary(percent: float = 25.0) -> tuple[FakeEndpoints, FakeLedger, Any]:
    """A release stopped at ``percent``: candidate beside the champion, lock held."""
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    release.acquire_lock(ctx, EXEC, ledger, FakeWorkflow(), T0)
    deployed(eps, ledger, ctx)
    eps.update_weights(ENDPOINT, plan.weights_for(percent, ctx.champion.name, ctx.candidate.name))
    eps.settle()
    return eps, ledger, ctx


def retire_champion(eps: FakeEndpoints, ledger: FakeLedger, ctx: Any) -> None:
    """What Retire Champion leaves: the candidate alone on the endpoint."""
    progress = START
    for _ in range(5):
        progress = release.promote(ctx, progress, True, eps, ledger, T0)
        eps.settle()
        if progress.verified:
            return
    raise AssertionError(progress)


def run(
    eps: FakeEndpoints,
    ledger: FakeLedger,
    ctx: Any,
    ended: recover.Ended | None = STOPPED,
    workflow: FakeWorkflow | None = None,
    clock: Clock | None = None,
) -> recover.Recovery:
    clock = clock or Clock()

    def settle_on_sleep(seconds: float) -> None:
        eps.settle()
        clock.sleep(seconds)

    c = recover.Clock(now=clock.now, sleep=settle_on_sleep, seconds_left=lambda: clock.left)
    return recover.recover(ctx.release_id, ended, None, eps, ledger, workflow or FakeWorkflow(), c)


@pytest.mark.parametrize("percent", [5.0, 50.0, 100.0])
def test_a_stopped_release_is_rolled_back_verified_and_finished(percent: float) -> None:
    eps, ledger, ctx = mid_canary(percent)
    workflow = FakeWorkflow()
    result = run(eps, ledger, ctx, workflow=workflow)
    assert (result.action, result.outcome) == ("recovered", "aborted")
    view = eps.view()
    assert [v.name for v in view.variants] == [ctx.champion.name]
    meta = ledger.summaries[ctx.release_id]
    assert meta["status"] == "aborted" and meta["rollback_verified"] is True
    assert ENDPOINT not in ledger.locks
    assert ledger.record(ctx.release_id, "10#RECOVERED")["outcome"] == "aborted"
    assert ledger.record(ctx.release_id, "09#OUTCOME")["outcome"] == "aborted"
    assert ledger.package_outcomes[(ARN, None)]["outcome"] == "aborted"
    assert any("aborted" in subject for subject, _ in workflow.notifications)


@pytest.mark.parametrize(
    ("ended", "outcome"),
    [
        (recover.Ended("TIMED_OUT"), "timed_out"),
        (recover.Ended("FAILED", "States.DataLimitExceeded", "too big"), "failed"),
        (recover.Ended("FAILED", "States.Runtime", "history"), "failed"),
        (recover.Ended("FAILED", "RolledBack"), "rolled_back"),
    ],
)
def test_each_ending_maps_to_its_outcome(ended: recover.Ended, outcome: str) -> None:
    eps, ledger, ctx = mid_canary()
    assert run(eps, ledger, ctx, ended).outcome == outcome
    assert ended.status in ledger.summaries[ctx.release_id]["reason"]


def test_a_second_or_late_run_changes_nothing() -> None:
    eps, ledger, ctx = mid_canary()
    run(eps, ledger, ctx)
    before = (len(eps.mutating_calls()), len(ledger.records))
    again = run(eps, ledger, ctx)
    assert again.action == "nothing_to_do"
    assert (len(eps.mutating_calls()), len(ledger.records)) == before


def test_a_running_execution_is_left_to_the_workflow() -> None:
    eps, ledger, ctx = mid_canary()
    result = run(eps, ledger, ctx, None, FakeWorkflow({EXEC: "RUNNING"}))
    assert result.action == "busy"
    assert len(eps.view().variants) == 2
    assert ledger.summaries[ctx.release_id]["status"] == "running"


def test_no_summary_means_nothing_changed() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    assert run(eps, ledger, ctx).action == "nothing_to_do"
    assert eps.mutating_calls() == []


def test_an_endpoint_still_updating_is_waited_for() -> None:
    eps, ledger, ctx = mid_canary()
    eps.set_status(ENDPOINT, "Updating")
    assert run(eps, ledger, ctx).action == "recovered"


def test_an_unverifiable_rollback_keeps_the_lock_and_backs_off() -> None:
    eps, ledger, ctx = mid_canary()
    eps.fail(ENDPOINT, "capacity")  # Failed: waiting will not help
    workflow = FakeWorkflow()
    first = run(eps, ledger, ctx, workflow=workflow)
    assert first.action == "unverified"
    meta = ledger.summaries[ctx.release_id]
    assert meta["status"] == "rollback_unverified" and meta["recovery_attempts"] == 1
    assert ledger.locks[ENDPOINT]["owner"] == ctx.release_id
    assert any("not verified" in s for s, _ in workflow.notifications)
    assert not recover.due(meta, T0)
    assert recover.due(meta, T0 + timedelta(seconds=recover.backoff_seconds(1)))
    second = run(eps, ledger, ctx, None, FakeWorkflow({EXEC: "ABORTED"}))
    assert second.action == "unverified"
    assert ledger.summaries[ctx.release_id]["recovery_attempts"] == 2
    # The endpoint recovers: the next attempt verifies and frees the lock.
    eps.set_status(ENDPOINT, "InService")
    third = run(eps, ledger, ctx, None, FakeWorkflow({EXEC: "ABORTED"}))
    assert (third.action, third.outcome) == ("recovered", "aborted")
    assert ENDPOINT not in ledger.locks


def test_backoff_doubles_to_an_hour() -> None:
    assert [recover.backoff_seconds(n) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


def test_a_retired_champion_means_the_release_was_promoted() -> None:
    eps, ledger, ctx = mid_canary(100.0)
    retire_champion(eps, ledger, ctx)
    result = run(eps, ledger, ctx, recover.Ended("SUCCEEDED"))
    assert (result.action, result.outcome) == ("recovered", "promoted")
    assert ledger.summaries[ctx.release_id]["rollback_verified"] is False


def test_a_stopped_steps_late_endpoint_change_is_refused() -> None:
    _eps, ledger, ctx = mid_canary()
    ledger.update_summary(ctx.release_id, {"status": "recovering"})
    with pytest.raises(Exception, match="recovery owns the endpoint"):
        release.refuse_if_recovering(ctx, ledger)


def test_the_reconciler_recovers_what_is_due() -> None:
    _eps, ledger, ctx = mid_canary()
    ledger.summaries["done"] = {
        "release_id": "done",
        "status": "promoted",
        "endpoint_name": ENDPOINT,
    }
    seen: list[str] = []
    recover.reconcile(ENDPOINT, ledger, T0, lambda rid: seen.append(rid) or None)  # type: ignore[func-returns-value]
    assert seen == [ctx.release_id]


# --- a variant a release placed is never the champion ------------------------------------


def test_an_unpromoted_candidate_is_never_taken_for_the_champion() -> None:
    eps, ledger, ctx = mid_canary(100.0)
    retire_champion(eps, ledger, ctx)
    unjudged = release.unjudged_variants(ledger, ENDPOINT)
    assert ctx.candidate.name in unjudged
    with pytest.raises(InvalidReleaseRequest, match=r"never promoted|placed by release"):
        release.prepare(
            StartRelease(endpoint_name=ENDPOINT, model_package_arn=ARN, candidate_variant="v8"),
            "r-2",
            eps,
            DEFAULTS,
            lambda _: {},
            T0,
            unjudged,
        )


# --- limits ---------------------------------------------------------------------------


def test_the_default_policy_fits_with_room() -> None:
    assert limits.worst_case_events(DEFAULT_POLICY) < limits.HISTORY_BUDGET
    assert limits.worst_case_seconds(DEFAULT_POLICY) < limits.MAX_RELEASE_SECONDS


def test_a_day_long_bake_checked_every_minute_fits() -> None:
    doc = DEFAULT_POLICY.model_dump(mode="json")
    doc["canary"].update(max_bake_seconds=86_400, check_interval_seconds=60)
    policy = parse_policy(doc)
    assert limits.worst_case_events(policy) <= limits.HISTORY_BUDGET
    # Driving the look schedule through a whole step never exceeds the bound.
    looks, elapsed = 0, 0.0
    while elapsed < policy.canary.max_bake_seconds:
        looks += 1
        elapsed += limits.look_wait(policy.canary, looks, elapsed)
    assert looks <= limits.looks_per_step(policy.canary)
    # The first half of the looks keep the configured interval.
    assert limits.look_wait(policy.canary, 1, 60) == 60
    assert math.ceil(86_400 / 60) > policy.canary.max_looks_per_step


def test_a_policy_over_the_history_limit_is_refused_naming_the_fields() -> None:
    doc = DEFAULT_POLICY.model_dump(mode="json")
    doc["canary"].update(max_bake_seconds=86_400, check_interval_seconds=1, max_looks_per_step=2000)
    with pytest.raises(InvalidReleaseRequest, match=r"max_looks_per_step.*history events"):
        parse_policy(doc)


def test_a_policy_over_the_duration_limit_is_refused() -> None:
    doc = DEFAULT_POLICY.model_dump(mode="json")
    doc["operator_timeout_seconds"] = 7 * 86_400
    with pytest.raises(InvalidReleaseRequest, match="TimeoutSeconds"):
        parse_policy(doc)


# --- approvals that wait for the lock ----------------------------------------------------


def registry_request(arn: str) -> StartRelease:
    return StartRelease(endpoint_name=ENDPOINT, model_package_arn=arn, trigger="registry")


def test_a_locked_approval_waits_and_a_newer_version_supersedes_it() -> None:
    eps, ledger, workflow = account(), FakeLedger(), FakeWorkflow()
    newer = ARN.replace("/7", "/8")
    eps.add_package(newer, status="Approved", version=8, group="churn")
    for arn, rid in ((ARN, "r-7"), (newer, "r-8")):
        req = registry_request(arn)
        payload = {**req.model_dump(mode="json"), "release_id": rid}
        result = hold_until_free(req, payload, "locked", eps, ledger, workflow, T0)  # type: ignore[arg-type]
        assert result.status == "pending"
    assert [r["release_id"] for r in pending_requests(ledger, ENDPOINT)] == ["r-8"]
    assert ledger.package_outcomes[(ARN, None)]["outcome"] == "superseded"
    # An older approval arriving late is superseded at once.
    req = registry_request(ARN)
    late = hold_until_free(req, {"release_id": "r-7b"}, "locked", eps, ledger, workflow, T0)  # type: ignore[arg-type]
    assert late.status == "refused" and "superseded" in late.reason
    assert [r["release_id"] for r in pending_requests(ledger, ENDPOINT)] == ["r-8"]


def test_an_error_during_recovery_is_recorded_unverified_and_retried() -> None:
    eps, ledger, ctx = mid_canary()
    real = eps.update_weights

    def denied(*args: Any) -> None:
        raise AccessDenied("sagemaker:UpdateEndpointWeightsAndCapacities denied")

    eps.update_weights = denied  # type: ignore[method-assign]
    workflow = FakeWorkflow()
    first = run(eps, ledger, ctx, workflow=workflow)
    assert first.action == "unverified" and "AccessDenied" in first.detail
    meta = ledger.summaries[ctx.release_id]
    assert meta["status"] == "rollback_unverified" and meta["next_attempt_at"]
    assert meta["recovery_from"] == "running"
    assert any("not verified" in s for s, _ in workflow.notifications)
    eps.update_weights = real  # type: ignore[method-assign]
    again = run(eps, ledger, ctx, None, FakeWorkflow({EXEC: "ABORTED"}))
    assert (again.action, again.outcome) == ("recovered", "aborted")
    assert "while the release was running" in ledger.summaries[ctx.release_id]["reason"]
