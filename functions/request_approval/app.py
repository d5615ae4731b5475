"""Await Operator: store the task token and notify; `release-guard release approve|abort`
answers it."""

from typing import Any

from release_guard.aws import ledger, workflow
from release_guard.canary.release import request_approval
from release_guard.events import ReleaseContext, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = parse(ReleaseContext, event.get("release"), "release")
    return request_approval(ctx, event.get("canary") or {}, event["token"], ledger, workflow, now())
