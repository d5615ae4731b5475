"""Finish Release: the outcome in the ledger and the lock released, on every path; then
the report, the model package's metadata and the SNS notification, each on its own (a
failed one is logged and recorded, never fails the release)."""

from typing import Any

from release_guard.aws import ledger, runtime, sagemaker, workflow
from release_guard.canary.release import finish, reason_of
from release_guard.events import ReleaseContext, event_object, parse
from release_guard.observability import boundary, logger
from release_guard.report.publish import publish
from release_guard.settings import settings
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"state": $}')
    state = event.get("state")
    state = {} if state is None else event_object(state, "the execution's state", "state")
    ctx = parse(ReleaseContext, state.get("release"), "release")
    outcome = str(state.get("outcome", "failed"))
    at = now()

    def report() -> dict[str, Any]:
        return publish(
            ctx.release_id,
            ctx.endpoint_name,
            settings().reports_bucket,
            ledger,
            sagemaker,
            runtime,
            at,
            on_error=logger.exception,
        )

    result = finish(
        ctx,
        outcome,
        reason_of(state),
        sagemaker,
        ledger,
        workflow,
        at,
        report=report,
        on_error=logger.exception,
    )
    logger.info("finished", extra={"release_id": ctx.release_id, "result": result})
    return result
