"""Acquire Release Lock: one release per endpoint at a time."""

from typing import Any

from release_guard.aws import ledger, workflow
from release_guard.canary.release import acquire_lock
from release_guard.events import ReleaseContext, event_object, event_text, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(event, 'the state\'s parameters {"release": ..., "execution_arn": ...}')
    ctx = parse(ReleaseContext, event.get("release"), "release")
    arn = event_text(event, "execution_arn", "the execution's ARN ($$.Execution.Id)")
    return acquire_lock(ctx, arn, ledger, workflow, now())
