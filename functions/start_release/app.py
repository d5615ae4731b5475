"""Start a release: from the registry's approval event, the CLI or a pipeline.

Validates everything first (a bad request fails here, synchronously, with the field
named) and derives the execution name so duplicate events start one release.
"""

from typing import Any

from release_guard.aws import ledger, sagemaker, workflow
from release_guard.canary import plan
from release_guard.canary.release import prepare
from release_guard.errors import InvalidReleaseRequest, ReleaseLocked
from release_guard.events import ModelPackageStateChange, StartRelease, StartResult, parse
from release_guard.observability import MetricUnit, boundary, logger, metrics
from release_guard.settings import settings
from release_guard.wiring import defaults, now

SETTINGS = settings()


def from_registry(event: dict[str, Any]) -> StartRelease | StartResult:
    change = parse(ModelPackageStateChange, event, "event")
    detail = change.detail
    if (
        SETTINGS.model_package_group
        and detail.ModelPackageGroupName != SETTINGS.model_package_group
    ):
        return StartResult(
            status="ignored", reason=f"group {detail.ModelPackageGroupName} is not managed"
        )
    if detail.ModelApprovalStatus != "Approved":
        return StartResult(
            status="ignored", reason=f"status {detail.ModelApprovalStatus} starts nothing"
        )
    if not SETTINGS.endpoint_name:
        raise InvalidReleaseRequest("ENDPOINT_NAME", "the managed endpoint (stack parameter)")
    # One approval = one LastModifiedTime; SageMaker may send the event twice.
    stamp = str(detail.LastModifiedTime or detail.CreationTime or change.id)
    return StartRelease(
        endpoint_name=SETTINGS.endpoint_name,
        model_package_arn=detail.ModelPackageArn,
        release_id=plan.release_id_for(SETTINGS.endpoint_name, detail.ModelPackageArn, stamp),
        trigger="registry",
        requested_by="sagemaker-model-registry",
    )


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "detail-type" in event:
        request = from_registry(event)
        if isinstance(request, StartResult):
            logger.info("event ignored", extra={"reason": request.reason})
            return request.model_dump(mode="json")
    else:
        request = parse(StartRelease, event, "request")
    machine = SETTINGS.state_machine_arn
    if not machine:
        raise InvalidReleaseRequest("STATE_MACHINE_ARN", "the release state machine ARN")
    at = now()
    release_id = request.release_id or plan.release_id_for(
        request.endpoint_name, request.model_package_arn, at.isoformat()
    )
    arn = workflow.execution_arn(machine, release_id)
    if workflow.execution_status(arn) is not None:
        return StartResult(
            status="duplicate",
            release_id=release_id,
            execution_arn=arn,
            reason="a release with this id already exists; nothing started",
        ).model_dump(mode="json")
    holder = ledger.lock_holder(request.endpoint_name)
    if holder and workflow.execution_status(str(holder.get("execution_arn", ""))) == "RUNNING":
        # Said first: mid-canary the endpoint also fails validation (two variants serve).
        raise ReleaseLocked(
            f"endpoint {request.endpoint_name} is being released by {holder.get('owner')} "
            f"({holder.get('execution_arn')}); wait for it or abort it"
        )
    prepare(request, release_id, sagemaker, defaults(), workflow.read_json, at)
    payload = request.model_copy(update={"release_id": release_id}).model_dump(mode="json")
    started = workflow.start_execution(machine, release_id, payload)
    if started is None:
        return StartResult(
            status="duplicate",
            release_id=release_id,
            execution_arn=arn,
            reason="started concurrently by a duplicate event; nothing more started",
        ).model_dump(mode="json")
    metrics.add_metric(name="ReleasesStarted", unit=MetricUnit.Count, value=1)
    return StartResult(
        status="started",
        release_id=release_id,
        execution_arn=started,
        reason=f"release of {request.model_package_arn} onto {request.endpoint_name} started",
    ).model_dump(mode="json")
