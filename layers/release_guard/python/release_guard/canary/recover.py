"""Recovery: every ending of a release's execution ends on a verified endpoint.

The workflow catches errors inside its states; an execution can still end another way:
stopped (StopExecution, ``release-guard release abort``), timed out, failed on an error
no Catch sees (States.Runtime, States.DataLimitExceeded, the history limit), or with
Finish Release never done. Step Functions' status-change event (or the scheduled
reconciler, when that event is lost) brings the release here. Recovery then runs the
workflow's own verified rollback (all traffic to the champion, candidate removed,
DescribeEndpoint read back) and its finish step (outcome, lock, package note,
notification, report).

It is safe to run any number of times, late, or side by side: a release already at a
verified end is left alone; the rollback is a reconciler that resumes from what the
endpoint shows; one ``10#RECOVERED`` record decides which run finishes. A rollback that
cannot be verified keeps the lock and is retried with backoff, notifying each time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from release_guard.canary import plan
from release_guard.canary.ports import Endpoints, Ledger, Workflow
from release_guard.canary.release import VERIFIED_ENDS, finish, roll_back
from release_guard.errors import TransientError
from release_guard.events import ReconcileResult, ReleaseContext

Action = Literal["recovered", "nothing_to_do", "unverified", "busy"]
# How a status maps to the recorded outcome when the endpoint is back on the champion;
# a Fail state's error names the workflow's own decision (release.asl.json).
_BY_STATUS = {"ABORTED": "aborted", "TIMED_OUT": "timed_out"}
_BY_ERROR = {"RolledBack": "rolled_back", "RollbackNotVerified": "rolled_back"}
CLAIM = "10#RECOVERED"
MAX_BACKOFF = 3600


@dataclass(frozen=True)
class Ended:
    """How the execution ended, as its status-change event (or DescribeExecution) says."""

    status: str  # SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class Recovery:
    release_id: str
    action: Action
    outcome: str | None
    detail: str
    weights: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "action": self.action,
            "outcome": self.outcome,
            "detail": self.detail,
            "weights": self.weights,
        }


@dataclass(frozen=True)
class Clock:
    """Recovery's time: ``now`` and ``sleep``, and how long this run may keep trying."""

    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    seconds_left: Callable[[], float]


def backoff_seconds(attempt: int) -> int:
    """1, 2, 4 ... minutes between attempts at an unverified rollback, at most an hour."""
    return int(min(MAX_BACKOFF, 60 * 2 ** max(0, attempt - 1)))


def _reason(ended: Ended | None, requested: str | None, meta: dict[str, Any]) -> str:
    where = f"while the release was {meta.get('status')}"
    if requested:
        return f"{requested} ({where})"[:1000]
    if ended is None:
        return f"recovered {where}"
    said = " ".join(x.strip() for x in (ended.error, ended.cause) if x and x.strip())
    said = f": {said}" if said else ""
    return f"execution {ended.status} {where}{said}"[:1000]


def _promoted(view: Any, ctx: ReleaseContext) -> bool:
    """The champion is gone and the candidate alone serves: only Retire Champion removes
    the champion, and only after the post-promotion watch passed."""
    if view is None or view.variant(ctx.champion.name) is not None:
        return False
    return plan.next_promotion_step(view, ctx.champion.name, ctx.candidate.name, True).kind == (
        "verified"
    )


def _outcome(ended: Ended | None, requested: str | None, meta: dict[str, Any]) -> str:
    if requested:
        return "aborted"
    if ended is None:  # the reconciler: a rollback verified late, or a lost event
        return "rolled_back" if meta.get("status") == "rollback_unverified" else "failed"
    if ended.status in _BY_STATUS:
        return _BY_STATUS[ended.status]
    if ended.error is None and meta.get("status") == "rollback_unverified":
        return "rolled_back"  # the workflow's own RollbackNotVerified, verified late
    return _BY_ERROR.get(ended.error or "", "failed")


def _reconcile(
    ctx: ReleaseContext,
    reason: str,
    endpoints: Endpoints,
    ledger: Ledger,
    workflow: Workflow,
    clock: Clock,
) -> tuple[ReconcileResult, bool]:
    """The workflow's rollback, pass after pass while this run has time: (last result,
    whether the endpoint shows the release promoted instead)."""
    progress = ReconcileResult(verified=False, phase="start", detail="", wait_seconds=1, attempts=0)
    while True:
        try:
            progress = roll_back(ctx, progress, reason, endpoints, ledger, workflow, clock.now())
        except TransientError as err:  # throttled, or the endpoint busy: try again soon
            progress = _errored(progress, err, ctx)
        except Exception as err:  # AccessDenied, a bug: retried later, with backoff
            return _errored(progress, err, ctx).model_copy(update={"phase": "failed"}), False
        if progress.verified:
            return progress, False
        if progress.phase == "failed":  # waiting will not help: retried with backoff
            return progress, _promoted(endpoints.describe_endpoint(ctx.endpoint_name), ctx)
        wait = min(progress.wait_seconds, 30)
        if clock.seconds_left() < wait + 30:
            return progress, False
        clock.sleep(wait)


def _errored(progress: ReconcileResult, err: Exception, ctx: ReleaseContext) -> ReconcileResult:
    return ReconcileResult(
        verified=False,
        phase="error",
        detail=f"{type(err).__name__}: {err}"[:1000],
        wait_seconds=ctx.policy.rollback_poll_seconds,
        attempts=progress.attempts + 1,
        weights=progress.weights,
    )


def recover(
    release_id: str,
    ended: Ended | None,
    requested: str | None,
    endpoints: Endpoints,
    ledger: Ledger,
    workflow: Workflow,
    clock: Clock,
    report: Callable[[ReleaseContext], dict[str, Any]] | None = None,
    on_error: Callable[[str], None] = lambda _: None,
) -> Recovery:
    """Bring one release to a verified end. ``ended`` is how its execution ended (None:
    ask Step Functions); ``requested`` is an operator's reason (abort)."""
    meta = ledger.summary(release_id)
    if meta is None:
        return Recovery(
            release_id,
            "nothing_to_do",
            None,
            "no release in the ledger: the execution ended before it took the lock, so "
            "nothing changed on the endpoint",
        )
    status = str(meta.get("status"))
    if status in VERIFIED_ENDS:
        return Recovery(release_id, "nothing_to_do", status, f"already ended {status}, verified")
    if ended is None:
        state = workflow.execution_status(str(meta.get("execution_arn", "")))
        ended = None if state is None else Ended(state)
    if ended is not None and ended.status == "RUNNING":
        return Recovery(
            release_id, "busy", None, "the execution still runs: the workflow owns the endpoint"
        )
    if "context" not in meta:
        detail = "the ledger holds no release context (a release started before recovery)"
        workflow.notify(
            f"release-guard: {release_id} needs an operator",
            {"release_id": release_id, "reason": detail},
        )
        return Recovery(release_id, "unverified", None, detail)
    ctx = ReleaseContext.model_validate(meta["context"])
    # A retry keeps what the first attempt saw: the status the execution left, the reason.
    previous = str(meta.get("recovery_from") or status)
    reason = str(meta.get("recovery_reason") or _reason(ended, requested, meta))
    outcome = _outcome(ended, requested, {**meta, "status": previous})
    # The fence: a stopped execution's last Lambda may still be running; from here its
    # endpoint changes are refused (release.refuse_if_recovering).
    ledger.update_summary(
        release_id,
        {"status": "recovering", "recovery_reason": reason, "recovery_from": previous},
    )
    result, promoted = _reconcile(ctx, reason, endpoints, ledger, workflow, clock)
    if promoted:
        outcome, reason = "promoted", f"{reason}; the champion was already retired"
    elif not result.verified:
        return _unverified(ctx, meta, previous, result, reason, ledger, workflow, clock)
    # Runs side by side may all verify; the one that writes this record finishes.
    first, _ = ledger.record_once(
        release_id,
        CLAIM,
        {
            "kind": "recovered",
            "at": clock.now().isoformat(),
            "outcome": outcome,
            "reason": reason,
            "from_status": previous,
            "execution_status": ended.status if ended else None,
            "attempts": result.attempts,
            "weights": result.weights,
        },
    )
    if not first and (ledger.summary(release_id) or {}).get("status") in VERIFIED_ENDS:
        return Recovery(release_id, "nothing_to_do", outcome, "another recovery run finished it")
    ledger.update_summary(release_id, {"rollback_verified": not promoted})
    finish(
        ctx,
        outcome,
        reason,
        endpoints,
        ledger,
        workflow,
        clock.now(),
        report=(lambda: report(ctx)) if report else None,
        on_error=on_error,
    )
    return Recovery(release_id, "recovered", outcome, result.detail, result.weights)


def _unverified(
    ctx: ReleaseContext,
    meta: dict[str, Any],
    previous: str,
    result: ReconcileResult,
    reason: str,
    ledger: Ledger,
    workflow: Workflow,
    clock: Clock,
) -> Recovery:
    """Keep the lock, note when to try again, and tell someone."""
    attempt = int(meta.get("recovery_attempts") or 0) + 1
    retry_at = clock.now() + timedelta(seconds=backoff_seconds(attempt))
    ledger.update_summary(
        ctx.release_id,
        {
            "status": "rollback_unverified",
            "recovery_attempts": attempt,
            "next_attempt_at": retry_at.isoformat(),
            "recovery_detail": result.detail,
            "reason": reason,
        },
    )
    workflow.notify(
        f"release-guard: rollback of {ctx.release_id} not verified",
        {
            "release_id": ctx.release_id,
            "endpoint": ctx.endpoint_name,
            "attempt": attempt,
            "detail": result.detail,
            "weights": result.weights,
            "retry_at": retry_at.isoformat(),
            "was": previous,
            "runbook": "docs/operations.md#rollback-not-verified",
        },
    )
    return Recovery(ctx.release_id, "unverified", None, result.detail, result.weights)


def due(meta: dict[str, Any], now: datetime) -> bool:
    """Whether the reconciler should try this release now."""
    status = meta.get("status")
    if status in VERIFIED_ENDS:
        return False
    if status == "rollback_unverified" and meta.get("next_attempt_at"):
        return now >= datetime.fromisoformat(str(meta["next_attempt_at"]))
    return True


def reconcile(
    endpoint: str,
    ledger: Ledger,
    now: datetime,
    recover_one: Callable[[str], Recovery],
) -> list[Recovery]:
    """The scheduled backstop for a lost event: recover every recent release of the
    endpoint whose execution has ended without a verified end (an unverified rollback
    once its backoff has passed). ``recover_one`` is recover() bound to its ports;
    a release whose execution still runs comes back as ``busy``."""
    return [
        recover_one(str(meta["release_id"]))
        for meta in ledger.recent_releases(endpoint, 20)
        if meta.get("release_id") and due(meta, now)
    ]
