"""Finish Release: release the lock and record the outcome, on every path; then write
the release report (a report failure is logged and recorded, never fails the release)."""

from typing import Any

from release_guard.aws import ledger, runtime, sagemaker, workflow
from release_guard.canary.release import finish, reason_of
from release_guard.events import ReleaseContext, parse
from release_guard.observability import boundary, logger
from release_guard.report.publish import publish
from release_guard.settings import settings
from release_guard.wiring import now


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = event.get("state") or {}
    ctx = parse(ReleaseContext, state.get("release"), "release")
    outcome = str(state.get("outcome", "failed"))
    result = finish(ctx, outcome, reason_of(state), sagemaker, ledger, workflow, now())
    report = publish(
        ctx.release_id,
        ctx.endpoint_name,
        settings().reports_bucket,
        ledger,
        sagemaker,
        runtime,
        now(),
        on_error=logger.exception,
    )
    logger.info("release report", extra={"release_id": ctx.release_id, "report": report})
    return result
