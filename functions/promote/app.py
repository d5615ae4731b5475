"""Promote Candidate / Retire Champion: one verified reconcile step per call."""

from typing import Any

from release_guard.aws import ledger, sagemaker
from release_guard.canary.release import promote
from release_guard.events import ReconcileResult, ReleaseContext, event_object, parse
from release_guard.observability import boundary
from release_guard.wiring import now


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(
        event, 'the state\'s parameters {"release": ..., "promotion": ..., "retire_champion": ...}'
    )
    ctx = parse(ReleaseContext, event.get("release"), "release")
    progress = parse(ReconcileResult, event.get("promotion"), "promotion")
    retire = bool(event.get("retire_champion", False))
    return promote(ctx, progress, retire, sagemaker, ledger, now()).model_dump(mode="json")
