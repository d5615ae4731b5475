"""Recover Release: a release whose execution ended without a verified end is rolled
back (verified) and finished; then approvals waiting for the lock are started.

Three events: Step Functions' "Execution Status Change" (every ending of a release),
the reconciler's schedule ({"reconcile": true}), and an operator's request
({"release_id", "reason", "requested_by"}) from `release-guard release abort`.
"""

import time
from typing import Any

from release_guard.aws import ledger, runtime, sagemaker, workflow
from release_guard.canary.recover import Clock, Ended, Recovery, reconcile, recover
from release_guard.canary.start import pending_requests
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import ReleaseContext, event_object
from release_guard.observability import MetricUnit, boundary, logger, metrics
from release_guard.report.publish import publish
from release_guard.settings import settings
from release_guard.wiring import now

SETTINGS = settings()
EVENTS = 'a Step Functions status-change event, {"reconcile": true} or {"release_id": ...}'


def _clock(context: Any) -> Clock:
    def left() -> float:
        millis = getattr(context, "get_remaining_time_in_millis", lambda: 60_000)()
        return float(millis) / 1000

    return Clock(now=now, sleep=time.sleep, seconds_left=left)


def _report(ctx: ReleaseContext) -> dict[str, Any]:
    return publish(
        ctx.release_id,
        ctx.endpoint_name,
        SETTINGS.reports_bucket,
        ledger,
        sagemaker,
        runtime,
        now(),
        on_error=logger.exception,
    )


def _one(release_id: str, ended: Ended | None, requested: str | None, context: Any) -> Recovery:
    result = recover(
        release_id,
        ended,
        requested,
        sagemaker,
        ledger,
        workflow,
        _clock(context),
        report=_report,
        on_error=logger.exception,
    )
    if result.action == "recovered":
        metrics.add_dimension(name="Endpoint", value=SETTINGS.endpoint_name or "-")
        metrics.add_metric(name="ReleasesRecovered", unit=MetricUnit.Count, value=1)
    log = logger.warning if result.action == "unverified" else logger.info
    log("recovery", extra={"result": result.as_dict()})
    return result


def _start_pending() -> list[str]:
    """Approvals that waited for the lock, handed to StartRelease (asynchronously: its
    failures land in FailedEventsQueue). A still-held lock records them pending again."""
    endpoint, function = SETTINGS.endpoint_name, SETTINGS.start_function_name
    if not endpoint or not function or ledger.lock_holder(endpoint) is not None:
        return []
    started = []
    for request in pending_requests(ledger, endpoint):
        workflow.invoke_async(function, request)
        started.append(str(request.get("release_id")))
    return started


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, EVENTS)
    if event.get("detail-type") == "Step Functions Execution Status Change":
        detail = event.get("detail")
        # name and status are strings, error and cause strings or null, as Step
        # Functions sends them: recovery formats and looks them up.
        if not (
            isinstance(detail, dict)
            and all(isinstance(detail.get(k), str) for k in ("name", "status"))
            and all(isinstance(detail.get(k), str | None) for k in ("error", "cause"))
        ):
            raise InvalidReleaseRequest("detail", "an execution's name and status", detail)
        ended = Ended(detail["status"], detail.get("error"), detail.get("cause"))
        results = [_one(detail["name"], ended, None, context)]
    elif event.get("reconcile"):
        endpoint = SETTINGS.endpoint_name
        if not endpoint:
            raise InvalidReleaseRequest("ENDPOINT_NAME", "the managed endpoint (stack parameter)")
        results = reconcile(endpoint, ledger, now(), lambda rid: _one(rid, None, None, context))
    elif isinstance(event.get("release_id"), str):
        by = event.get("requested_by") or "an operator"
        reason = f"aborted by {by}: {event.get('reason') or 'no reason given'}"
        results = [_one(event["release_id"], None, reason, context)]
    else:
        raise InvalidReleaseRequest("event", EVENTS, sorted(event)[:10])
    pending = _start_pending()
    out = [r.as_dict() for r in results]
    body: dict[str, Any] = out[0] if len(out) == 1 else {"results": out}
    return {**body, "started_pending": pending}
