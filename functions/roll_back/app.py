"""Roll Back: champion to 100 %, remove the candidate, verify by reading back."""

from typing import Any

from release_guard.aws import ledger, sagemaker, workflow
from release_guard.canary.release import reason_of, roll_back
from release_guard.events import ReconcileResult, ReleaseContext, event_object, parse
from release_guard.observability import MetricUnit, boundary, logger, metrics
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"state": $}')
    state = event.get("state")
    state = {} if state is None else event_object(state, "the execution's state", "state")
    ctx = parse(ReleaseContext, state.get("release"), "release")
    progress = parse(ReconcileResult, state.get("rollback"), "rollback")
    result = roll_back(ctx, progress, reason_of(state), sagemaker, ledger, workflow, now())
    if result.verified:
        metrics.add_dimension(name="Endpoint", value=ctx.endpoint_name)
        metrics.add_metric(name="RollbacksVerified", unit=MetricUnit.Count, value=1)
    logger.info(
        "rollback step",
        extra={"release_id": ctx.release_id, "result": result.model_dump(mode="json")},
    )
    return result.model_dump(mode="json")
