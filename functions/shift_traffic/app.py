"""Shift Canary Traffic: set the weights of a step (absolute, so a retry is harmless)."""

from typing import Any

from release_guard.aws import ledger, sagemaker
from release_guard.canary.release import shift_traffic
from release_guard.events import ReleaseContext, StepRef, event_object, parse
from release_guard.observability import boundary, logger
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"release": ..., "step": ...}')
    ctx = parse(ReleaseContext, event.get("release"), "release")
    step = parse(StepRef, event.get("step"), "step")
    result = shift_traffic(ctx, step, sagemaker, ledger, now())
    logger.info("traffic shifted", extra={"release_id": ctx.release_id, "state": result["state"]})
    return result
