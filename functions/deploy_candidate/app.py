"""Deploy Candidate Variant: a new endpoint config with the candidate at weight 0."""

from typing import Any

from release_guard.aws import ledger, sagemaker
from release_guard.canary.release import deploy_candidate
from release_guard.events import ReleaseContext, event_object, parse
from release_guard.observability import boundary
from release_guard.wiring import defaults, now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"release": ...}')
    ctx = parse(ReleaseContext, event.get("release"), "release")
    return deploy_candidate(ctx, sagemaker, ledger, defaults(), now()).model_dump(mode="json")
