"""The release's workflow states against in-memory fakes of SageMaker, the ledger,
CloudWatch and Step Functions (tests/unit/fakes.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from release_guard.canary import judging, plan, release
from release_guard.canary.release import Defaults
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
    ReconcileResult,
    ReleaseContext,
    StartRelease,
    StepRef,
)
from release_guard.policy import DEFAULT_POLICY

from tests.unit.fakes import (
    ERRORS_5XX,
    INVOCATIONS,
    LATENCY_SAMPLES,
    Call,
    FakeEndpoints,
    FakeLedger,
    FakeMetrics,
    FakeWorkflow,
    Period,
    app_key,
    latency_key,
    steady,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ENDPOINT = "churn-prod"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/7"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-models"
CAPTURE_URI = "s3://release-guard-capture/datacapture"
DEFAULTS = Defaults(
    instance_type="ml.g5.xlarge",
    instance_count=1,
    policy_uri=None,
    role_arn=ROLE,
    capture_uri=CAPTURE_URI,
)
EXEC_1 = "arn:aws:states:us-east-1:123456789012:execution:release:first"
EXEC_2 = "arn:aws:states:us-east-1:123456789012:execution:release:second"
DELAY = timedelta(seconds=DEFAULT_POLICY.canary.metric_delay_seconds)
CHAMPION_CFG = {
    "VariantName": "v6",
    "ModelName": "churn-v6",
    "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 2,
    "InitialVariantWeight": 1.0,
}


def no_s3(uri: str) -> Any:
    raise AssertionError(f"no policy should be read from S3 ({uri})")


def account(
    variants: list[dict[str, Any]] | None = None,
    capture: dict[str, Any] | None = None,
    live_weights: dict[str, float] | None = None,
    approval: str = "Approved",
) -> FakeEndpoints:
    eps = FakeEndpoints()
    eps.add_endpoint(
        ENDPOINT,
        "churn-prod-cfg-6",
        variants or [CHAMPION_CFG],
        data_capture=capture,
        live_weights=live_weights,
    )
    eps.add_package(ARN, status=approval, version=7, group="churn")
    return eps


def request(**overrides: Any) -> StartRelease:
    return StartRelease.model_validate(
        {"endpoint_name": ENDPOINT, "model_package_arn": ARN, **overrides}
    )


def prepared(
    eps: FakeEndpoints, stamp: str = "2025-03-01T12:00:00Z", **overrides: Any
) -> ReleaseContext:
    req = request(**overrides)
    release_id = plan.release_id_for(ENDPOINT, ARN, stamp)
    return release.prepare(req, release_id, eps, DEFAULTS, no_s3, T0)


def deployed(eps: FakeEndpoints, ledger: FakeLedger, ctx: ReleaseContext) -> DeployResult:
    result = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    eps.settle()
    return result


START = ReconcileResult(verified=False, phase="start", detail="", wait_seconds=1, attempts=0)


# --- Prepare ----------------------------------------------------------------------------


def test_prepare_resolves_champion_and_candidate() -> None:
    eps = account()
    ctx = prepared(eps)
    assert ctx.endpoint_name == ENDPOINT
    assert ctx.champion.name == "v6"
    assert ctx.champion.model_name == "churn-v6"
    assert ctx.champion.instance_type == "ml.m5.large"
    assert ctx.champion.instance_count == 2
    assert ctx.candidate.name == "v7"
    assert ctx.candidate.instance_type == "ml.g5.xlarge"
    assert ctx.candidate.model_name == plan.candidate_model_name(ENDPOINT, "v7", ctx.release_id)
    assert ctx.model_package_group == "churn" and ctx.model_package_version == 7
    assert ctx.policy == DEFAULT_POLICY  # policies/default.json, shipped in the layer
    assert ctx.policy.canary.metric_delay_seconds == 120
    assert ctx.started_at == T0
    assert ctx.lock_seconds > ctx.policy.deployment.in_service_timeout_seconds
    assert eps.mutating_calls() == []


def test_prepare_takes_the_requested_variant_instance_and_policy() -> None:
    eps = account()
    ctx = prepared(
        eps,
        candidate_variant="churn-next",
        instance_type="ml.g5.2xlarge",
        instance_count=3,
        policy={"version": "strict-2", "canary": {"steps": [10, 100]}},
    )
    assert ctx.candidate.name == "churn-next"
    assert ctx.candidate.instance_type == "ml.g5.2xlarge"
    assert ctx.candidate.instance_count == 3
    assert ctx.policy.version == "strict-2"
    assert ctx.policy.canary.steps == [10.0, 100.0]


def test_prepare_picks_the_serving_variant_next_to_a_standby() -> None:
    standby = {**CHAMPION_CFG, "VariantName": "standby", "ModelName": "churn-v5"}
    eps = account([CHAMPION_CFG, standby], live_weights={"v6": 1.0, "standby": 0.0})
    assert prepared(eps).champion.name == "v6"


def _unknown_endpoint(eps: FakeEndpoints) -> dict[str, Any]:
    return {"endpoint_name": "churn-nope"}


def _unknown_package(eps: FakeEndpoints) -> dict[str, Any]:
    return {"model_package_arn": ARN.replace("/7", "/99")}


def _pending_package(eps: FakeEndpoints) -> dict[str, Any]:
    eps.packages[ARN]["ModelApprovalStatus"] = "PendingManualApproval"
    return {}


def _two_serving(eps: FakeEndpoints) -> dict[str, Any]:
    other = {**CHAMPION_CFG, "VariantName": "v5", "ModelName": "churn-v5"}
    eps.add_endpoint(ENDPOINT, "churn-prod-cfg-ab", [CHAMPION_CFG, other])
    return {}


def _candidate_exists(eps: FakeEndpoints) -> dict[str, Any]:
    return {"candidate_variant": "v6"}


def _version_exists(eps: FakeEndpoints) -> dict[str, Any]:
    leftover = {**CHAMPION_CFG, "VariantName": "v7", "ModelName": "churn-v7-old"}
    eps.add_endpoint(
        ENDPOINT, "churn-prod-cfg-7", [CHAMPION_CFG, leftover], live_weights={"v7": 0.0}
    )
    return {}


def _bad_policy(eps: FakeEndpoints) -> dict[str, Any]:
    return {"policy": {"version": "p", "canary": {"steps": [5, 50]}}}


def _updating(eps: FakeEndpoints) -> dict[str, Any]:
    eps.set_status(ENDPOINT, "Updating")
    return {}


@pytest.mark.parametrize(
    ("arrange", "field", "words"),
    [
        (_unknown_endpoint, "endpoint_name", "existing SageMaker endpoint"),
        (_unknown_package, "model_package_arn", "existing model package"),
        (_pending_package, "model_package_arn", "PendingManualApproval"),
        (_two_serving, "endpoint_name", "exactly one variant"),
        (_candidate_exists, "candidate_variant", "not already on the endpoint"),
        (_version_exists, "candidate_variant", "not already on the endpoint"),
        (_bad_policy, "policy.canary.steps", "100"),
        (_updating, "endpoint_name", "InService"),
    ],
)
def test_prepare_refuses_bad_requests_before_changing_anything(
    arrange: Any, field: str, words: str
) -> None:
    eps = account()
    overrides = arrange(eps)
    with pytest.raises(InvalidReleaseRequest) as info:
        prepared(eps, **overrides)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: expected ")
    assert words in str(info.value)
    assert eps.mutating_calls() == []


def test_prepare_needs_the_model_role() -> None:
    eps = account()
    req = request()
    defaults = Defaults("ml.g5.xlarge", 1, None, None, CAPTURE_URI)
    with pytest.raises(InvalidReleaseRequest) as info:
        release.prepare(req, "r-1", eps, defaults, no_s3, T0)
    assert info.value.field == "MODEL_EXECUTION_ROLE_ARN"
    assert eps.mutating_calls() == []


def test_an_unreadable_policy_uri_names_the_field() -> None:
    def broken(uri: str) -> Any:
        raise OSError("AccessDenied")

    eps = account()
    req = request(policy_uri="s3://policies/churn.json")
    with pytest.raises(InvalidReleaseRequest) as info:
        release.prepare(req, "r-1", eps, DEFAULTS, broken, T0)
    assert info.value.field == "policy_uri"
    assert "AccessDenied" in str(info.value)
    assert eps.mutating_calls() == []


def test_a_policy_from_s3_is_validated() -> None:
    eps = account()
    req = request(policy_uri="s3://policies/churn.json")
    docs = {"s3://policies/churn.json": {"version": "s3-3", "canary": {"stepz": [100]}}}
    with pytest.raises(InvalidReleaseRequest) as info:
        release.prepare(req, "r-1", eps, DEFAULTS, docs.__getitem__, T0)
    assert info.value.field == "policy.canary.stepz"


# --- Lock ---------------------------------------------------------------------------------


def test_acquire_lock_takes_the_lock_and_writes_the_summary() -> None:
    eps, ledger, workflow = account(), FakeLedger(), FakeWorkflow()
    ctx = prepared(eps)
    assert release.acquire_lock(ctx, EXEC_1, ledger, workflow, T0) == {
        "locked": True,
        "owner": ctx.release_id,
    }
    lock = ledger.locks[ENDPOINT]
    assert lock["owner"] == ctx.release_id and lock["execution_arn"] == EXEC_1
    assert lock["expires_at"] == int(T0.timestamp()) + ctx.lock_seconds
    summary = ledger.summaries[ctx.release_id]
    assert summary["status"] == "running"
    assert summary["policy_version"] == DEFAULT_POLICY.version
    assert summary["champion"] == "v6" and summary["candidate"] == "v7"
    # A redelivered acquire by the same release succeeds.
    assert release.acquire_lock(ctx, EXEC_1, ledger, workflow, T0 + timedelta(seconds=5))


def two_releases() -> tuple[ReleaseContext, ReleaseContext, FakeLedger]:
    eps, ledger = account(), FakeLedger()
    first = prepared(eps, stamp="a")
    second = prepared(eps, stamp="b")
    assert first.release_id != second.release_id
    release.acquire_lock(first, EXEC_1, ledger, FakeWorkflow({EXEC_1: "RUNNING"}), T0)
    return first, second, ledger


def test_a_second_release_is_refused_while_the_first_runs() -> None:
    first, second, ledger = two_releases()
    workflow = FakeWorkflow({EXEC_1: "RUNNING"})
    with pytest.raises(ReleaseLocked) as info:
        release.acquire_lock(second, EXEC_2, ledger, workflow, T0 + timedelta(minutes=5))
    assert first.release_id in str(info.value)
    assert ledger.locks[ENDPOINT]["owner"] == first.release_id
    assert second.release_id not in ledger.summaries


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT", None])
@pytest.mark.parametrize("outcome", ["promoted", "rolled_back", "aborted", None])
def test_a_lock_left_by_an_ended_execution_is_taken_over_once_its_release_ended(
    status: str | None, outcome: str | None
) -> None:
    first, second, ledger = two_releases()
    if outcome is None:  # acquired, then crashed before writing its summary
        del ledger.summaries[first.release_id]
    else:
        ledger.update_summary(first.release_id, {"status": outcome})
    workflow = FakeWorkflow({EXEC_1: status} if status else {})
    release.acquire_lock(second, EXEC_2, ledger, workflow, T0 + timedelta(minutes=5))
    assert ledger.locks[ENDPOINT]["owner"] == second.release_id
    assert ledger.locks[ENDPOINT]["execution_arn"] == EXEC_2
    assert ledger.summaries[second.release_id]["status"] == "running"


@pytest.mark.parametrize(
    "status", ["running", "awaiting_operator", "recovering", "rollback_unverified"]
)
def test_a_lock_whose_release_was_never_recovered_is_not_taken_over(status: str) -> None:
    # The execution ended (stopped, timed out) but the endpoint is not verified yet: a
    # new release beside the old candidate would judge against the wrong champion.
    first, second, ledger = two_releases()
    ledger.update_summary(first.release_id, {"status": status})
    with pytest.raises(ReleaseLocked, match="recovers it"):
        release.acquire_lock(second, EXEC_2, ledger, FakeWorkflow({EXEC_1: "ABORTED"}), T0)
    assert ledger.locks[ENDPOINT]["owner"] == first.release_id


def test_an_expired_lease_never_takes_the_lock_from_a_running_release() -> None:
    # A step may bake longer than the lease estimate; the lock follows the execution.
    first, second, ledger = two_releases()
    later = T0 + timedelta(seconds=first.lock_seconds + 1)
    with pytest.raises(ReleaseLocked):
        release.acquire_lock(second, EXEC_2, ledger, FakeWorkflow({EXEC_1: "RUNNING"}), later)
    assert ledger.locks[ENDPOINT]["owner"] == first.release_id


# --- Deploy -------------------------------------------------------------------------------


def test_deploy_adds_the_candidate_at_zero_with_capture_on() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    result = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)

    config_name = plan.candidate_config_name(ENDPOINT, ctx.release_id, "canary")
    assert result.endpoint_config_name == config_name
    assert result.previous_endpoint_config_name == "churn-prod-cfg-6"
    assert result.changed is True
    assert result.deadline == T0 + timedelta(seconds=3600)
    assert [c.name for c in eps.mutating_calls()] == [
        "create_model",
        "create_endpoint_config",
        "update_endpoint",
    ]
    model_call = eps.calls_named("create_model")[0].args
    assert model_call == {
        "name": ctx.candidate.model_name,
        "container": {"ModelPackageName": ARN},
        "role_arn": ROLE,
        "tags": {"release-guard:release": ctx.release_id, "release-guard:package": ARN},
    }

    config = eps.configs[config_name]
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}
    assert weights == {"v6": 1.0, "v7": 0.0}
    candidate = config["ProductionVariants"][1]
    assert candidate["ModelName"] == ctx.candidate.model_name
    assert candidate["InstanceType"] == "ml.g5.xlarge"
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["DestinationS3Uri"] == CAPTURE_URI
    assert capture["InitialSamplingPercentage"] == 100
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert eps.calls_named("update_endpoint")[0].args == {
        "endpoint": ENDPOINT,
        "config_name": config_name,
    }

    assert eps.view().status == "Updating"
    eps.settle()
    assert eps.view().config_name == config_name
    assert eps.traffic() == {"v6": 1.0, "v7": 0.0}
    assert "01#DEPLOY" in ledger.keys(ctx.release_id)


def test_deploy_keeps_the_endpoints_own_capture_switched_on() -> None:
    own = {
        "EnableCapture": False,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://team-bucket/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
        "KmsKeyId": "alias/capture",
    }
    eps, ledger = account(capture=own), FakeLedger()
    ctx = prepared(eps)
    result = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    capture = eps.configs[result.endpoint_config_name]["DataCaptureConfig"]
    assert capture == {**own, "EnableCapture": True}


def test_deploy_uses_the_policy_sampling_for_new_capture() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(
        eps, policy={"version": "p", "deployment": {"data_capture_sampling_percent": 25}}
    )
    result = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    capture = eps.configs[result.endpoint_config_name]["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 25


def test_deploy_keeps_live_weights_not_the_configs_initial_ones() -> None:
    standby = {**CHAMPION_CFG, "VariantName": "standby", "ModelName": "churn-v5"}
    eps, ledger = account([CHAMPION_CFG, standby], live_weights={"standby": 0.0}), FakeLedger()
    assert eps.traffic() == {"v6": 1.0, "standby": 0.0}
    ctx = prepared(eps)
    deployed(eps, ledger, ctx)
    assert eps.traffic() == {"v6": 1.0, "standby": 0.0, "v7": 0.0}


def test_a_redelivered_deploy_after_settling_changes_nothing() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    first = deployed(eps, ledger, ctx)
    mutations = len(eps.mutating_calls())

    again = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0 + timedelta(minutes=9))
    assert again.changed is False
    assert again.deadline == first.deadline
    assert again.previous_endpoint_config_name == "churn-prod-cfg-6"
    assert len(eps.mutating_calls()) == mutations
    assert len(eps.calls_named("update_endpoint")) == 1


def test_a_redelivered_deploy_while_updating_is_retried_later() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    with pytest.raises(EndpointBusy):
        release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0 + timedelta(seconds=30))
    assert len(eps.calls_named("update_endpoint")) == 1


def test_deploy_resumes_from_the_recorded_intent_after_a_crash() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)

    class CrashOnUpdate(Exception):
        pass

    original = eps.update_endpoint

    def crash(endpoint: str, config_name: str) -> None:
        raise CrashOnUpdate

    eps.update_endpoint = crash  # type: ignore[method-assign]
    with pytest.raises(CrashOnUpdate):
        release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    eps.update_endpoint = original  # type: ignore[method-assign]

    result = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0 + timedelta(minutes=2))
    assert result.deadline == T0 + timedelta(seconds=3600)  # the first attempt's deadline
    assert len(eps.calls_named("update_endpoint")) == 1
    eps.settle()
    assert eps.traffic() == {"v6": 1.0, "v7": 0.0}


# --- Wait until InService -------------------------------------------------------------------


def test_check_endpoint_waits_then_reports_ready() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    deploy = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    waiting = release.check_endpoint(ctx, deploy, eps, T0 + timedelta(minutes=5))
    assert waiting.ready is False
    assert waiting.status == "Updating"
    assert waiting.wait_seconds == ctx.policy.deployment.poll_seconds
    eps.settle()
    ready = release.check_endpoint(ctx, deploy, eps, T0 + timedelta(minutes=6))
    assert ready.ready is True and ready.status == "InService"


def test_an_update_sagemaker_rolled_back_is_a_failure_with_its_reason() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    deploy = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    eps.settle(fail_reason="Insufficient capacity for ml.g5.xlarge")
    assert eps.view().status == "InService"
    assert eps.view().config_name == "churn-prod-cfg-6"
    with pytest.raises(EndpointUpdateFailed) as info:
        release.check_endpoint(ctx, deploy, eps, T0 + timedelta(minutes=6))
    assert "Insufficient capacity for ml.g5.xlarge" in str(info.value)


def test_a_failed_endpoint_is_a_failure() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    deploy = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    eps.fail(ENDPOINT, "model container crashed")
    with pytest.raises(EndpointUpdateFailed) as info:
        release.check_endpoint(ctx, deploy, eps, T0 + timedelta(minutes=6))
    assert "Failed" in str(info.value) and "model container crashed" in str(info.value)


def test_still_updating_at_the_deadline_times_out() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    deploy = release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    just_before = deploy.deadline - timedelta(seconds=1)
    assert release.check_endpoint(ctx, deploy, eps, just_before).ready is False
    with pytest.raises(EndpointTimeout):
        release.check_endpoint(ctx, deploy, eps, deploy.deadline)


# --- Canary -------------------------------------------------------------------------------


def canary_ready() -> tuple[FakeEndpoints, FakeLedger, ReleaseContext]:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    deployed(eps, ledger, ctx)
    return eps, ledger, ctx


def shift(
    eps: FakeEndpoints, ledger: FakeLedger, ctx: ReleaseContext, index: int, at: datetime
) -> CanaryState:
    out = release.shift_traffic(ctx, StepRef(index=index), eps, ledger, at)
    assert out["verdict"] is None
    return CanaryState.model_validate(out["state"])


def test_shift_traffic_twice_for_a_step_updates_weights_once() -> None:
    eps, ledger, ctx = canary_ready()
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    assert eps.calls_named("update_weights")[0].args["weights"] == {"v6": 95.0, "v7": 5.0}
    assert state.step_index == 0 and state.percent == 5.0
    assert state.step_started_at == t1
    assert state.checks == 0
    eps.settle()
    assert eps.traffic()["v7"] == pytest.approx(0.05)

    again = shift(eps, ledger, ctx, 0, t1 + timedelta(minutes=3))
    assert len(eps.calls_named("update_weights")) == 1
    assert again.step_started_at == t1


def test_a_shift_redelivered_while_the_weights_apply_is_retried() -> None:
    eps, ledger, ctx = canary_ready()
    shift(eps, ledger, ctx, 1, T0 + timedelta(minutes=10))
    with pytest.raises(EndpointBusy):
        shift(eps, ledger, ctx, 1, T0 + timedelta(minutes=11))
    assert len(eps.calls_named("update_weights")) == 1


def test_each_step_starts_its_own_bake() -> None:
    eps, ledger, ctx = canary_ready()
    first = shift(eps, ledger, ctx, 0, T0 + timedelta(minutes=10))
    eps.settle()
    second = shift(eps, ledger, ctx, 1, T0 + timedelta(minutes=25))
    eps.settle()
    assert second.step_started_at > first.step_started_at
    assert eps.traffic()["v7"] == pytest.approx(0.25)


def test_a_step_beyond_the_policy_is_refused() -> None:
    eps, ledger, ctx = canary_ready()
    with pytest.raises(InvalidReleaseRequest) as info:
        shift(eps, ledger, ctx, 4, T0)
    assert info.value.field == "step_index"
    assert eps.calls_named("update_weights") == []


# CloudWatch per period from the start of the release (T0): the candidate publishes
# nothing until it has traffic; the champion serves the rest.
HEALTHY = steady(40, requests=1000, error_rate=0.01, p95_us=110_000)
FAULTY = steady(40, requests=500, error_rate=0.2, p95_us=900_000)
CHAMPION = steady(40, requests=19_000, error_rate=0.01, p95_us=100_000)
IDLE: list[Period] = [{} for _ in range(10)]  # weight 0: no datapoints at all


def test_judge_canary_reads_the_whole_release_and_decides() -> None:
    eps, ledger, ctx = canary_ready()
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    eps.settle()
    metrics = FakeMetrics({"v7": IDLE + HEALTHY, "v6": CHAMPION})
    # The built-in policy judges up to metric_delay_seconds (120 s) ago.
    now = t1 + timedelta(seconds=700) + DELAY
    new_state, verdict, first = judging.judge_canary(ctx, state, metrics, ledger, now)
    assert first is True
    assert verdict.action == "next_step" and verdict.next_step_index == 1, verdict.reason
    assert verdict.policy_version == DEFAULT_POLICY.version
    assert (verdict.window_start, verdict.window_end) == (T0, now - DELAY)
    assert new_state.checks == 1 and verdict.checks == 1
    # Both variants, the whole release so far (not only this step), one period grid,
    # every series the policy's rules need.
    windows = {(c.args["variant"], c.args["start"], c.args["end"]) for c in metrics.calls}
    assert windows == {("v7", T0, now - DELAY), ("v6", T0, now - DELAY)}
    assert {c.args["period"] for c in metrics.calls} == {60}
    wanted = metrics.calls[0].args["wanted"]
    assert wanted == metrics.calls[1].args["wanted"]
    assert wanted[INVOCATIONS] == ("AWS/SageMaker", "Invocations", "Sum")
    assert wanted[ERRORS_5XX] == ("AWS/SageMaker", "Invocation5XXErrors", "Sum")
    assert wanted[latency_key("p95")] == ("AWS/SageMaker", "ModelLatency", "p95")
    assert wanted[LATENCY_SAMPLES] == ("AWS/SageMaker", "ModelLatency", "SampleCount")
    assert wanted[app_key("GuardrailTriggers")] == ("ReleaseGuard/App", "GuardrailTriggers", "Sum")
    assert wanted[app_key("Requests")] == ("ReleaseGuard/App", "Requests", "Sum")
    assert wanted[app_key("CostUSD")] == ("ReleaseGuard/App", "CostUSD", "Sum")
    # Recorded once, with the step's own traffic in the snapshot (11 whole periods).
    record = ledger.record(ctx.release_id, "02#STEP#00#JUDGE#0001")
    assert record["kind"] == "judge"
    assert record["verdict"]["action"] == "next_step"
    assert record["snapshot"]["candidate"]["invocations"] == 11 * 1000
    assert record["snapshot"]["candidate"]["errors_5xx"] == 110
    assert record["snapshot"]["champion"]["invocations"] == 11 * 19_000
    assert record["snapshot"]["candidate"]["p95_latency_us"] == 110_000
    by_metric = {f["metric"]: f for f in record["verdict"]["findings"]}
    assert by_metric["5xx_rate <= 5.00% absolute and <= 1.25x champion"]["outcome"] == "pass"


def test_the_window_starts_on_a_period_boundary_before_the_release() -> None:
    eps, ledger, ctx = canary_ready()
    ctx = ctx.model_copy(update={"started_at": T0 + timedelta(seconds=25)})
    state = shift(eps, ledger, ctx, 0, T0 + timedelta(seconds=30))
    metrics = FakeMetrics({"v7": HEALTHY, "v6": CHAMPION})
    now = T0 + timedelta(seconds=200) + DELAY
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, now)
    assert {c.args["start"] for c in metrics.calls} == {T0}
    assert verdict.window_start == T0
    assert verdict.window_end == now - DELAY


def test_the_judged_window_ends_metric_delay_seconds_ago() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps, policy={"version": "p", "canary": {"metric_delay_seconds": 120}})
    deployed(eps, ledger, ctx)
    state = shift(eps, ledger, ctx, 0, T0)
    metrics = FakeMetrics({"v7": HEALTHY, "v6": CHAMPION})
    now = T0 + timedelta(seconds=900)
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, now)
    assert {c.args["end"] for c in metrics.calls} == {now - timedelta(seconds=120)}
    assert verdict.window_end == now - timedelta(seconds=120)


def test_a_redelivered_judgement_returns_the_first_verdict() -> None:
    eps, ledger, ctx = canary_ready()
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    _, verdict, first = judging.judge_canary(
        ctx,
        state,
        FakeMetrics({"v7": IDLE + HEALTHY, "v6": CHAMPION}),
        ledger,
        t1 + timedelta(seconds=700) + DELAY,
    )
    assert first is True and verdict.action == "next_step"

    # Same state again, later, with metrics that would now roll back.
    _, again, first_again = judging.judge_canary(
        ctx,
        state,
        FakeMetrics({"v7": IDLE + FAULTY, "v6": CHAMPION}),
        ledger,
        t1 + timedelta(seconds=900) + DELAY,
    )
    assert first_again is False
    assert again == verdict
    judged = [k for k in ledger.keys(ctx.release_id) if "#JUDGE#" in k]
    assert judged == ["02#STEP#00#JUDGE#0001"]


def test_a_faulty_candidate_is_rolled_back_by_the_verdict() -> None:
    eps, ledger, ctx = canary_ready()
    state = shift(eps, ledger, ctx, 0, T0)
    metrics = FakeMetrics({"v7": FAULTY, "v6": CHAMPION})
    now = T0 + timedelta(seconds=120) + DELAY
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, now)
    assert verdict.action == "rollback"
    assert "20.00%" in verdict.reason
    assert "5XX" in verdict.reason or "5.00%" in verdict.reason


def test_judging_before_the_first_whole_period_reads_no_datapoints() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps, policy={"version": "p", "canary": {"metric_delay_seconds": 120}})
    deployed(eps, ledger, ctx)
    state = shift(eps, ledger, ctx, 0, T0)
    metrics = FakeMetrics({"v7": HEALTHY, "v6": CHAMPION})
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, T0 + timedelta(seconds=60))
    assert verdict.action == "keep_baking"
    assert verdict.wait_seconds >= 1
    critical = [f for f in verdict.findings if f.critical]
    assert critical and all(f.outcome == "no_data" for f in critical)
    record = ledger.record(ctx.release_id, "02#STEP#00#JUDGE#0001")
    assert record["snapshot"]["candidate"]["invocations"] is None


def test_the_judged_window_never_ends_before_it_starts() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps, policy={"version": "p", "canary": {"metric_delay_seconds": 120}})
    deployed(eps, ledger, ctx)
    state = shift(eps, ledger, ctx, 0, T0)
    metrics = FakeMetrics({"v7": HEALTHY, "v6": CHAMPION})
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, T0 + timedelta(seconds=60))
    assert verdict.window_end >= verdict.window_start  # got T0 - 60 s < T0


def test_the_100_percent_step_still_uses_the_champions_earlier_periods() -> None:
    """At 100 % the champion serves nothing (no datapoints); the evidence gathered
    while it served still counts: a candidate 3x slower is rolled back."""
    eps, ledger, ctx = canary_ready()
    t3 = T0 + timedelta(minutes=20)
    state = shift(eps, ledger, ctx, 3, t3)
    assert state.percent == 100.0
    slow = steady(20, requests=1000, error_rate=0.01, p95_us=300_000) + steady(
        10, requests=20_000, error_rate=0.01, p95_us=300_000
    )
    champion = CHAMPION[:20] + IDLE
    metrics = FakeMetrics({"v7": slow, "v6": champion})
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, t3 + timedelta(minutes=10))
    assert verdict.action == "rollback", verdict.reason
    assert "3.00x" in verdict.reason


def test_the_post_promotion_watch_only_stops_for_a_failure() -> None:
    eps, ledger, ctx = canary_ready()
    state = shift(eps, ledger, ctx, 3, T0)
    nothing = FakeMetrics({})
    _, verdict, _ = judging.judge_canary(
        ctx, state, nothing, ledger, T0 + timedelta(seconds=60) + DELAY, watch=True
    )
    assert verdict.action == "promote"
    assert verdict.next_step_index is None and verdict.wait_seconds == 0
    assert "post-promotion watch" in verdict.reason
    assert "02#STEP#03#WATCH#0001" in ledger.keys(ctx.release_id)
    faulty = FakeMetrics({"v7": FAULTY, "v6": CHAMPION})
    state2 = state.model_copy(update={"checks": 1})
    _, verdict2, _ = judging.judge_canary(
        ctx, state2, faulty, ledger, T0 + timedelta(seconds=120) + DELAY, watch=True
    )
    assert verdict2.action == "rollback"
    assert "02#STEP#03#WATCH#0002" in ledger.keys(ctx.release_id)


def test_the_watch_rolls_back_a_5xx_regression_while_the_champion_is_idle() -> None:
    eps, ledger, ctx = canary_ready()
    t3 = T0 + timedelta(minutes=20)
    state = shift(eps, ledger, ctx, 3, t3)
    # Healthy through the canary steps, then 20 % 5XX at 100 % while the champion
    # (weight 0 for the watch) publishes nothing.
    cand = steady(20, requests=1000, error_rate=0.01) + steady(5, requests=20_000, error_rate=0.2)
    champion = CHAMPION[:20] + IDLE[:5]
    metrics = FakeMetrics({"v7": cand, "v6": champion})
    _, verdict, _ = judging.judge_canary(
        ctx, state, metrics, ledger, t3 + timedelta(minutes=5), watch=True
    )
    assert verdict.action == "rollback", verdict.reason  # got "promote"


def test_request_approval_records_the_hold_and_notifies() -> None:
    _, ledger, ctx = canary_ready()
    workflow = FakeWorkflow()
    verdict = {"action": "hold", "reason": "not enough evidence", "step_index": 1, "checks": 61}
    release.request_approval(ctx, {"verdict": verdict}, "tok-1", ledger, workflow, T0)
    assert "03#HOLD#01#0061" in ledger.keys(ctx.release_id)
    summary = ledger.summaries[ctx.release_id]
    assert summary["status"] == "awaiting_operator" and summary["task_token"] == "tok-1"
    ((subject, body),) = workflow.notifications
    assert ctx.release_id in subject
    assert body["reason"] == "not enough evidence"


# --- Roll back ------------------------------------------------------------------------------


def roll_back(
    ctx: ReleaseContext, eps: FakeEndpoints, ledger: FakeLedger, progress: ReconcileResult
) -> ReconcileResult:
    return release.roll_back(ctx, progress, "5XX rate", eps, ledger, FakeWorkflow(), T0)


def test_roll_back_drives_the_endpoint_to_champion_only() -> None:
    eps, ledger, ctx = canary_ready()
    shift(eps, ledger, ctx, 1, T0)
    eps.settle()
    assert eps.traffic()["v7"] == pytest.approx(0.25)

    r1 = roll_back(ctx, eps, ledger, START)
    assert (r1.phase, r1.verified, r1.attempts) == ("set_weights", False, 1)
    assert eps.calls_named("update_weights")[-1].args["weights"] == {"v6": 100.0, "v7": 0.0}

    r2 = roll_back(ctx, eps, ledger, r1)  # still Updating: nothing new is sent
    assert (r2.phase, r2.verified, r2.attempts) == ("wait", False, 2)
    mutations = len(eps.mutating_calls())
    eps.settle()
    assert eps.traffic() == {"v6": 1.0, "v7": 0.0}

    r3 = roll_back(ctx, eps, ledger, r2)
    assert (r3.phase, r3.verified, r3.attempts) == ("replace_config", False, 3)
    assert len(eps.mutating_calls()) == mutations + 2  # new config, UpdateEndpoint
    eps.settle()

    r4 = roll_back(ctx, eps, ledger, r3)
    assert (r4.phase, r4.verified, r4.attempts) == ("verified", True, 4)
    assert r4.weights == {"v6": 100.0}  # the live weight is kept; alone it takes all
    assert [v.name for v in eps.view().variants] == ["v6"]
    assert eps.traffic() == {"v6": 1.0}
    assert {"07#ROLLBACK#START", "07#ROLLBACK#VERIFIED"} <= set(ledger.keys(ctx.release_id))
    assert ledger.record(ctx.release_id, "07#ROLLBACK#VERIFIED")["attempts"] == 4

    r5 = roll_back(ctx, eps, ledger, r4)  # a redelivered call stays verified, changes nothing
    assert r5.verified and len(eps.mutating_calls()) == mutations + 2


def test_roll_back_of_a_never_deployed_candidate_is_verified_at_once() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    result = roll_back(ctx, eps, ledger, START)
    assert result.verified is True
    assert result.attempts == 1
    assert eps.mutating_calls() == []


def test_roll_back_after_sagemaker_rejected_the_deploy_is_verified_at_once() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    eps.settle(fail_reason="CannotStartContainerError")
    mutations = len(eps.mutating_calls())
    assert roll_back(ctx, eps, ledger, START).verified is True
    assert len(eps.mutating_calls()) == mutations


def test_roll_back_during_the_deploy_waits_for_it() -> None:
    eps, ledger = account(), FakeLedger()
    ctx = prepared(eps)
    release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    assert roll_back(ctx, eps, ledger, START).phase == "wait"
    eps.settle()
    progress = START
    for _ in range(5):
        progress = roll_back(ctx, eps, ledger, progress)
        if progress.verified:
            break
        eps.settle()
    assert progress.verified
    assert eps.traffic() == {"v6": 1.0}


def test_roll_back_reports_a_busy_endpoint_and_tries_again() -> None:
    eps, ledger, ctx = canary_ready()
    shift(eps, ledger, ctx, 1, T0)
    eps.settle()
    original = eps.update_weights

    def race(endpoint: str, weights: dict[str, float]) -> None:
        eps.set_status(endpoint, "Updating")  # e.g. autoscaling started meanwhile
        original(endpoint, weights)

    eps.update_weights = race  # type: ignore[method-assign]
    busy = roll_back(ctx, eps, ledger, START)
    assert busy.verified is False
    assert "busy" in busy.detail
    eps.update_weights = original  # type: ignore[method-assign]
    eps.settle()
    assert roll_back(ctx, eps, ledger, busy).phase == "set_weights"


def test_roll_back_on_a_failed_endpoint_is_not_verified() -> None:
    eps, ledger, ctx = canary_ready()
    eps.fail(ENDPOINT, "hardware failure")
    result = roll_back(ctx, eps, ledger, START)
    assert result.verified is False and result.phase == "failed"
    assert "hardware failure" in result.detail


def test_roll_back_after_the_candidate_took_all_traffic() -> None:
    eps, ledger, ctx = canary_ready()
    shift(eps, ledger, ctx, 2, T0)
    eps.settle()
    promoted = release.promote(ctx, START, False, eps, ledger, T0)
    eps.settle()
    assert release.promote(ctx, promoted, False, eps, ledger, T0).verified
    progress = START
    for _ in range(5):
        progress = roll_back(ctx, eps, ledger, progress)
        if progress.verified:
            break
        eps.settle()
    assert progress.verified
    assert eps.traffic() == {"v6": 1.0}


def test_roll_back_next_to_a_standby_variant_restores_champion_only_traffic() -> None:
    standby = {**CHAMPION_CFG, "VariantName": "standby", "ModelName": "churn-v5"}
    eps, ledger = account([CHAMPION_CFG, standby], live_weights={"standby": 0.0}), FakeLedger()
    ctx = prepared(eps)
    deployed(eps, ledger, ctx)
    shift(eps, ledger, ctx, 1, T0)
    eps.settle()
    progress = START
    for _ in range(5):
        progress = roll_back(ctx, eps, ledger, progress)
        if progress.verified or progress.phase == "failed":
            break
        eps.settle()
    # got: phase "failed", traffic {"v6": 0.5, "standby": 0.5}
    assert eps.traffic() == {"v6": 1.0, "standby": 0.0}
    assert progress.verified


# --- Promote ------------------------------------------------------------------------------


def test_promote_then_retire_the_champion() -> None:
    eps, ledger, ctx = canary_ready()
    shift(eps, ledger, ctx, 2, T0)
    eps.settle()

    p1 = release.promote(ctx, START, False, eps, ledger, T0)
    assert (p1.phase, p1.verified, p1.attempts) == ("set_weights", False, 1)
    assert eps.calls_named("update_weights")[-1].args["weights"] == {"v6": 0.0, "v7": 100.0}
    assert release.promote(ctx, p1, False, eps, ledger, T0).phase == "wait"
    eps.settle()
    p2 = release.promote(ctx, p1, False, eps, ledger, T0)
    assert p2.verified is True
    assert [v.name for v in eps.view().variants] == ["v6", "v7"]  # kept at 0 for the watch
    assert eps.traffic() == {"v6": 0.0, "v7": 1.0}
    assert "04#PROMOTE#SHIFTED" in ledger.keys(ctx.release_id)

    r1 = release.promote(ctx, START, True, eps, ledger, T0)
    assert r1.phase == "replace_config" and not r1.verified
    eps.settle()
    r2 = release.promote(ctx, r1, True, eps, ledger, T0)
    assert r2.verified is True
    assert [v.name for v in eps.view().variants] == ["v7"]
    assert eps.traffic() == {"v7": 1.0}
    assert "05#PROMOTE#RETIRED" in ledger.keys(ctx.release_id)
    config = eps.configs[eps.view().config_name]
    assert config["DataCaptureConfig"]["EnableCapture"] is True  # capture stays on


def test_promote_on_a_broken_endpoint_raises() -> None:
    eps, ledger, ctx = canary_ready()
    eps.fail(ENDPOINT, "no capacity")
    with pytest.raises(EndpointUpdateFailed) as info:
        release.promote(ctx, START, False, eps, ledger, T0)
    assert "no capacity" in str(info.value)


def test_retiring_next_to_a_standby_variant_leaves_all_traffic_on_the_candidate() -> None:
    standby = {**CHAMPION_CFG, "VariantName": "standby", "ModelName": "churn-v5"}
    eps, ledger = account([CHAMPION_CFG, standby], live_weights={"standby": 0.0}), FakeLedger()
    ctx = prepared(eps)
    deployed(eps, ledger, ctx)
    shift(eps, ledger, ctx, 3, T0)
    eps.settle()
    progress = START
    for _ in range(5):
        progress = release.promote(ctx, progress, True, eps, ledger, T0)
        if progress.verified:
            break
        eps.settle()
    assert progress.verified
    assert eps.traffic()["v7"] == 1.0  # got 0.5: {"standby": 0.5, "v7": 0.5}


# --- Finish ---------------------------------------------------------------------------------


def test_finish_releases_the_lock_and_records_the_outcome() -> None:
    eps, ledger = account(), FakeLedger()
    workflow = FakeWorkflow({EXEC_1: "RUNNING"})
    ctx = prepared(eps)
    release.acquire_lock(ctx, EXEC_1, ledger, workflow, T0)
    done = T0 + timedelta(hours=2)
    out = release.finish(ctx, "rolled_back", "5XX rate 20.00%", eps, ledger, workflow, done)
    effects = {"package": "done", "notify": "done"}
    assert out == {"outcome": "rolled_back", "lock_released": True, "effects": effects}
    assert ENDPOINT not in ledger.locks
    outcome = ledger.record(ctx.release_id, "09#OUTCOME")
    assert outcome["outcome"] == "rolled_back" and outcome["reason"] == "5XX rate 20.00%"
    summary = ledger.summaries[ctx.release_id]
    assert summary["status"] == "rolled_back"
    assert summary["finished_at"] == done.isoformat()
    assert summary["task_token"] is None
    assert summary["effects"] == effects
    assert ledger.package_outcomes[(ARN, None)] == {
        "release_id": ctx.release_id,
        "endpoint_name": ENDPOINT,
        "outcome": "rolled_back",
        "reason": "5XX rate 20.00%",
        "at": done.isoformat(),
        "prompt": None,
    }
    # "%" is refused by UpdateModelPackage (FakeEndpoints checks): the package gets a
    # summary it accepts, the ledger and the notification the reason as it was.
    assert eps.package_metadata[ARN] == {
        "release-guard:release": ctx.release_id,
        "release-guard:outcome": "rolled_back",
        "release-guard:summary": "release-guard: rolled back: 5XX rate 20.00 percent",
    }
    (subject, body) = workflow.notifications[-1]
    assert "rolled_back" in subject and body["reason"] == "5XX rate 20.00%"
    # The next release on the endpoint gets the lock at once.
    second = prepared(eps, stamp="next")
    release.acquire_lock(second, EXEC_2, ledger, workflow, done)
    assert ledger.locks[ENDPOINT]["owner"] == second.release_id


def test_finish_does_not_release_someone_elses_lock() -> None:
    first, second, ledger = two_releases()
    out = release.finish(second, "failed", "", account(), ledger, FakeWorkflow(), T0)
    assert out["lock_released"] is False
    assert ledger.locks[ENDPOINT]["owner"] == first.release_id


class DeniedEndpoints(FakeEndpoints):
    """UpdateModelPackage refused: the role may not call it, or the input is invalid."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def record_on_package(self, arn: str, properties: dict[str, str]) -> None:
        self.calls.append(Call("record_on_package", {"arn": arn, "properties": properties}))
        raise ClientError(
            {"Error": {"Code": self.code, "Message": f"{self.code} on {arn}"}},
            "UpdateModelPackage",
        )


class DeniedWorkflow(FakeWorkflow):
    def notify(self, subject: str, body: dict[str, Any]) -> None:
        raise ClientError(
            {"Error": {"Code": "AuthorizationError", "Message": "not authorized: SNS:Publish"}},
            "Publish",
        )


REPORT_URIS = {
    "html": "s3://release-guard-bucket/reports/r/release.html",
    "markdown": "s3://release-guard-bucket/reports/r/release.md",
}


def finished_with(
    eps: FakeEndpoints, workflow: FakeWorkflow, report: dict[str, Any]
) -> tuple[dict[str, Any], FakeLedger, ReleaseContext, list[str]]:
    """Finish a rolled-back release whose report step returns ``report``; the messages
    logged are returned with the result. Every effect checks the outcome is already
    in the ledger when it runs."""
    ledger, logged = FakeLedger(), []
    ctx = prepared(account())

    def in_ledger_first() -> None:
        assert ledger.record(ctx.release_id, "09#OUTCOME")["outcome"] == "rolled_back"
        assert ledger.package_outcomes[(ARN, None)]["outcome"] == "rolled_back"

    def write_report() -> dict[str, Any]:
        in_ledger_first()
        return report

    real_record, real_notify = eps.record_on_package, workflow.notify

    def record(arn: str, properties: dict[str, str]) -> None:
        in_ledger_first()
        real_record(arn, properties)

    def notify(subject: str, body: dict[str, Any]) -> None:
        in_ledger_first()
        real_notify(subject, body)

    eps.record_on_package = record  # type: ignore[method-assign]
    workflow.notify = notify  # type: ignore[method-assign]
    out = release.finish(
        ctx,
        "rolled_back",
        "5XX rate 20.00% (n=900)",
        eps,
        ledger,
        workflow,
        T0,
        report=write_report,
        on_error=logged.append,
    )
    return out, ledger, ctx, logged


def test_finish_writes_report_package_and_notification_with_the_report_address() -> None:
    eps, workflow = account(), FakeWorkflow()
    out, ledger, ctx, logged = finished_with(eps, workflow, REPORT_URIS)
    assert out["effects"] == {"report": "done", "package": "done", "notify": "done"}
    assert ledger.summaries[ctx.release_id]["effects"] == out["effects"]
    assert logged == []
    assert eps.package_metadata[ARN]["release-guard:report"] == REPORT_URIS["html"]
    assert workflow.notifications[-1][1]["report"] == REPORT_URIS["html"]


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_a_refused_package_update_stops_neither_the_report_nor_the_notification(
    code: str,
) -> None:
    eps, workflow = DeniedEndpoints(code), FakeWorkflow()
    eps.add_package(ARN)
    out, ledger, ctx, logged = finished_with(eps, workflow, REPORT_URIS)
    package = out["effects"]["package"]
    assert package.startswith(f"failed: ClientError: An error occurred ({code})"), package
    assert (out["effects"]["report"], out["effects"]["notify"]) == ("done", "done")
    assert [c.name for c in eps.calls_named("record_on_package")] == ["record_on_package"]
    assert workflow.notifications[-1][1]["outcome"] == "rolled_back"
    assert ledger.summaries[ctx.release_id]["effects"]["package"] == package
    assert ledger.summaries[ctx.release_id]["status"] == "rolled_back"
    assert out["lock_released"] is True and out["outcome"] == "rolled_back"
    assert logged == ["finish: recording the outcome on the model package failed"]


def test_a_refused_notification_stops_neither_the_report_nor_the_package() -> None:
    eps, workflow = account(), DeniedWorkflow()
    out, ledger, ctx, logged = finished_with(eps, workflow, REPORT_URIS)
    assert out["effects"]["notify"] == (
        "failed: ClientError: An error occurred (AuthorizationError) when calling the "
        "Publish operation: not authorized: SNS:Publish"
    )
    assert (out["effects"]["report"], out["effects"]["package"]) == ("done", "done")
    assert eps.package_metadata[ARN]["release-guard:outcome"] == "rolled_back"
    assert ledger.summaries[ctx.release_id]["effects"] == out["effects"]
    assert logged == ["finish: the SNS notification failed"]


def test_a_failed_report_stops_neither_the_package_nor_the_notification() -> None:
    eps, workflow = account(), FakeWorkflow()
    failed = {"error": "ClientError: AccessDenied on PutObject", "at": T0.isoformat()}
    out, ledger, ctx, logged = finished_with(eps, workflow, failed)
    assert out["effects"] == {
        "report": "failed: ClientError: AccessDenied on PutObject",
        "package": "done",
        "notify": "done",
    }
    assert ledger.summaries[ctx.release_id]["effects"]["report"] == out["effects"]["report"]
    assert logged == []  # publish() logs its own failure
    # No report: the package and the notification point at none.
    assert "release-guard:report" not in eps.package_metadata[ARN]
    assert eps.package_metadata[ARN]["release-guard:outcome"] == "rolled_back"
    assert workflow.notifications[-1][1]["report"] is None


def test_all_three_effects_failing_still_ends_with_the_outcome_recorded() -> None:
    eps, workflow = DeniedEndpoints("ValidationException"), DeniedWorkflow()
    eps.add_package(ARN)
    out, ledger, ctx, logged = finished_with(eps, workflow, {"error": "no REPORTS_BUCKET"})
    assert all(v.startswith("failed: ") for v in out["effects"].values()), out
    assert ledger.record(ctx.release_id, "09#OUTCOME")["outcome"] == "rolled_back"
    assert ledger.summaries[ctx.release_id]["effects"] == out["effects"]
    assert len(logged) == 2  # the report logs its own failure (publish's on_error)


class BrokenLedger(FakeLedger):
    def record_once(
        self, release_id: str, key: str, item: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        raise ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "DynamoDB"}}, "PutItem"
        )


def test_no_effect_runs_before_the_outcome_is_in_the_ledger() -> None:
    """The ledger write failing fails the state (Step Functions retries it): nothing
    is announced or written on the package for an outcome the ledger does not have."""
    eps, workflow, ledger = account(), FakeWorkflow(), BrokenLedger()
    ctx = prepared(eps)
    ledger.acquire_lock(ENDPOINT, ctx.release_id, EXEC_1, 0, 60)
    reports: list[str] = []
    with pytest.raises(ClientError):
        release.finish(
            ctx, "promoted", "", eps, ledger, workflow, T0, report=lambda: reports.append("x") or {}
        )
    assert workflow.notifications == [] and reports == []
    assert eps.calls_named("record_on_package") == []
    assert ledger.locks[ENDPOINT]["owner"] == ctx.release_id  # released after the outcome


# --- reason_of ------------------------------------------------------------------------------


def test_reason_of_reads_the_lambda_error_message() -> None:
    cause = json.dumps(
        {
            "errorMessage": "endpoint is Failed: CUDA out of memory",
            "errorType": "EndpointUpdateFailed",
            "stackTrace": ["  File app.py, line 3"],
        }
    )
    state = {"error": {"Error": "EndpointUpdateFailed", "Cause": cause}}
    assert (
        release.reason_of(state) == "EndpointUpdateFailed: endpoint is Failed: CUDA out of memory"
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            {"error": {"Error": "States.Timeout", "Cause": "took too long"}},
            "States.Timeout: took too long",
        ),
        ({"error": {"Error": "States.TaskFailed", "Cause": "[1, 2]"}}, "States.TaskFailed: [1, 2]"),
        (
            {"approval": {"decision": "abort", "operator": "ana", "note": "bad"}},
            "aborted by ana: bad",
        ),
        ({"canary": {"verdict": {"reason": "6.00% > 5.00%"}}}, "6.00% > 5.00%"),
        ({}, ""),
    ],
)
def test_reason_of_other_endings(state: dict[str, Any], expected: str) -> None:
    assert release.reason_of(state) == expected


def test_reason_of_is_bounded() -> None:
    cause = json.dumps({"errorMessage": "x" * 5000})
    assert len(release.reason_of({"error": {"Error": "E", "Cause": cause}})) == 1000
