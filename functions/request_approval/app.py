"""Await Operator: store the task token and notify; `release-guard release approve|abort`
answers it."""

from typing import Any

from release_guard.aws import ledger, workflow
from release_guard.canary.release import request_approval
from release_guard.events import ReleaseContext, event_object, event_text, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(
        event, 'the state\'s parameters {"release": ..., "canary": ..., "token": ...}'
    )
    ctx = parse(ReleaseContext, event.get("release"), "release")
    canary = event.get("canary")
    canary = {} if canary is None else event_object(canary, "the canary's verdict", "canary")
    token = event_text(event, "token", "the task token ($$.Task.Token)")
    return request_approval(ctx, canary, token, ledger, workflow, now())
