"""Each workflow handler driven by its events/ files, through the Lambda API, in the
emulated account of `release-guard invoke` (fixture.standard + package v2 approved).

The tests run in file order on one endpoint: deploy, check, shift, judge, hold,
promote, roll back, finish, as the workflow would call them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from release_guard.canary import plan
from release_guard.events import DeployResult, ReconcileResult, ReleaseContext
from release_guard.policy import parse_policy
from release_guard_cli import evaldata
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT, GROUP, ROOT, load_event

RELEASE = load_event("prepare_release", "valid")["release_id"]
CANARY_CONFIG = plan.candidate_config_name(ENDPOINT, RELEASE, "canary")
DEMO_POLICY = parse_policy(json.loads((ROOT / "policies" / "demo.json").read_text()))

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated() as env, env.release_on_approval(False):
        env.account.register_package(GROUP, HEALTHY, approved=True)  # version 2
        yield env


def reconcile(env: Any, function: str, event: dict[str, Any], path: tuple[str, ...]) -> Any:
    """Call a reconciler (Roll Back / Promote) as the workflow does until verified."""
    results = []
    for _ in range(30):
        inv = env.invoke(function, event)
        assert inv.ok, inv.error_message
        result = ReconcileResult.model_validate(inv.payload)
        results.append(result)
        if result.verified:
            return results
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = inv.payload
        time.sleep(result.wait_seconds / 4)  # emulated endpoint changes take < 1 s
    raise AssertionError(f"{function} never verified: {results}")


def test_prepare_release_resolves_the_champion(env: Any) -> None:
    before = env.describe()
    inv = env.invoke("PrepareReleaseFunction", load_event("prepare_release", "valid"))
    assert inv.ok, inv.error_message
    ctx = ReleaseContext.model_validate(inv.payload)
    assert ctx.release_id == RELEASE
    assert ctx.champion.name == "champion"
    assert ctx.champion.model_name == "demo-endpoint-champion"
    assert ctx.champion.instance_type == "ml.g5.2xlarge"
    assert ctx.champion.instance_count == 1
    assert ctx.candidate.name == "v2"
    assert ctx.candidate.model_name == plan.candidate_model_name(ENDPOINT, "v2", RELEASE)
    assert ctx.model_package_version == 2 and ctx.model_package_group == GROUP
    assert ctx.policy == DEMO_POLICY  # the stack's policy, read from S3
    # What every later event carries is what Prepare resolves in this account.
    later = ReleaseContext.model_validate(load_event("deploy_candidate", "weight-zero")["release"])
    volatile = {"started_at", "eval_runs_prefix"}  # the stack bucket's name is per account
    assert ctx.model_dump(exclude=volatile) == later.model_dump(exclude=volatile)
    assert ctx.eval_runs_prefix == f"s3://{env.info.bucket}/evals/runs/{RELEASE}/"
    assert env.describe()["EndpointConfigName"] == before["EndpointConfigName"]


def test_acquire_lock_takes_the_endpoint_lock_once(env: Any) -> None:
    event = load_event("acquire_lock", "free-endpoint")
    for _ in range(2):  # a redelivered acquire by the same release succeeds again
        inv = env.invoke("AcquireLockFunction", event)
        assert inv.ok, inv.error_message
        assert inv.payload == {"locked": True, "owner": RELEASE}
    lock = env.lock()
    assert lock is not None
    assert lock["owner"] == RELEASE and lock["execution_arn"] == event["execution_arn"]
    meta = env.ledger(RELEASE)["META"]
    assert meta["status"] == "running" and meta["candidate"] == "v2"


def test_deploy_candidate_adds_v2_at_weight_zero(env: Any) -> None:
    event = load_event("deploy_candidate", "weight-zero")
    inv = env.invoke("DeployCandidateFunction", event)
    assert inv.ok, inv.error_message
    result = DeployResult.model_validate(inv.payload)
    assert result.changed
    assert result.endpoint_config_name == CANARY_CONFIG
    assert result.previous_endpoint_config_name == "demo-endpoint-initial"

    desc = env.settled()
    assert desc["EndpointConfigName"] == CANARY_CONFIG
    assert env.weights() == {"champion": 1.0, "v2": 0.0}
    assert desc["DataCaptureConfig"]["EnableCapture"] is True
    assert desc["DataCaptureConfig"]["DestinationS3Uri"].startswith("s3://")
    config = env.sm.describe_endpoint_config(EndpointConfigName=CANARY_CONFIG)
    v2 = next(v for v in config["ProductionVariants"] if v["VariantName"] == "v2")
    assert v2["InstanceType"] == "ml.g5.2xlarge"
    assert v2["ModelName"] == plan.candidate_model_name(ENDPOINT, "v2", RELEASE)

    again = env.invoke("DeployCandidateFunction", event)  # redelivered: nothing new
    assert again.ok, again.error_message
    assert again.payload["changed"] is False
    assert again.payload["endpoint_config_name"] == CANARY_CONFIG
    assert env.describe()["EndpointStatus"] == "InService"


def test_check_endpoint_reports_ready(env: Any) -> None:
    inv = env.invoke("CheckEndpointFunction", load_event("check_endpoint", "after-deploy"))
    assert inv.ok, inv.error_message
    assert inv.payload["ready"] is True and inv.payload["status"] == "InService"


def test_shift_traffic_step_0_gives_95_5_and_a_redelivery_changes_nothing(env: Any) -> None:
    event = load_event("shift_traffic", "step-0")
    first = env.invoke("ShiftTrafficFunction", event)
    assert first.ok, first.error_message
    state = first.payload["state"]
    assert (state["step_index"], state["percent"]) == (0, 5.0)
    env.settled()
    assert env.weights() == {"champion": 95.0, "v2": 5.0}

    second = env.invoke("ShiftTrafficFunction", event)
    assert second.ok, second.error_message
    assert second.payload["state"]["step_started_at"] == state["step_started_at"]
    assert env.describe()["EndpointStatus"] == "InService"  # no second weight update
    assert env.weights() == {"champion": 95.0, "v2": 5.0}
    shifts = [k for k in env.ledger(RELEASE) if k.endswith("#SHIFT")]
    assert shifts == ["02#STEP#00#SHIFT"]


def test_judge_canary_returns_a_verdict_with_findings(env: Any) -> None:
    event = load_event("judge_canary", "step-0")
    inv = env.invoke("JudgeCanaryFunction", event)
    assert inv.ok, inv.error_message
    verdict = inv.payload["verdict"]
    assert len(verdict["findings"]) == len(DEMO_POLICY.canary.metrics)  # one per rule
    assert all(f["reason"] for f in verdict["findings"])
    assert verdict["policy_version"] == DEMO_POLICY.version
    assert verdict["checks"] == 1 and inv.payload["state"]["checks"] == 1
    # No request reached v2 in this account: no data is never a pass, and the demo
    # policy (on_insufficient_data rollback) ends a step that is past max_bake_seconds.
    assert {f["outcome"] for f in verdict["findings"]} == {"no_data"}
    assert verdict["action"] == "rollback"
    assert "not enough evidence" in verdict["reason"]

    again = env.invoke("JudgeCanaryFunction", event)  # redelivered: the first decision
    assert again.ok, again.error_message
    assert again.payload["verdict"] == verdict
    judged = [k for k in env.ledger(RELEASE) if "#JUDGE#" in k]
    assert judged == ["02#STEP#00#JUDGE#0001"]


def test_request_approval_stores_the_task_token(env: Any) -> None:
    event = load_event("request_approval", "hold")
    inv = env.invoke("RequestApprovalFunction", event)
    assert inv.ok, inv.error_message
    assert inv.payload == {"requested": True}
    ledger = env.ledger(RELEASE)
    assert ledger["META"]["status"] == "awaiting_operator"
    assert ledger["META"]["task_token"] == event["token"]
    holds = [item for key, item in ledger.items() if key.startswith("03#HOLD#")]
    assert len(holds) == 1 and holds[0]["verdict"]["action"] == "hold"


def test_promote_moves_all_traffic_to_the_candidate(env: Any) -> None:
    results = reconcile(
        env,
        "PromoteFunction",
        load_event("promote", "shift-to-candidate"),
        ("promotion",),
    )
    assert results[-1].weights == {"champion": 0.0, "v2": 100.0}
    env.settled()
    assert env.weights() == {"champion": 0.0, "v2": 100.0}  # champion kept for the watch
    assert "04#PROMOTE#SHIFTED" in env.ledger(RELEASE)


def test_roll_back_leads_to_champion_only(env: Any) -> None:
    event = load_event("roll_back", "verdict-rollback")
    results = reconcile(env, "RollBackFunction", event, ("state", "rollback"))
    phases = [r.phase for r in results]
    assert phases[0] == "set_weights" and phases[-1] == "verified"
    assert "replace_config" in phases
    desc = env.settled()
    assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["champion"]
    assert env.weights()["champion"] > 0
    ledger = env.ledger(RELEASE)
    assert ledger["07#ROLLBACK#VERIFIED"]["reason"] == event["state"]["canary"]["verdict"]["reason"]
    assert ledger["07#ROLLBACK#VERIFIED"]["endpoint"]["variants"][0]["name"] == "champion"

    # Rolling back an endpoint already rolled back verifies at once and changes nothing.
    config = desc["EndpointConfigName"]
    inv = env.invoke("RollBackFunction", load_event("roll_back", "update-failed"))
    assert inv.ok, inv.error_message
    assert inv.payload["verified"] is True and inv.payload["attempts"] == 1
    assert env.describe()["EndpointConfigName"] == config


def test_finish_release_releases_the_lock_and_records_the_outcome(env: Any) -> None:
    assert env.lock() is not None
    inv = env.invoke("FinishReleaseFunction", load_event("finish_release", "rolled-back"))
    assert inv.ok, inv.error_message
    effects = {"report": "done", "package": "done", "notify": "done"}
    assert inv.payload == {"outcome": "rolled_back", "lock_released": True, "effects": effects}
    assert env.lock() is None
    ledger = env.ledger(RELEASE)
    assert ledger["09#OUTCOME"]["outcome"] == "rolled_back"
    assert ledger["META"]["status"] == "rolled_back"
    assert ledger["META"]["effects"] == effects
    arn = load_event("prepare_release", "valid")["request"]["model_package_arn"]
    package = env.sm.describe_model_package(ModelPackageName=arn)
    meta = package["CustomerMetadataProperties"]
    assert meta["release-guard:outcome"] == "rolled_back"
    assert meta["release-guard:release"] == RELEASE
    assert meta["release-guard:report"] == ledger["META"]["report"]["html"]
    # The judge's reason ("... (median ratio 2.12x); ...") as SageMaker accepts it.
    assert meta["release-guard:summary"].startswith("release-guard: rolled back: conclusively")
    assert "(" not in meta["release-guard:summary"] and ";" not in meta["release-guard:summary"]


def test_eval_gate_fails_a_candidate_weaker_than_the_champion(env: Any) -> None:
    event = load_event("eval_gate", "records-in-s3")
    gate = event["release"]["policy"]["gate"]
    s3 = boto3.client("s3")
    for system, records in (
        ("candidate", evaldata.records("candidate", accuracy={"returns": 0.72})),
        ("champion", evaldata.records("champion")),
    ):
        bucket, _, key = gate[f"{system}_uri"].removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=evaldata.jsonl(records).encode())
    before = env.describe()["EndpointConfigName"]
    inv = env.invoke("EvalGateFunction", event)
    assert inv.ok, inv.error_message
    assert inv.payload["verdict"] == "fail"
    assert "accuracy [returns]" in inv.payload["reason"]
    assert inv.payload["report_uri"].startswith(f"s3://{env.info.bucket}/reports/{RELEASE}/")
    assert env.describe()["EndpointConfigName"] == before  # a gate never touches the endpoint
