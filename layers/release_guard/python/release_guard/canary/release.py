"""The release, one function per workflow state.

Each function takes the state's input, the ports it needs and the clock, and is
safe to run twice: decisions are written once to the ledger and a redelivered
call gets the first decision back; endpoint changes are computed from what
DescribeEndpoint shows now, so a retry resumes rather than repeats.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from release_guard import limits, registry
from release_guard.canary import plan
from release_guard.canary.ports import Endpoints, Ledger, Workflow
from release_guard.errors import (
    EndpointBusy,
    EndpointTimeout,
    EndpointUpdateFailed,
    InvalidReleaseRequest,
    ReleaseLocked,
)
from release_guard.events import (
    CanaryState,
    DeployResult,
    EndpointState,
    EndpointView,
    PromptRef,
    ReconcileResult,
    ReleaseContext,
    StartRelease,
    StepRef,
    Variant,
)
from release_guard.policy import DEFAULT_POLICY, ReleasePolicy, parse_policy


@dataclass(frozen=True)
class Defaults:
    """Stack-level defaults a request may override."""

    instance_type: str
    instance_count: int
    policy_uri: str | None
    role_arn: str | None
    capture_uri: str | None
    reports_bucket: str | None = None


def _iso(ts: datetime) -> str:
    return ts.isoformat()


# --- Prepare -------------------------------------------------------------------------


def load_policy(
    request: StartRelease, defaults: Defaults, read_json: Callable[[str], Any]
) -> ReleasePolicy:
    if request.policy is not None:
        return parse_policy(request.policy, "policy")
    uri = request.policy_uri or defaults.policy_uri
    if not uri:
        return DEFAULT_POLICY
    field = "policy_uri" if request.policy_uri else "RELEASE_POLICY_URI"
    try:
        doc = read_json(uri)
    except Exception as err:  # any read or parse failure is the caller's bad input
        raise InvalidReleaseRequest(field, "a readable JSON policy in S3", f"{uri}: {err}") from err
    return parse_policy(doc, "policy")


def with_prompt_dataset(policy: ReleasePolicy, request: StartRelease) -> ReleasePolicy:
    """A prompt version names its eval dataset; a gate that runs a dataset on both
    variants (dataset_uri, no fixed records) runs that one."""
    gate, prompt = policy.gate, request.prompt
    if gate is None or prompt is None or not prompt.eval_dataset_uri or gate.candidate_uri:
        return policy
    gate = gate.model_copy(update={"dataset_uri": prompt.eval_dataset_uri})
    return policy.model_copy(update={"gate": gate})


def prepare(
    request: StartRelease,
    release_id: str,
    endpoints: Endpoints,
    defaults: Defaults,
    read_json: Callable[[str], Any],
    now: datetime,
    unjudged: dict[str, str] | None = None,
) -> ReleaseContext:
    """Resolve and validate everything before anything changes on the endpoint.
    ``unjudged`` names variants a release placed that it never promoted (with why):
    none of them is taken for the champion."""
    policy = load_policy(request, defaults, read_json)
    view = endpoints.describe_endpoint(request.endpoint_name)
    if view is None:
        raise InvalidReleaseRequest(
            "endpoint_name", "an existing SageMaker endpoint", request.endpoint_name
        )
    package: dict[str, Any] = {}
    if request.model_package_arn:
        package = endpoints.describe_model_package(request.model_package_arn) or {}
        if not package:
            raise InvalidReleaseRequest(
                "model_package_arn", "an existing model package", request.model_package_arn
            )
        if package.get("ModelApprovalStatus") != "Approved":
            raise InvalidReleaseRequest(
                "model_package_arn",
                "an Approved model package",
                f"{request.model_package_arn} is {package.get('ModelApprovalStatus')}",
            )
    version = package.get("ModelPackageVersion")
    # With a prompt the default name carries its version: the same package with another
    # prompt is another variant, never refused as the champion's own name.
    name = request.candidate_variant or plan.candidate_variant_name(
        request.model_key, version, request.prompt
    )
    champion_name = plan.pick_champion(view, name, unjudged or {})
    config = endpoints.describe_endpoint_config(view.config_name)
    champ_cfg = next(v for v in config["ProductionVariants"] if v["VariantName"] == champion_name)
    if not defaults.role_arn:
        raise InvalidReleaseRequest(
            "MODEL_EXECUTION_ROLE_ARN", "the role SageMaker models run with (stack parameter)"
        )
    instance_type = request.instance_type or defaults.instance_type
    policy = with_prompt_dataset(policy, request)
    # The lease is the policy's worst case, recorded for operators; a holder whose
    # execution ended is replaced only once its release reached a verified end.
    lease = limits.worst_case_seconds(policy)
    return ReleaseContext(
        release_id=release_id,
        endpoint_name=view.name,
        champion=Variant(
            name=champion_name,
            model_name=champ_cfg["ModelName"],
            instance_type=champ_cfg.get("InstanceType", "serverless"),
            instance_count=int(champ_cfg.get("InitialInstanceCount", 1)),
        ),
        candidate=Variant(
            name=name,
            model_name=plan.candidate_model_name(view.name, name, release_id),
            instance_type=instance_type,
            instance_count=request.instance_count or defaults.instance_count,
        ),
        model_package_arn=request.model_package_arn,
        model_package_group=package.get("ModelPackageGroupName"),
        model_package_version=version,
        container=request.container,
        prompt=request.prompt,
        policy=policy,
        trigger=request.trigger,
        requested_by=request.requested_by,
        started_at=now,
        lock_seconds=lease,
        eval_runs_prefix=(
            f"s3://{defaults.reports_bucket}/evals/runs/{release_id}/"
            if defaults.reports_bucket
            else None
        ),
    )


# --- Lock ----------------------------------------------------------------------------


def versions(ctx: ReleaseContext) -> dict[str, Any]:
    """What the candidate is, for the ledger: model package (or image) and prompt version."""
    out: dict[str, Any] = {
        "model_package_arn": ctx.model_package_arn,
        "model_package_version": ctx.model_package_version,
    }
    if ctx.container is not None:
        out["image"] = ctx.container.image
        out["model_data_url"] = ctx.container.model_data_url
    prompt = ctx.prompt
    out["prompt"] = (
        None
        if prompt is None
        else {
            "name": prompt.name,
            "version": prompt.version,
            "digest": prompt.digest,
            "eval_dataset_uri": prompt.eval_dataset_uri,
        }
    )
    return out


# Ends after which the endpoint is known: the champion (or the promoted candidate)
# alone serves, verified. A release in any other state still needs recovery.
VERIFIED_ENDS = frozenset({"promoted", "rolled_back", "rejected", "failed", "aborted", "timed_out"})


def refuse_if_locked(endpoint: str, ledger: Ledger, workflow: Workflow) -> dict[str, Any] | None:
    """Raise ReleaseLocked naming the holder while its execution runs, or while its
    release has not reached a verified end (it is being recovered, or its rollback is
    not verified yet); otherwise the holder's item (a lock left by an ended execution
    whose release has ended, or never started), or None when the lock is free."""
    holder = ledger.lock_holder(endpoint)
    if holder is None:
        return None
    owner = str(holder.get("owner"))
    if workflow.execution_status(str(holder.get("execution_arn", ""))) == "RUNNING":
        raise ReleaseLocked(
            f"endpoint {endpoint} is being released by {owner} "
            f"({holder.get('execution_arn')}); wait for it or abort it"
        )
    meta = ledger.summary(owner)
    if meta is not None and meta.get("status") not in VERIFIED_ENDS:
        raise ReleaseLocked(
            f"endpoint {endpoint} is held by {owner}, whose execution ended with the release "
            f"{meta.get('status')}: release-guard recovers it (verified rollback) before the "
            "lock frees (docs/operations.md, Runbooks)"
        )
    return holder


def acquire_lock(
    ctx: ReleaseContext, execution_arn: str, ledger: Ledger, workflow: Workflow, now: datetime
) -> dict[str, Any]:
    """The lock is held while its holder's execution runs, however long that takes;
    a holder whose execution has ended (stopped, or failed before releasing) is
    replaced. The lease is recorded for operators, never used to take a lock over."""
    epoch = int(now.timestamp())
    args = (ctx.endpoint_name, ctx.release_id, execution_arn, epoch, ctx.lock_seconds)
    for _ in range(3):  # the holder may release between our write and our read
        if ledger.acquire_lock(*args):
            break
        holder = refuse_if_locked(ctx.endpoint_name, ledger, workflow)
        if holder is None:
            continue
        if ledger.acquire_lock(*args, replace_owner=str(holder.get("owner"))):
            break
    else:
        raise ReleaseLocked(f"endpoint {ctx.endpoint_name}: the lock kept changing hands")
    ledger.put_summary(
        ctx.release_id,
        {
            "release_id": ctx.release_id,
            "endpoint_name": ctx.endpoint_name,
            "execution_arn": execution_arn,
            **versions(ctx),
            "champion": ctx.champion.name,
            "candidate": ctx.candidate.name,
            "policy_version": ctx.policy.version,
            "policy": ctx.policy.model_dump(mode="json"),
            "trigger": ctx.trigger,
            "requested_by": ctx.requested_by,
            "started_at": _iso(ctx.started_at),
            "status": "running",
            # What recovery needs when the execution ends some other way (recover.py).
            "context": ctx.model_dump(mode="json"),
        },
    )
    return {"locked": True, "owner": ctx.release_id}


def unjudged_variants(ledger: Ledger, endpoint: str) -> dict[str, str]:
    """Variants recent releases placed on the endpoint without promoting them, with
    why: such a variant is never the champion of a new release."""
    out: dict[str, str] = {}
    for meta in ledger.recent_releases(endpoint, 20):
        name, status = meta.get("candidate"), meta.get("status")
        if name and status != "promoted" and name not in out:
            out[str(name)] = f"placed by release {meta.get('release_id')}, which is {status}"
    return out


def refuse_if_recovering(ctx: ReleaseContext, ledger: Ledger) -> None:
    """A workflow step whose execution was stopped may still be running: it must not
    change the endpoint once recovery has taken over (status recovering or ended)."""
    meta = ledger.summary(ctx.release_id) or {}
    status = meta.get("status")
    if status == "recovering" or status in VERIFIED_ENDS or status == "rollback_unverified":
        raise EndpointUpdateFailed(
            f"release {ctx.release_id} is {status}: recovery owns the endpoint, no change made"
        )


# --- Deploy --------------------------------------------------------------------------


def capture_config(existing: dict[str, Any] | None, uri: str | None, sampling: int) -> dict | None:
    """Keep the endpoint's own capture settings, switched on; else capture both ways."""
    if existing:
        cfg = {k: v for k, v in existing.items() if k != "CurrentSamplingPercentage"}
        cfg["EnableCapture"] = True
        return cfg
    if not uri:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": sampling,
        "DestinationS3Uri": uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }


def deploy_candidate(
    ctx: ReleaseContext, endpoints: Endpoints, ledger: Ledger, defaults: Defaults, now: datetime
) -> DeployResult:
    """Champion's variants at their live weights plus the candidate at weight 0.

    The intent is recorded before UpdateEndpoint, so a redelivered or crashed call
    finds the first attempt's previous config and deadline and only finishes it."""
    config_name = plan.candidate_config_name(ctx.endpoint_name, ctx.release_id, "canary")
    view = _describe(endpoints, ctx.endpoint_name)
    if view.config_name != config_name:
        if view.status != "InService":
            raise EndpointBusy(f"endpoint {ctx.endpoint_name} is {view.status}")
        if ctx.candidate.name in {v.name for v in view.variants}:
            raise EndpointUpdateFailed(f"variant {ctx.candidate.name} is already on the endpoint")
    current = endpoints.describe_endpoint_config(view.config_name)
    variants = plan.config_with_candidate(current["ProductionVariants"], view, ctx.candidate)
    capture = capture_config(
        current.get("DataCaptureConfig"),
        defaults.capture_uri,
        ctx.policy.deployment.data_capture_sampling_percent,
    )
    intent = DeployResult(
        endpoint_config_name=config_name,
        previous_endpoint_config_name=view.config_name,
        changed=True,
        deadline=now + timedelta(seconds=ctx.policy.deployment.in_service_timeout_seconds),
    )
    first, item = ledger.record_once(
        ctx.release_id,
        "01#DEPLOY",
        {
            "kind": "deploy",
            "at": _iso(now),
            "result": intent.model_dump(mode="json"),
            "variants": variants,
            "data_capture": capture,
            "policy_version": ctx.policy.version,
            **versions(ctx),
        },
    )
    result = DeployResult.model_validate(item["result"])
    if view.config_name == config_name:
        return result.model_copy(update={"changed": False})
    if not first:
        # An earlier attempt recorded the intent; its variants are the ones to apply.
        variants, capture = item["variants"], item.get("data_capture")
    endpoints.create_model(
        ctx.candidate.model_name,
        plan.candidate_container(ctx),
        defaults.role_arn or "",
        plan.model_tags(ctx),
    )
    endpoints.create_endpoint_config(config_name, variants, capture)
    refuse_if_recovering(ctx, ledger)
    endpoints.update_endpoint(ctx.endpoint_name, config_name)
    return result


def _describe(endpoints: Endpoints, name: str) -> EndpointView:
    view = endpoints.describe_endpoint(name)
    if view is None:
        raise EndpointUpdateFailed(f"endpoint {name} no longer exists")
    return view


def check_endpoint(
    ctx: ReleaseContext, deploy: DeployResult, endpoints: Endpoints, now: datetime
) -> EndpointState:
    view = _describe(endpoints, ctx.endpoint_name)
    wait = ctx.policy.deployment.poll_seconds
    if view.status == "InService":
        if view.config_name == deploy.endpoint_config_name and view.variant(ctx.candidate.name):
            return EndpointState(status=view.status, ready=True, wait_seconds=wait)
        if view.config_name == deploy.previous_endpoint_config_name:
            raise EndpointUpdateFailed(
                "SageMaker rolled the update back to the previous config: "
                f"{view.failure_reason or 'no FailureReason given'}"
            )
    if view.status in plan.BROKEN:
        raise EndpointUpdateFailed(
            f"endpoint is {view.status}: {view.failure_reason or 'no FailureReason given'}"
        )
    if now >= deploy.deadline:
        raise EndpointTimeout(
            f"endpoint still {view.status} at the deadline {deploy.deadline.isoformat()}"
        )
    return EndpointState(
        status=view.status, ready=False, wait_seconds=wait, failure_reason=view.failure_reason
    )


# --- Canary --------------------------------------------------------------------------


def shift_traffic(
    ctx: ReleaseContext, step: StepRef, endpoints: Endpoints, ledger: Ledger, now: datetime
) -> dict[str, Any]:
    canary = ctx.policy.canary
    if step.index >= len(canary.steps):
        raise InvalidReleaseRequest("step_index", f"< {len(canary.steps)}", step.index)
    percent = canary.steps[step.index]
    target = plan.weights_for(percent, ctx.champion.name, ctx.candidate.name)
    view = _describe(endpoints, ctx.endpoint_name)
    current = {v.name: v.current_weight for v in view.variants}
    if any(current.get(n) != w for n, w in target.items()):
        if view.status != "InService":
            raise EndpointBusy(f"endpoint {ctx.endpoint_name} is {view.status}")
        refuse_if_recovering(ctx, ledger)
        endpoints.update_weights(ctx.endpoint_name, target)
    # The first record of a step fixes when its bake began: a redelivered shift
    # neither restarts the bake nor counts as a second step.
    _, item = ledger.record_once(
        ctx.release_id,
        f"02#STEP#{step.index:02d}#SHIFT",
        {
            "kind": "shift",
            "at": _iso(now),
            "step_index": step.index,
            "percent": percent,
            "weights": target,
            "policy_version": ctx.policy.version,
        },
    )
    state = CanaryState(
        step_index=step.index,
        percent=percent,
        step_started_at=datetime.fromisoformat(item["at"]),
        checks=0,
        wait_seconds=max(1, min(canary.check_interval_seconds, canary.min_bake_seconds)),
    )
    return {"state": state.model_dump(mode="json"), "verdict": None}


def request_approval(
    ctx: ReleaseContext,
    canary: dict[str, Any],
    token: str,
    ledger: Ledger,
    workflow: Workflow,
    now: datetime,
) -> dict[str, Any]:
    verdict = canary.get("verdict") or {}
    key = f"03#HOLD#{verdict.get('step_index', 0):02d}#{verdict.get('checks', 0):04d}"
    ledger.record_once(ctx.release_id, key, {"kind": "hold", "at": _iso(now), "verdict": verdict})
    ledger.update_summary(
        ctx.release_id,
        {"status": "awaiting_operator", "task_token": token, "hold_reason": verdict.get("reason")},
    )
    workflow.notify(
        f"release-guard: decision needed for {ctx.release_id}",
        {
            "release_id": ctx.release_id,
            "endpoint": ctx.endpoint_name,
            "reason": verdict.get("reason"),
            "answer_with": f"release-guard release approve|abort {ctx.release_id}",
        },
    )
    return {"requested": True}


# --- Roll back and promote: verified reconcilers --------------------------------------


def _apply(
    step: plan.Step, ctx: ReleaseContext, view: EndpointView, endpoints: Endpoints, purpose: str
) -> None:
    if step.kind == "set_weights" and step.weights:
        endpoints.update_weights(ctx.endpoint_name, step.weights)
    elif step.kind == "replace_config" and step.drop_variant:
        current = endpoints.describe_endpoint_config(view.config_name)
        name = plan.candidate_config_name(ctx.endpoint_name, ctx.release_id, purpose)
        endpoints.create_endpoint_config(
            name,
            plan.config_without(current["ProductionVariants"], step.drop_variant, view),
            current.get("DataCaptureConfig"),
        )
        endpoints.update_endpoint(ctx.endpoint_name, name)


def _reconcile(
    ctx: ReleaseContext,
    progress: ReconcileResult,
    step_for: Callable[[EndpointView], plan.Step],
    endpoints: Endpoints,
    purpose: str,
) -> tuple[ReconcileResult, EndpointView]:
    attempts = progress.attempts + 1
    view = _describe(endpoints, ctx.endpoint_name)
    step = step_for(view)
    detail = step.detail
    if step.kind in ("set_weights", "replace_config"):
        try:
            _apply(step, ctx, view, endpoints, purpose)
        except EndpointBusy as err:
            detail = f"{detail}: endpoint busy ({err}); will retry"
        view = _describe(endpoints, ctx.endpoint_name)
    result = ReconcileResult(
        verified=step.kind == "verified",
        phase=step.kind,
        detail=detail,
        wait_seconds=ctx.policy.rollback_poll_seconds,
        attempts=attempts,
        weights={v.name: v.current_weight or 0.0 for v in view.variants},
    )
    return result, view


def roll_back(
    ctx: ReleaseContext,
    progress: ReconcileResult,
    reason: str,
    endpoints: Endpoints,
    ledger: Ledger,
    workflow: Workflow,
    now: datetime,
) -> ReconcileResult:
    ledger.record_once(
        ctx.release_id,
        "07#ROLLBACK#START",
        {"kind": "rollback_started", "at": _iso(now), "reason": reason},
    )
    result, view = _reconcile(
        ctx,
        progress,
        lambda v: plan.next_rollback_step(v, ctx.champion.name, ctx.candidate.name),
        endpoints,
        "rollback",
    )
    if result.verified:
        ledger.record_once(
            ctx.release_id,
            "07#ROLLBACK#VERIFIED",
            {
                "kind": "rollback_verified",
                "at": _iso(now),
                "reason": reason,
                "attempts": result.attempts,
                "endpoint": view.model_dump(mode="json"),
            },
        )
    return result


def promote(
    ctx: ReleaseContext,
    progress: ReconcileResult,
    retire_champion: bool,
    endpoints: Endpoints,
    ledger: Ledger,
    now: datetime,
) -> ReconcileResult:
    result, view = _reconcile(
        ctx,
        progress,
        lambda v: plan.next_promotion_step(
            v, ctx.champion.name, ctx.candidate.name, retire_champion
        ),
        endpoints,
        "promote",
    )
    if result.phase == "failed":
        raise EndpointUpdateFailed(f"promotion cannot proceed: {result.detail}")
    if not result.verified and result.attempts >= ctx.policy.rollback_max_attempts:
        # Bounded like a rollback: the workflow then rolls back (verified).
        raise EndpointTimeout(
            f"promotion not verified after {result.attempts} attempts: {result.detail}"
        )
    if result.verified:
        key = "05#PROMOTE#RETIRED" if retire_champion else "04#PROMOTE#SHIFTED"
        ledger.record_once(
            ctx.release_id,
            key,
            {
                "kind": "champion_retired" if retire_champion else "promoted_to_100",
                "at": _iso(now),
                "endpoint": view.model_dump(mode="json"),
            },
        )
    return result


# --- Finish ----------------------------------------------------------------------------


def reason_of(state: dict[str, Any]) -> str:
    """The sentence a person reads for why the release ended the way it did."""
    error = state.get("error")
    if isinstance(error, dict) and error.get("Error"):
        cause = str(error.get("Cause", ""))
        try:  # a Lambda error's Cause is its JSON error payload
            cause = str(json.loads(cause).get("errorMessage", cause))
        except (ValueError, AttributeError):
            pass
        return f"{error['Error']}: {cause}"[:1000]
    approval = state.get("approval")
    if isinstance(approval, dict) and approval.get("decision") == "abort":
        return (
            f"aborted by {approval.get('operator') or 'an operator'}: {approval.get('note') or ''}"
        )
    verdict = (state.get("canary") or {}).get("verdict")
    if isinstance(verdict, dict):
        return str(verdict.get("reason", ""))
    gate = state.get("gate")
    if isinstance(gate, dict) and gate.get("verdict"):
        return f"eval gate {gate['verdict']}: {gate.get('reason', '')}"[:1000]
    return ""


def prompt_key(prompt: PromptRef | None) -> str | None:
    """Which configuration of the package a release was of: its prompt version (an
    edited version has another digest), or None for the package alone."""
    return None if prompt is None else f"{prompt.label}@{prompt.digest}"


def _attempt(what: str, effect: Callable[[], object], on_error: Callable[[str], None]) -> str:
    """Run one of Finish Release's effects: "done", or why it failed (logged)."""
    try:
        effect()
    except Exception as err:  # each effect on its own: one failing never stops another
        on_error(f"finish: {what} failed")
        return f"failed: {type(err).__name__}: {err}"[:1000]
    return "done"


def finish(
    ctx: ReleaseContext,
    outcome: str,
    reason: str,
    endpoints: Endpoints,
    ledger: Ledger,
    workflow: Workflow,
    now: datetime,
    report: Callable[[], dict[str, Any]] | None = None,
    on_error: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The outcome goes to the ledger first (the release, the package's last outcome),
    then the lock is released: an error here is raised, and Step Functions retries it
    (every write is idempotent). Only then the three effects, each on its own: the
    report (``report`` returns what it wrote, or ``error``), the model package's
    metadata and the SNS notification. A failed effect is logged (``on_error``, called
    inside the except block), recorded on the summary under ``effects`` and returned;
    it never fails the state, so the workflow ends on the outcome it was given."""
    ledger.record_once(
        ctx.release_id,
        "09#OUTCOME",
        {"kind": "outcome", "at": _iso(now), "outcome": outcome, "reason": reason},
    )
    ledger.update_summary(
        ctx.release_id,
        {"status": outcome, "finished_at": _iso(now), "reason": reason, "task_token": None},
    )
    if ctx.model_package_arn:
        ledger.put_package_outcome(
            ctx.model_package_arn,
            prompt_key(ctx.prompt),
            {
                "release_id": ctx.release_id,
                "endpoint_name": ctx.endpoint_name,
                "outcome": outcome,
                "reason": reason[:1000],
                "at": _iso(now),
                "prompt": ctx.prompt.label if ctx.prompt else None,
            },
        )
    # An unverified rollback keeps the lock: no release starts beside a candidate that
    # may still take traffic; recovery frees it once the endpoint is verified.
    released = outcome != "rollback_unverified" and ledger.release_lock(
        ctx.endpoint_name, ctx.release_id
    )

    effects: dict[str, str] = {}
    report_uri = None
    if report is not None:
        try:
            written = report()
        except Exception as err:  # publish() never raises; any other writer might
            on_error("finish: the release report failed")
            written = {"error": f"{type(err).__name__}: {err}"}
        report_uri = None if written.get("error") else written.get("html")
        effects["report"] = f"failed: {written['error']}"[:1000] if written.get("error") else "done"
    arn = ctx.model_package_arn
    if arn:
        extra = {"release-guard:prompt": ctx.prompt.label} if ctx.prompt else None
        # The outcome is the package's with this prompt version.
        properties = registry.package_metadata(ctx.release_id, outcome, reason, report_uri, extra)
        effects["package"] = _attempt(
            "recording the outcome on the model package",
            lambda: endpoints.record_on_package(arn, properties),
            on_error,
        )
    body = {
        "release_id": ctx.release_id,
        "endpoint": ctx.endpoint_name,
        "outcome": outcome,
        "reason": reason,
        "report": report_uri,
    }
    effects["notify"] = _attempt(
        "the SNS notification",
        lambda: workflow.notify(f"release-guard: {ctx.release_id} {outcome}", body),
        on_error,
    )
    failed = {k: v for k, v in effects.items() if v != "done"}
    try:
        ledger.update_summary(ctx.release_id, {"effects": effects})
    except Exception:
        on_error(f"finish: could not record the effects on {ctx.release_id}: {failed}")
    return {"outcome": outcome, "lock_released": released, "effects": effects}
