"""One approval, one release, in the emulated account (the stack deployed, its registry
rule live): every UpdateModelPackage publishes "SageMaker Model Package State Change",
and only an approval may start anything. release-guard's own metadata writes start
nothing, neither through the rule nor when replayed to StartRelease; a package that
already has an outcome is refused until `release-guard release start --force`.

The events are read off the default bus by a second rule into SQS, as SageMaker sent
them; the stack's rule is read back with DescribeRule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.events.models import EventPattern, EventPatternParser
from release_guard import registry
from release_guard.aws import sagemaker
from release_guard_cli import main
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT, GROUP, load_event
from tests.e2e.support import wait_for
from tests.unit.sagemaker_shapes import metadata_problems

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
STATE_CHANGE = "SageMaker Model Package State Change"


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated() as env:
        # As SageMaker does: every CreateModelPackage and UpdateModelPackage publishes.
        yield env


@pytest.fixture(scope="module")
def tap(env: Any) -> Any:
    """Every model package event of the default bus, in an SQS queue."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="registry-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["aws.sagemaker"], "detail-type": [STATE_CHANGE]}
    rule = events.put_rule(Name="registry-tap", EventPattern=json.dumps(pattern))["RuleArn"]
    # EventBridge may send to the queue only if its policy says so.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule="registry-tap", Targets=[{"Id": "tap", "Arn": arn}])

    def next_event(package: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                event = json.loads(m["Body"])
                if event["detail"]["ModelPackageArn"] == package:
                    return dict(event)
            return None

        return wait_for(probe, 10, f"the state change event of {package}")

    return next_event


def stack_rule(env: Any) -> EventPattern:
    """The registry rule as deployed (the one whose target is StartRelease)."""
    events = boto3.client("events")
    start_arn = env.lam.get_function(FunctionName=env.functions["StartReleaseFunction"])[
        "Configuration"
    ]["FunctionArn"]
    [name] = events.list_rule_names_by_target(TargetArn=start_arn)["RuleNames"]
    raw = events.describe_rule(Name=name)["EventPattern"]
    return EventPattern(raw, EventPatternParser(raw).parse())


def test_release_guards_metadata_write_starts_nothing(env: Any, tap: Any) -> None:
    champion = env.fx.champion_package  # Approved before the stack existed
    reason = "5xx_rate <= 5.00% absolute: 12.1% of 950 (ratio ~60x); [9 of 9] periods"
    # The adapter FinishRelease uses, with the metadata it writes.
    sagemaker.record_on_package(
        champion, registry.package_metadata("r-1", "rolled_back", reason, None)
    )
    event = tap(champion)
    assert event["detail-type"] == STATE_CHANGE
    assert event["detail"]["ModelApprovalStatus"] == "Approved"
    assert event["detail"]["UpdatedModelPackageFields"] == ["CustomerMetadataProperties"]
    assert event["detail"]["CustomerMetadataProperties"]["release-guard:summary"].startswith(
        "release-guard: rolled back: 5xx_rate at most 5.00 percent absolute"
    )
    assert stack_rule(env).matches_event(event) is False
    replayed = env.invoke("StartReleaseFunction", event)  # defence in depth
    assert replayed.ok, replayed.error_message
    assert replayed.payload["status"] == "refused"
    assert "not an approval: only CustomerMetadataProperties changed" in replayed.payload["reason"]
    assert env.executions() == []


def test_a_package_with_an_outcome_is_refused_until_forced(
    env: Any, tap: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    v2 = env.account.register_package(GROUP, HEALTHY)  # PendingManualApproval: no release
    assert (
        v2 == load_event("finish_release", "rolled-back")["state"]["release"]["model_package_arn"]
    )
    assert stack_rule(env).matches_event(tap(v2)) is False
    # A release of v2 rolled back: Finish Release records the outcome (and writes the
    # package's metadata: one more event, which starts nothing).
    finished = env.invoke("FinishReleaseFunction", load_event("finish_release", "rolled-back"))
    assert finished.ok, finished.error_message
    assert finished.payload["effects"]["package"] == "done", finished.payload
    written = tap(v2)
    assert written["detail"]["UpdatedModelPackageFields"] == ["CustomerMetadataProperties"]
    assert stack_rule(env).matches_event(written) is False

    # Approved again in the registry: the rule matches, StartRelease refuses.
    env.sm.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    approval = tap(v2)
    assert approval["detail"]["UpdatedModelPackageFields"] == ["ModelApprovalStatus"]
    assert stack_rule(env).matches_event(approval) is True
    refused = env.invoke("StartReleaseFunction", approval)
    assert refused.ok, refused.error_message
    assert refused.payload["status"] == "refused"
    assert "ended rolled_back" in refused.payload["reason"]
    assert env.executions() == []

    # `release-guard release start` refuses too, with the reason; --force starts it.
    args = ["release", "start", "--endpoint", ENDPOINT, "--package", v2]
    assert main.main(args) == 1
    assert "release refused: " in capsys.readouterr().err
    assert env.executions() == []
    assert main.main([*args, "--force"]) == 0
    [execution] = env.executions()
    request = json.loads(
        env.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert (request["model_package_arn"], request["force"]) == (v2, True)
    assert f'"release_id": "{execution["name"]}"' in capsys.readouterr().out


def test_the_sagemaker_adapter_makes_any_text_fit(env: Any, tap: Any) -> None:
    """A writer that hands the adapter raw text still gets a call SageMaker accepts."""
    champion = env.fx.champion_package
    sagemaker.record_on_package(champion, {"release-guard:note": "5XX 20.00% (n=9); ~3 min\n"})
    tap(champion)  # its state change event
    props = env.sm.describe_model_package(ModelPackageName=champion)["CustomerMetadataProperties"]
    assert props["release-guard:note"] == "5XX 20.00 percent n=9: about 3 min"
    assert metadata_problems(props) == []


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        (5, "event.detail"),
        (["Approved"], "event.detail"),
        ("Approved", "event.detail"),
        ({"ModelApprovalStatus": "Approved"}, "event.detail.ModelPackageGroupName"),
        ({"ModelPackageArn": 7}, "event.detail.ModelPackageGroupName"),
    ],
    ids=["number", "array", "string", "no-arn", "arn-number"],
)
def test_a_mangled_registry_event_is_refused_naming_the_field(
    env: Any, detail: Any, field: str
) -> None:
    """A state change event whose detail is no object, or lacks what an approval names,
    is InvalidReleaseRequest naming the field; nothing starts (issue 12)."""
    before = env.executions()
    event = {**load_event("start_release", "registry-approved"), "detail": detail}
    inv = env.invoke("StartReleaseFunction", event)
    assert inv.error_type == "InvalidReleaseRequest", inv.error_message
    assert inv.error_message.startswith(f"{field}: expected "), inv.error_message
    assert env.executions() == before
