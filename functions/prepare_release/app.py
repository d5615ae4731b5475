"""Prepare Release: validate the request and resolve champion, candidate and policy."""

from typing import Any

from release_guard.aws import ledger, sagemaker, workflow
from release_guard.canary.release import prepare, unjudged_variants
from release_guard.events import StartRelease, parse
from release_guard.observability import boundary
from release_guard.wiring import defaults, now


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse(StartRelease, event.get("request"), "request")
    # A variant an earlier release placed and never promoted is never the champion.
    unjudged = unjudged_variants(ledger, request.endpoint_name)
    ctx = prepare(
        request, event["release_id"], sagemaker, defaults(), workflow.read_json, now(), unjudged
    )
    return ctx.model_dump(mode="json")
