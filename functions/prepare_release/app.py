"""Prepare Release: validate the request and resolve champion, candidate and policy."""

from typing import Any

from release_guard.aws import ledger, sagemaker, workflow
from release_guard.canary.release import prepare, unjudged_variants
from release_guard.events import StartRelease, event_object, event_text, parse
from release_guard.observability import boundary
from release_guard.wiring import defaults, now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"request": ..., "release_id": ...}')
    request = parse(StartRelease, event.get("request"), "request")
    release_id = event_text(event, "release_id", "the execution's name ($$.Execution.Name)")
    # A variant an earlier release placed and never promoted is never the champion.
    unjudged = unjudged_variants(ledger, request.endpoint_name)
    ctx = prepare(request, release_id, sagemaker, defaults(), workflow.read_json, now(), unjudged)
    return ctx.model_dump(mode="json")
