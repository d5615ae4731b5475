"""Prepare Release: validate the request and resolve champion, candidate and policy."""

from typing import Any

from release_guard.aws import sagemaker, workflow
from release_guard.canary.release import prepare
from release_guard.events import StartRelease, parse
from release_guard.observability import boundary
from release_guard.wiring import defaults, now


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse(StartRelease, event.get("request"), "request")
    ctx = prepare(request, event["release_id"], sagemaker, defaults(), workflow.read_json, now())
    return ctx.model_dump(mode="json")
