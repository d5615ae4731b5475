"""Acquire Release Lock: one release per endpoint at a time."""

from typing import Any

from release_guard.aws import ledger, workflow
from release_guard.canary.release import acquire_lock
from release_guard.events import ReleaseContext, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = parse(ReleaseContext, event.get("release"), "release")
    return acquire_lock(ctx, event["execution_arn"], ledger, workflow, now())
