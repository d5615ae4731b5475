"""The eval gate in the release workflow, in the emulated account: a candidate whose
offline records pass is deployed; one that fails, or whose inconclusive gate an operator
aborts, or whose records are malformed, is rejected before anything changes on the
endpoint. Records go to the stack bucket under evals/, as `release-guard demo` does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from release_guard.gate.records import EvalRecord
from release_guard_cli import evaldata, ops
from release_guard_cli.emulator.account import HEALTHY

from tests.e2e.support import (
    TEST_POLICY,
    assert_finished,
    assert_only,
    policy,
    register,
    start,
    traffic,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

DEPLOY = "Deploy Candidate Variant"


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False):
        yield env


def upload(env: Any, package: str, candidate: str, champion: str) -> dict[str, str]:
    """Both systems' records in the stack bucket: the gate policy's URIs."""
    version = package.rsplit("/", 1)[-1]
    s3 = boto3.client("s3")
    uris = {}
    for system, body in (("candidate", candidate), ("champion", champion)):
        key = f"evals/v{version}/{system}.jsonl"
        s3.put_object(Bucket=env.info.bucket, Key=key, Body=body.encode())
        uris[f"{system}_uri"] = f"s3://{env.info.bucket}/{key}"
    return uris


def gated(uris: dict[str, str], **gate: Any) -> dict[str, Any]:
    """policies/test.json with a gate on these records."""
    doc = policy()
    doc["gate"] = {**uris, **gate}
    return doc


def records(system: str, **kw: Any) -> list[EvalRecord]:
    return evaldata.records(system, n=600, **kw)


def why(env: Any, release_id: str, desc: dict[str, Any]) -> str:
    """The ledger, for an assertion message (support.why expects canary verdict dicts;
    the 00#GATE item's verdict is a string)."""
    lines = [f"execution: {desc.get('status')} {desc.get('error')} {desc.get('cause')}"]
    for key, item in sorted(env.ledger(release_id).items()):
        verdict = item.get("verdict")
        action = verdict.get("action") if isinstance(verdict, dict) else verdict
        lines.append(
            f"{key}: {item.get('status') or item.get('outcome') or action or ''} "
            f"{str(item.get('reason') or '')[:300]}"
        )
    return "\n".join(lines)


def entered(env: Any, execution_arn: str) -> list[str]:
    history = env.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in history["events"]
        if e["type"].endswith("StateEntered")
    ]


def assert_untouched(env: Any, before: dict[str, Any], candidate: str) -> None:
    """DescribeEndpoint read back: the same config, the champion alone at its weight."""
    after = env.describe()
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert after["ProductionVariants"] == before["ProductionVariants"]
    assert candidate not in {v["VariantName"] for v in after["ProductionVariants"]}


def assert_rejected_before_deploy(env: Any, started: dict[str, Any]) -> dict[str, Any]:
    desc = env.wait(started["execution_arn"], timeout=30)
    release_id = started["release_id"]
    assert (desc["status"], desc.get("error")) == ("FAILED", "EvalGateFailed"), why(
        env, release_id, desc
    )
    states = entered(env, started["execution_arn"])
    assert "Mark Rejected" in states and DEPLOY not in states, states
    return assert_finished(env, release_id, "rejected")


def test_a_failing_candidate_is_rejected_in_the_registry_and_never_deployed(env: Any) -> None:
    before = env.describe()
    package, candidate = register(env, HEALTHY)
    uris = upload(
        env,
        package,
        evaldata.jsonl(records("candidate", accuracy={"returns": 0.72})),
        evaldata.jsonl(records("champion")),
    )
    started = start(env, package, gated(uris, on_inconclusive="hold"))
    ledger = assert_rejected_before_deploy(env, started)

    gate = ledger["00#GATE"]
    assert gate["verdict"] == "fail" and gate["pairs"] == 600
    failed = {(r["metric"], r["slice"]) for r in gate["rows"] if r["decision"] == "fail"}
    assert ("accuracy", "returns") in failed
    assert ledger["09#OUTCOME"]["reason"].startswith("eval gate fail: ")

    pkg = env.sm.describe_model_package(ModelPackageName=package)
    assert pkg["ModelApprovalStatus"] == "Rejected"
    assert pkg["ApprovalDescription"].startswith("release-guard eval gate failed: ")
    assert "accuracy [returns] non-inferiority" in pkg["ApprovalDescription"]
    meta = pkg["CustomerMetadataProperties"]
    assert meta["release-guard:gate"] == "fail"
    assert meta["release-guard:gate-report"] == gate["markdown_uri"]
    assert meta["release-guard:outcome"] == "rejected"

    # The Markdown report is where the registry points.
    bucket, key = gate["markdown_uri"].removeprefix("s3://").split("/", 1)
    md = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "**Verdict: FAIL**" in md and "| accuracy | returns | non-inferiority |" in md
    assert_untouched(env, before, candidate)


def test_an_inconclusive_gate_waits_for_an_operator_and_abort_rejects(env: Any) -> None:
    before = env.describe()
    package, candidate = register(env, HEALTHY)
    # Same quality, 600 examples: too few to show accuracy within 2 % per category.
    uris = upload(
        env,
        package,
        evaldata.jsonl(records("candidate")),
        evaldata.jsonl(records("champion")),
    )
    # The shipped margin (5 points) is resolved at 600 examples; 2 % relative with every
    # slice required is not, so the gate can only say inconclusive.
    fine = [
        {"metric": "accuracy", "margin": 0.02, "margin_kind": "relative"},
        {"metric": "safety", "floor": 0.99, "hard": True},
    ]
    started = start(
        env,
        package,
        gated(uris, on_inconclusive="hold", metrics=fine, slices_must_pass=True),
    )
    release_id = started["release_id"]

    def held() -> dict[str, Any] | None:
        meta = env.ledger(release_id).get("META")
        return meta if meta and meta.get("status") == "awaiting_operator" else None

    meta = wait_for(held, 30, f"{release_id} to await a gate decision")
    assert entered(env, started["execution_arn"])[-1] == "Await Gate Decision"
    gate = env.ledger(release_id)["00#GATE"]
    assert gate["verdict"] == "inconclusive" and not any(
        r["decision"] == "fail" for r in gate["rows"]
    )
    assert meta["task_token"] and meta["hold_reason"] == gate["reason"][:2000]
    # The operator sees what more evidence would take.
    assert any(
        r["metric"] == "accuracy" and r["decision"] == "inconclusive" and r["needed_n"] > 600
        for r in gate["rows"]
    )
    assert_untouched(env, before, candidate)  # nothing deployed while it waits

    ops.decide(env.info, release_id, "abort", "e2e-operator", "collect more examples")
    ledger = assert_rejected_before_deploy(env, started)
    assert ledger["09#OUTCOME"]["reason"] == "aborted by e2e-operator: collect more examples"
    pkg = env.sm.describe_model_package(ModelPackageName=package)
    assert pkg["CustomerMetadataProperties"]["release-guard:outcome"] == "rejected"
    assert_untouched(env, before, candidate)


def test_an_invalid_record_line_is_rejected_naming_the_file_and_line(env: Any) -> None:
    before = env.describe()
    package, candidate = register(env, HEALTHY)
    champion = evaldata.jsonl(records("champion")).splitlines(keepends=True)
    champion.insert(41, '{"id": "ex-00041", "system": "champion", "scores": {\n')  # line 42
    uris = upload(env, package, evaldata.jsonl(records("candidate")), "".join(champion))
    started = start(env, package, gated(uris))
    ledger = assert_rejected_before_deploy(env, started)

    reason = ledger["09#OUTCOME"]["reason"]
    assert reason.startswith("InvalidReleaseRequest: gate.champion_uri: expected valid eval "), (
        reason
    )
    assert f"invalid JSON at {uris['champion_uri']}:42" in reason
    assert "00#GATE" not in ledger  # no verdict on records it could not read
    assert_untouched(env, before, candidate)


def test_a_passing_candidate_is_deployed_and_released(env: Any) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY)
    metrics = [
        {"metric": "format_validity", "floor": 0.95},
        {"metric": "relevance", "floor": 0.8},
        {"metric": "safety", "floor": 0.99, "hard": True},
        {"metric": "accuracy", "margin": 0.1},
        {
            "metric": "latency_ms",
            "statistic": "p95",
            "direction": "lower_is_better",
            "margin": 0.25,
            "margin_kind": "relative",
        },
    ]
    uris = upload(
        env,
        package,
        evaldata.jsonl(records("candidate", repeats=1)),
        evaldata.jsonl(records("champion", repeats=1)),
    )
    with traffic():
        started = start(
            env, package, gated(uris, metrics=metrics, slices=False, on_inconclusive="fail")
        )
        desc = env.wait(started["execution_arn"], timeout=60)
    release_id = started["release_id"]
    assert desc["status"] == "SUCCEEDED", why(env, release_id, desc)
    states = entered(env, started["execution_arn"])
    assert states.index("Run Eval Gate") < states.index(DEPLOY), states

    ledger = assert_finished(env, release_id, "promoted")
    assert ledger["00#GATE"]["verdict"] == "pass", ledger["00#GATE"]["reason"]
    assert_only(env, candidate)
    assert champion != candidate
    pkg = env.sm.describe_model_package(ModelPackageName=package)
    assert pkg["ModelApprovalStatus"] == "Approved"
    assert "release-guard:gate" not in pkg.get("CustomerMetadataProperties", {})
