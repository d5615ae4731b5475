"""Finish Release: release the lock and record the outcome, on every path."""

from typing import Any

from release_guard.aws import ledger, sagemaker, workflow
from release_guard.canary.release import finish, reason_of
from release_guard.events import ReleaseContext, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = event.get("state") or {}
    ctx = parse(ReleaseContext, state.get("release"), "release")
    outcome = str(state.get("outcome", "failed"))
    return finish(ctx, outcome, reason_of(state), sagemaker, ledger, workflow, now())
