"""Starting a release: from the registry's approval event, the CLI or a pipeline.

Everything is validated first (a bad request fails synchronously, the field named),
and the execution name is derived so that duplicate events start one release. A
registry event that is no approval (a metadata update), and a package release-guard
has already given an outcome (unless ``force``), are refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from release_guard.canary import plan
from release_guard.canary.ports import Endpoints, Ledger, Starter
from release_guard.canary.release import (
    Defaults,
    prepare,
    prompt_key,
    refuse_if_locked,
    unjudged_variants,
)
from release_guard.errors import InvalidReleaseRequest, ReleaseLocked
from release_guard.events import ModelPackageStateChange, StartRelease, StartResult, parse


@dataclass(frozen=True)
class Stack:
    """The stack's wiring this start needs."""

    state_machine_arn: str | None
    endpoint_name: str | None
    model_package_group: str | None


def from_registry(event: dict[str, Any], stack: Stack) -> StartRelease | StartResult:
    change = parse(ModelPackageStateChange, event, "event")
    detail = change.detail
    if stack.model_package_group and detail.ModelPackageGroupName != stack.model_package_group:
        return StartResult(
            status="ignored", reason=f"group {detail.ModelPackageGroupName} is not managed"
        )
    if detail.ModelApprovalStatus != "Approved":
        return StartResult(
            status="ignored", reason=f"status {detail.ModelApprovalStatus} starts nothing"
        )
    changed = detail.UpdatedModelPackageFields
    if changed is not None and "ModelApprovalStatus" not in changed:
        # SageMaker sends this for every update of an Approved package, release-guard's
        # own metadata writes among them; the rule should not match it (template.yaml).
        return StartResult(
            status="refused",
            reason=f"not an approval: only {', '.join(changed) or 'nothing'} changed on "
            f"{detail.ModelPackageArn}, which stays Approved; a metadata update starts nothing",
        )
    if not stack.endpoint_name:
        raise InvalidReleaseRequest("ENDPOINT_NAME", "the managed endpoint (stack parameter)")
    # One approval = one LastModifiedTime; SageMaker may send the event twice.
    stamp = str(detail.LastModifiedTime or detail.CreationTime or change.id)
    return StartRelease(
        endpoint_name=stack.endpoint_name,
        model_package_arn=detail.ModelPackageArn,
        release_id=plan.release_id_for(stack.endpoint_name, detail.ModelPackageArn, stamp),
        trigger="registry",
        requested_by="sagemaker-model-registry",
    )


def refuse_if_released(request: StartRelease, ledger: Ledger) -> StartResult | None:
    """A model package (with this prompt version) release-guard has already given an
    outcome, whatever it was, is released again only with ``force``: an approval event
    seen again, or a rolled-back package approved once more, deploys nothing."""
    if request.force or not request.model_package_arn:
        return None
    prompt = prompt_key(request.prompt)
    prior = ledger.package_outcome(request.model_package_arn, prompt)
    if prior is None:
        return None
    what = describe(request)
    said = f": {prior['reason']}" if prior.get("reason") else ""
    return StartResult(
        status="refused",
        reason=f"{what} was already released by release-guard: {prior.get('release_id')} "
        f"ended {prior.get('outcome')} at {prior.get('at')}{said}"[:900]
        + "; to release it again, start it with force (release-guard release start --force)",
    )


def describe(request: StartRelease) -> str:
    """The candidate in a few words: package (or image), with its prompt version."""
    model = request.model_package_arn or (request.container.image if request.container else "")
    return f"{model} with prompt {request.prompt.label}" if request.prompt else model


def hold_until_free(
    request: StartRelease,
    payload: dict[str, Any],
    why: str,
    endpoints: Endpoints,
    ledger: Ledger,
    workflow: Starter,
    now: datetime,
) -> StartResult:
    """An approval that finds the endpoint locked waits in the ledger, one per package
    group: the newest version replaces an older one (which is recorded as superseded),
    and recovery starts it once the lock frees (recover.start_pending)."""
    arn = str(request.model_package_arn)
    package = endpoints.describe_model_package(arn) or {}
    group = str(package.get("ModelPackageGroupName") or "-")
    version = int(package.get("ModelPackageVersion") or 0)
    waiting = next(
        (
            p
            for p in ledger.pending_approvals(request.endpoint_name)
            if p.get("sk") == f"GROUP#{group}"
        ),
        None,
    )
    if (
        waiting
        and waiting.get("model_package_arn") != arn
        and int(waiting.get("model_package_version") or 0) > version
    ):
        reason = f"superseded: version {waiting.get('model_package_version')} already waits"
        _supersede(arn, str(payload.get("release_id")), reason, ledger, workflow, now)
        return StartResult(status="refused", release_id=payload.get("release_id"), reason=reason)
    replaced = ledger.put_pending(
        request.endpoint_name,
        group,
        {
            "model_package_arn": arn,
            "model_package_version": version,
            "release_id": payload.get("release_id"),
            "request": payload,
            "recorded_at": now.isoformat(),
            "reason": why,
        },
    )
    if replaced and replaced.get("model_package_arn") != arn:
        _supersede(
            str(replaced.get("model_package_arn")),
            str(replaced.get("release_id")),
            f"superseded by version {version} while waiting for the lock",
            ledger,
            workflow,
            now,
        )
    reason = f"pending: {describe(request)} starts when the lock frees ({why})"[:1000]
    workflow.notify(
        f"release-guard: approval of version {version} is pending",
        {"endpoint": request.endpoint_name, "model_package_arn": arn, "reason": reason},
    )
    return StartResult(status="pending", release_id=payload.get("release_id"), reason=reason)


def _supersede(
    arn: str, release_id: str, reason: str, ledger: Ledger, workflow: Starter, now: datetime
) -> None:
    """The package's outcome says it was superseded: a re-approval needs --force."""
    ledger.put_package_outcome(
        arn,
        None,
        {
            "release_id": release_id,
            "outcome": "superseded",
            "reason": reason,
            "at": now.isoformat(),
        },
    )
    workflow.notify(
        "release-guard: a pending approval was superseded",
        {"model_package_arn": arn, "reason": reason},
    )


def pending_requests(ledger: Ledger, endpoint: str) -> list[dict[str, Any]]:
    """The StartRelease requests of approvals waiting for the endpoint's lock."""
    return [dict(p["request"]) for p in ledger.pending_approvals(endpoint) if p.get("request")]


def start(
    event: dict[str, Any],
    stack: Stack,
    endpoints: Endpoints,
    ledger: Ledger,
    workflow: Starter,
    defaults: Defaults,
    now: datetime,
) -> StartResult:
    if "detail-type" in event:
        request = from_registry(event, stack)
        if isinstance(request, StartResult):
            return request
    else:
        request = parse(StartRelease, event, "request")
    if stack.endpoint_name and request.endpoint_name != stack.endpoint_name:
        # Its IAM is scoped to that endpoint: any other would end in AccessDenied.
        raise InvalidReleaseRequest(
            "endpoint_name",
            f"the endpoint this stack manages ({stack.endpoint_name})",
            request.endpoint_name,
        )
    machine = stack.state_machine_arn
    if not machine:
        raise InvalidReleaseRequest("STATE_MACHINE_ARN", "the release state machine ARN")
    release_id = request.release_id or plan.release_id_for(
        request.endpoint_name, request.model_key, now.isoformat(), request.prompt
    )
    arn = workflow.execution_arn(machine, release_id)
    duplicate = StartResult(
        status="duplicate",
        release_id=release_id,
        execution_arn=arn,
        reason="a release with this id already exists; nothing started",
    )
    if workflow.execution_status(arn) is not None:
        return duplicate
    refused = refuse_if_released(request, ledger)
    if refused is not None:
        return refused
    payload = request.model_copy(update={"release_id": release_id}).model_dump(mode="json")
    # Said first: mid-canary the endpoint also fails validation (two variants serve).
    try:
        refuse_if_locked(request.endpoint_name, ledger, workflow)
    except ReleaseLocked as err:
        if request.trigger != "registry" or not request.model_package_arn:
            raise  # a person or a pipeline is told, and starts it again later
        return hold_until_free(request, payload, str(err), endpoints, ledger, workflow, now)
    unjudged = unjudged_variants(ledger, request.endpoint_name)
    ctx = prepare(request, release_id, endpoints, defaults, workflow.read_json, now, unjudged)
    started = workflow.start_execution(machine, release_id, payload)
    if ctx.model_package_group:  # an approval that waited for the lock has now started
        ledger.take_pending(request.endpoint_name, ctx.model_package_group, release_id)
    if started is None:  # a duplicate event started it between our check and our start
        return duplicate
    return StartResult(
        status="started",
        release_id=release_id,
        execution_arn=started,
        reason=f"release of {describe(request)} onto {request.endpoint_name} started",
    )
