"""events/ files: one folder per function, realistic and consistent with the fixture
account (demo-endpoint, champion `champion`, candidate v2 of demo-models, demo policy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from release_guard.canary import plan
from release_guard.events import (
    BaselineRequest,
    CanaryState,
    DeployResult,
    DriftCheckRequest,
    ModelPackageStateChange,
    ReconcileResult,
    ReleaseContext,
    StartRelease,
    StepRef,
)
from release_guard.policy import parse_policy

from tests.conftest import ENDPOINT, EVENTS, GROUP, ROOT, load_event
from tests.unit.sagemaker_shapes import metadata_problems

FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
ALL_EVENTS = sorted(EVENTS.glob("*/*.json"))
PACKAGE_V2 = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/2"
DEMO_POLICY = parse_policy(json.loads((ROOT / "policies" / "demo.json").read_text()))


def _release(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event.get("release") or event["state"]["release"])


def test_every_function_has_an_event_and_every_folder_is_a_function() -> None:
    folders = sorted(p.name for p in EVENTS.iterdir() if p.is_dir())
    assert folders == FUNCTIONS
    for name in FUNCTIONS:
        assert list((EVENTS / name).glob("*.json")), f"no event for {name}"


@pytest.mark.parametrize("path", ALL_EVENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_event_is_a_json_object(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_registry_event_is_shaped_like_eventbridge_sends_it() -> None:
    event = load_event("start_release", "registry-approved")
    change = ModelPackageStateChange.model_validate(event)
    for key in ("version", "id", "account", "time", "region", "resources"):
        assert key in event, key
    assert event["account"] == "123456789012" and event["region"] == "us-east-1"
    assert event["time"].endswith("Z")
    assert event["resources"] == [PACKAGE_V2]
    assert change.detail.ModelPackageArn == PACKAGE_V2
    assert change.detail.ModelPackageGroupName == GROUP
    assert change.detail.ModelPackageVersion == 2
    assert change.detail.ModelApprovalStatus == "Approved"
    assert isinstance(change.detail.LastModifiedTime, int)  # epoch milliseconds


# A creation (registry-approved: no UpdatedModelPackageFields), an approval, and
# release-guard's own metadata write on a package that stays Approved.
REGISTRY_EVENTS = ["registry-approved", "registry-approval-update", "registry-metadata-update"]


@pytest.mark.parametrize("case", REGISTRY_EVENTS)
def test_registry_events_name_what_changed_as_describe_model_package_does(case: str) -> None:
    event = load_event("start_release", case)
    change = ModelPackageStateChange.model_validate(event)
    detail = change.detail
    assert detail.ModelPackageArn == PACKAGE_V2 and event["resources"] == [PACKAGE_V2]
    assert detail.ModelApprovalStatus == "Approved"
    assert isinstance(detail.LastModifiedTime, int) and isinstance(detail.CreationTime, int)
    assert detail.LastModifiedTime >= detail.CreationTime
    outputs = set(
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .operation_model("DescribeModelPackage")
        .output_shape.members
    )
    assert set(event["detail"]) - {"UpdatedModelPackageFields"} <= outputs
    changed = detail.UpdatedModelPackageFields
    if case == "registry-approved":
        assert changed is None  # a creation says nothing changed
    else:
        assert changed and set(changed) <= outputs, changed
        assert all(k in event["detail"] for k in changed)  # the new values are in the detail
    if case == "registry-metadata-update":
        assert changed == ["CustomerMetadataProperties"]
        assert metadata_problems(event["detail"]["CustomerMetadataProperties"]) == []
        assert "FinishReleaseFunction" in event["detail"]["LastModifiedBy"]["IamIdentity"]["Arn"]


def test_request_events_validate_as_start_release() -> None:
    for case in ("cli-request", "bad-policy", "unknown-endpoint"):
        StartRelease.model_validate(load_event("start_release", case))
    StartRelease.model_validate(load_event("prepare_release", "valid")["request"])


# Events that carry the release context (`release`, or `state.release` for Roll Back
# and Finish Release): every workflow function but Run Eval, whose input is its own.
# The drift functions run outside the release workflow.
NOT_RELEASE = (
    "start_release",
    "prepare_release",
    "run_eval",
    "drift_check",
    "build_baseline",
    "recover_release",
)
RELEASE_EVENTS = [p for p in ALL_EVENTS if p.parent.name not in NOT_RELEASE]


@pytest.mark.parametrize("path", sorted(EVENTS.glob("drift_check/*.json")), ids=lambda p: p.stem)
def test_drift_events_validate_and_name_the_fixture_endpoint(path: Path) -> None:
    req = DriftCheckRequest.model_validate(json.loads(path.read_text()))
    assert req.endpoint == ENDPOINT


@pytest.mark.parametrize("path", sorted(EVENTS.glob("build_baseline/*.json")), ids=lambda p: p.stem)
def test_baseline_events_validate(path: Path) -> None:
    req = BaselineRequest.model_validate(json.loads(path.read_text()))
    assert req.dataset_uri.startswith("s3://")


@pytest.mark.parametrize("path", RELEASE_EVENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_workflow_events_carry_the_fixture_release(path: Path) -> None:
    event = json.loads(path.read_text())
    ctx = ReleaseContext.model_validate(_release(event))
    registry = load_event("start_release", "registry-approved")
    stamp = str(registry["detail"]["LastModifiedTime"])
    assert ctx.release_id == plan.release_id_for(ENDPOINT, PACKAGE_V2, stamp)
    assert ctx.endpoint_name == ENDPOINT
    assert (ctx.champion.name, ctx.champion.model_name) == ("champion", "demo-endpoint-champion")
    assert ctx.champion.instance_type == "ml.g5.2xlarge"
    assert ctx.candidate.name == "v2"
    assert ctx.candidate.model_name == plan.candidate_model_name(ENDPOINT, "v2", ctx.release_id)
    assert ctx.model_package_arn == PACKAGE_V2 and ctx.model_package_version == 2
    assert ctx.eval_runs_prefix is not None
    assert ctx.eval_runs_prefix.endswith(f"/evals/runs/{ctx.release_id}/")
    # The demo policy; a hold needs on_insufficient_data "hold", a gate its records.
    if path.parent.name == "request_approval":
        assert event["canary"]["verdict"]["action"] == "hold"
        canary = ctx.policy.canary
        assert canary.on_insufficient_data == "hold"
        assert canary.metrics == DEMO_POLICY.canary.metrics
        assert canary.steps == DEMO_POLICY.canary.steps
    elif path.parent.name == "eval_gate":
        assert ctx.policy.gate is not None and ctx.policy.gate.candidate_uri
        assert ctx.policy.model_copy(update={"gate": None}) == DEMO_POLICY
    else:
        assert ctx.policy == DEMO_POLICY
    # The other parts of each event parse as their handler parses them.
    if "deploy" in event:
        DeployResult.model_validate(event["deploy"])
    if "step" in event:
        StepRef.model_validate(event["step"])
    if path.parent.name == "judge_canary":
        CanaryState.model_validate(event["canary"])
    if "promotion" in event:
        ReconcileResult.model_validate(event["promotion"])
    if path.parent.name == "roll_back":
        ReconcileResult.model_validate(event["state"]["rollback"])
    if path.parent.name in ("acquire_lock", "finish_release"):
        assert event["execution_arn"].endswith(f":{ctx.release_id}")
