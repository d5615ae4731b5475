"""Judge Canary: candidate vs champion over the same window; the verdict is data."""

from typing import Any

from release_guard.aws import cloudwatch, ledger
from release_guard.canary.judging import judge_canary
from release_guard.events import CanaryState, ReleaseContext, event_object, parse
from release_guard.observability import MetricUnit, boundary, logger, metrics
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(
        event, 'the state\'s parameters {"release": ..., "canary": ..., "watch": ...}'
    )
    ctx = parse(ReleaseContext, event.get("release"), "release")
    state = parse(CanaryState, event.get("canary"), "canary")
    watch = bool(event.get("watch", False))
    new_state, verdict, first = judge_canary(ctx, state, cloudwatch, ledger, now(), watch)
    if first:  # one EMF metric per decision, not per redelivery
        metrics.add_dimension(name="Endpoint", value=ctx.endpoint_name)
        metrics.add_dimension(name="Action", value=verdict.action)
        metrics.add_metric(name="CanaryVerdicts", unit=MetricUnit.Count, value=1)
    logger.info(
        "verdict", extra={"release_id": ctx.release_id, "verdict": verdict.model_dump(mode="json")}
    )
    return {"state": new_state.model_dump(mode="json"), "verdict": verdict.model_dump(mode="json")}
