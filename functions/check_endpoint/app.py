"""Check Endpoint Status: InService with the candidate, still updating, or failed."""

from typing import Any

from release_guard.aws import sagemaker
from release_guard.canary.release import check_endpoint
from release_guard.events import DeployResult, ReleaseContext, event_object, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"release": ..., "deploy": ...}')
    ctx = parse(ReleaseContext, event.get("release"), "release")
    deploy = parse(DeployResult, event.get("deploy"), "deploy")
    return check_endpoint(ctx, deploy, sagemaker, now()).model_dump(mode="json")
