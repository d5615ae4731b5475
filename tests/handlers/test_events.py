"""events/ files: one folder per function, realistic and consistent with the fixture
account (demo-endpoint, champion `champion`, candidate v2 of demo-models, demo policy)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from release_guard.canary import plan
from release_guard.errors import InvalidReleaseRequest
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
from release_guard.settings import settings
from release_guard_cli.emulator.lambda_gaps import LambdaContext

from tests.conftest import ENDPOINT, EVENTS, GROUP, ROOT, load_event
from tests.unit.sagemaker_shapes import metadata_problems

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

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


# --- Payloads that are no JSON object (issue 12) ----------------------------------------------


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated() as env:
        yield env


def logical_id(function: str) -> str:
    """functions/start_release -> StartReleaseFunction, as template.yaml names them."""
    return "".join(w.capitalize() for w in function.split("_")) + "Function"


def call_handler(env: Any, function: str, payload: Any) -> Any:
    """Run functions/<function>/app.py's handler in this process, with the function's
    environment, as the Lambda runtime would with ``payload`` decoded from JSON: what it
    returns, or the error it raises. (The emulator's Lambda API turns a null payload
    into {} and cannot pass a string.)"""
    name = env.functions[logical_id(function)]
    variables = env.lam.get_function_configuration(FunctionName=name)["Environment"]
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in variables["Variables"].items()})
    settings.cache_clear()  # each function reads its own environment
    try:
        spec = importlib.util.spec_from_file_location(
            f"rg_fn_{function}_events_test", ROOT / "functions" / function / "app.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        context = LambdaContext(function_name=name, invoked_function_arn=name)
        return module.handler(payload, context)
    except Exception as err:
        return err
    finally:
        os.environ.clear()
        os.environ.update(saved)
        settings.cache_clear()


NOT_OBJECTS = [7, 2.5, True, None, "x", [1], [{"release": {}}]]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_handler_refuses_a_payload_that_is_no_object(env: Any, function: str) -> None:
    """A number, a boolean, null, a string or a list is the handler's validation error,
    naming the field and what it takes, never a TypeError or AttributeError."""
    assert logical_id(function) in env.functions
    # Run Eval's request is its own (gate/runner.py): the field is "request".
    field = "request" if function == "run_eval" else "event"
    for payload in NOT_OBJECTS:
        err = call_handler(env, function, payload)
        assert isinstance(err, InvalidReleaseRequest), (payload, err)
        assert str(err).startswith(f"{field}: expected "), str(err)
        if payload and not isinstance(payload, str):  # through the Lambda API too
            inv = env.invoke(logical_id(function), payload)
            assert (inv.error_type, inv.error_message) == ("InvalidReleaseRequest", str(err))


@pytest.mark.parametrize(
    ("function", "event", "says"),
    [
        ("acquire_lock", {"release": "RELEASE"}, "execution_arn: expected the execution's ARN"),
        ("prepare_release", {"request": "REQUEST", "release_id": 5}, "release_id: expected"),
        ("request_approval", {"release": "RELEASE", "canary": [1]}, "canary: expected"),
        ("request_approval", {"release": "RELEASE"}, "token: expected the task token"),
        ("roll_back", {"state": "done"}, "state: expected the execution's state"),
        ("finish_release", {"state": 1}, "state: expected the execution's state"),
        ("eval_gate", {"release": "RELEASE", "candidate_uri": 5}, "candidate_uri: expected"),
        (
            "recover_release",
            {"detail-type": "Step Functions Execution Status Change", "detail": "x"},
            "detail: expected an execution's name and status",
        ),
        (
            "recover_release",
            {
                "detail-type": "Step Functions Execution Status Change",
                "detail": {"name": "r-1", "status": "FAILED", "error": 5},
            },
            "detail: expected an execution's name and status",
        ),
    ],
    ids=[
        "acquire_lock-no-arn",
        "prepare_release-id-number",
        "request_approval-canary-array",
        "request_approval-no-token",
        "roll_back-state-string",
        "finish_release-state-number",
        "eval_gate-uri-number",
        "recover_release-detail-string",
        "recover_release-error-number",
    ],
)
def test_a_field_of_the_wrong_kind_is_named(
    env: Any, function: str, event: dict[str, Any], says: str
) -> None:
    """What a handler reads besides its pydantic models (ARNs, tokens, nested objects)
    is checked as they are: a missing or mistyped one is the validation error."""
    valid = {  # the placeholders, as the events/ files have them
        "RELEASE": _release(load_event("acquire_lock", "free-endpoint")),
        "REQUEST": load_event("prepare_release", "valid")["request"],
    }
    event = {k: valid.get(v, v) if isinstance(v, str) else v for k, v in event.items()}
    inv = env.invoke(logical_id(function), event)
    assert inv.error_type == "InvalidReleaseRequest", inv.error_message
    assert inv.error_message.startswith(says), inv.error_message
