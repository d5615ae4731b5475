"""Lambda in the emulated account as AWS documents it: asynchronous invocation with
retries, on-failure destinations and dead-letter queues; timeouts (Sandbox.Timedout).

Each test deploys small functions of its own into one EmulatedAccount (no stack): the
code is an ``app.py`` in a tmp dir, registered in ``gaps.functions``. Every function
counts its attempts in a file, so nothing here asserts on timing; polls are generous.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from release_guard_cli.emulator import lambda_gaps, scheduler
from release_guard_cli.emulator.account import EmulatedAccount

ROOT = Path(__file__).resolve().parents[2]

FAIL = """
import os
from pathlib import Path

def handler(event, context):
    with open(os.environ["ATTEMPTS"], "a") as f:
        f.write(context.aws_request_id + "\\n")
    raise ValueError("emulated failure of " + event.get("id", "?"))
"""

SUCCEED = """
import os

def handler(event, context):
    with open(os.environ["ATTEMPTS"], "a") as f:
        f.write(context.aws_request_id + "\\n")
    return {"ok": True, "echo": event}
"""

CALLER = """
import json
import os

import boto3

def handler(event, context):
    resp = boto3.client("lambda").invoke(FunctionName=event["callee"], Payload=b"{}")
    return {"callee": json.loads(resp["Payload"].read()), "me": os.environ["ATTEMPTS"]}
"""

SLEEP = """
import os
import time

def handler(event, context):
    with open(os.environ["ATTEMPTS"], "a") as f:
        f.write(str(context.get_remaining_time_in_millis()) + "\\n")
    if event.get("sleep"):
        time.sleep(event["sleep"])
        return {"late": True}
    return {"quick": True}
"""


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedAccount]:
    with EmulatedAccount(ROOT, tmp_path_factory.mktemp("lambda-gaps")) as acct:
        yield acct


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_gaps.ASYNC, "retry_delays", (0.05, 0.05))


@pytest.fixture(scope="module")
def role(account: EmulatedAccount) -> str:
    """An execution role allowed what these functions and their delivery do."""
    iam = boto3.client("iam")
    arn = iam.create_role(
        RoleName="rg-test-lambda-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="rg-test-lambda-role",
        PolicyName="delivery",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sqs:SendMessage",
                            "sqs:GetQueueUrl",
                            "sns:Publish",
                            "lambda:InvokeFunction",
                            "events:PutEvents",
                        ],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    return str(arn)


Deploy = Callable[..., tuple[str, Path]]


@pytest.fixture
def deploy(account: EmulatedAccount, role: str, tmp_path: Path) -> Deploy:
    """deploy(code, **CreateFunction kwargs) -> (function name, attempts file)."""

    def make(code: str, **kwargs: Any) -> tuple[str, Path]:
        name = f"fn-{uuid.uuid4().hex[:8]}"
        src = tmp_path / name
        src.mkdir()
        (src / "app.py").write_text(code)
        attempts = tmp_path / f"{name}.attempts"
        attempts.touch()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", code)
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
            Environment={"Variables": {"ATTEMPTS": str(attempts)}},
            **kwargs,
        )
        account.gaps.functions[name] = src
        return name, attempts

    return make


def queue() -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def receive(url: str, timeout: float = 30) -> dict[str, Any]:
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if got:
            return dict(got[0])
        time.sleep(0.1)
    raise AssertionError(f"nothing arrived on {url} in {timeout} s")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def settle(path: Path, count: int, timeout: float = 30) -> list[str]:
    """The attempts file once it has ``count`` lines (and no more a moment later)."""
    deadline = time.monotonic() + timeout
    while len(lines(path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # generous: a further attempt would be queued 0.05 s after
    return lines(path)


def invoke_event(name: str, event: dict[str, Any]) -> dict[str, Any]:
    resp = boto3.client("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event)
    )
    return dict(resp)


# --- asynchronous invocation ------------------------------------------------------------


def test_failing_async_invoke_is_attempted_three_times_then_recorded_on_failure(
    deploy: Deploy,
) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(FAIL)
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )

    resp = invoke_event(name, {"id": "e1"})

    assert resp["StatusCode"] == 202
    message = receive(url)
    record = json.loads(message["Body"])
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert settle(attempts, 3) == [request_id] * 3  # one request id for every attempt
    fn_arn = boto3.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{fn_arn}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"id": "e1"}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "emulated failure of e1"


def test_maximum_retry_attempts_zero_is_attempted_once(deploy: Deploy) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(FAIL)
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    invoke_event(name, {"id": "e2"})

    record = json.loads(receive(url)["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert len(settle(attempts, 1)) == 1


def test_an_event_older_than_its_maximum_age_is_not_retried(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(FAIL)
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    monkeypatch.setattr(lambda_gaps.ASYNC, "age_scale", 0.0)  # every event is too old

    invoke_event(name, {"id": "old"})

    record = json.loads(receive(url)["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert len(settle(attempts, 1)) == 1


def test_a_second_put_replaces_the_event_invoke_config(deploy: Deploy) -> None:
    lam = boto3.client("lambda")
    name, _ = deploy(FAIL)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=600)

    config = lam.get_function_event_invoke_config(FunctionName=name)

    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (1, 600)


def test_dead_letter_queue_gets_the_event_with_lambdas_attributes(deploy: Deploy) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(FAIL, DeadLetterConfig={"TargetArn": queue_arn})
    config = boto3.client("lambda").get_function_configuration(FunctionName=name)
    assert config["DeadLetterConfig"] == {"TargetArn": queue_arn}

    resp = invoke_event(name, {"id": "e3"})

    message = receive(url)
    assert json.loads(message["Body"]) == {"id": "e3"}  # the event, unchanged
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "RequestID": resp["ResponseMetadata"]["RequestId"],
        "ErrorCode": "200",
        "ErrorMessage": "emulated failure of e3",
    }
    assert len(settle(attempts, 3)) == 3


def test_succeeding_async_invoke_is_attempted_once(deploy: Deploy) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(SUCCEED)
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": queue_arn}}
    )

    invoke_event(name, {"id": "e4"})

    record = json.loads(receive(url)["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": True, "echo": {"id": "e4"}}
    assert len(settle(attempts, 1)) == 1


def test_on_failure_lambda_destination_gets_the_record_as_its_event(deploy: Deploy) -> None:
    failing, _ = deploy(FAIL)
    catcher, caught = deploy(SUCCEED)
    lam = boto3.client("lambda")
    catcher_arn = lam.get_function(FunctionName=catcher)["Configuration"]["FunctionArn"]
    lam.put_function_event_invoke_config(
        FunctionName=failing,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": catcher_arn}},
    )

    invoke_event(failing, {"id": "e5"})

    assert len(settle(caught, 1)) == 1


# --- from a SAM template ----------------------------------------------------------------


def test_sam_event_invoke_config_and_dead_letter_queue_reach_the_function(
    account: EmulatedAccount, role: str
) -> None:
    """SAM's EventInvokeConfig (AWS::Lambda::EventInvokeConfig, which moto's
    CloudFormation lacks) and DeadLetterQueue (DeadLetterConfig, which moto drops)
    deployed as stack.py deploys: translate, then create the stack."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    queue_arn = {"Fn::GetAtt": ["Failures", "Arn"]}
    sam = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Failures": {"Type": "AWS::SQS::Queue"},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "InlineCode": "def handler(event, context):\n    raise ValueError()\n",
                    "Handler": "index.handler",
                    "Runtime": "python3.12",
                    "Role": role,
                    "DeadLetterQueue": {"Type": "SQS", "TargetArn": queue_arn},
                    "EventInvokeConfig": {
                        "MaximumRetryAttempts": 1,
                        "MaximumEventAgeInSeconds": 600,
                        "DestinationConfig": {
                            "OnFailure": {"Type": "SQS", "Destination": queue_arn}
                        },
                    },
                },
            },
        },
    }
    cfn_json = transform(sam, {}, ManagedPolicyLoader(boto3.client("iam")))
    cfn = boto3.client("cloudformation")
    cfn.create_stack(StackName="rg-lambda-gaps", TemplateBody=json.dumps(cfn_json))

    summaries = cfn.list_stack_resources(StackName="rg-lambda-gaps")["StackResourceSummaries"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
    assert "FnEventInvokeConfig" in physical  # created, not skipped
    queue = boto3.client("sqs").get_queue_attributes(
        QueueUrl=physical["Failures"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    lam = boto3.client("lambda")
    config = lam.get_function_event_invoke_config(FunctionName=physical["Fn"])
    assert config["MaximumRetryAttempts"] == 1
    assert config["MaximumEventAgeInSeconds"] == 600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue
    fn = lam.get_function_configuration(FunctionName=physical["Fn"])
    assert fn["DeadLetterConfig"] == {"TargetArn": queue}


# --- EventBridge and EventBridge Scheduler -------------------------------------------------


def test_eventbridge_rule_to_failing_lambda_lands_in_the_destination(deploy: Deploy) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(FAIL)
    lam = boto3.client("lambda")
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    events = boto3.client("events")
    rule = f"rule-{name}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["rg.test"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": fn_arn}])

    events.put_events(
        Entries=[{"Source": "rg.test", "DetailType": "Test", "Detail": json.dumps({"n": 1})}]
    )

    record = json.loads(receive(url)["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["source"] == "rg.test"
    assert record["requestPayload"]["detail"] == {"n": 1}
    assert len(settle(attempts, 3)) == 3


def test_scheduler_fire_without_wait_invokes_asynchronously(deploy: Deploy) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(FAIL)
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    schedule = {"function": name, "input": {"id": "s1"}, "expression": "rate(1 day)"}

    resp = scheduler.fire(schedule, wait=False)

    assert resp["StatusCode"] == 202
    record = json.loads(receive(url)["Body"])
    assert record["requestContext"]["requestId"] == resp["RequestId"]
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"] == {"id": "s1"}
    assert len(settle(attempts, 2)) == 2
    with pytest.raises(RuntimeError, match="emulated failure of s1"):
        scheduler.fire(schedule)  # synchronous: the caller has the error


# --- timeouts --------------------------------------------------------------------------------


def test_handler_past_its_timeout_is_sandbox_timedout_and_the_next_invoke_works(
    deploy: Deploy,
) -> None:
    lam = boto3.client("lambda")
    name, attempts = deploy(SLEEP, Timeout=1)

    resp = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": 3}))

    body = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == (
        f"RequestId: {resp['ResponseMetadata']['RequestId']} "
        "Error: Task timed out after 1.00 seconds"
    )
    # The next invocation does not wait for the zombie and gets its own result.
    again = lam.invoke(FunctionName=name, Payload=json.dumps({}))
    assert "FunctionError" not in again
    assert json.loads(again["Payload"].read()) == {"quick": True}
    remaining = [int(x) for x in lines(attempts)]
    assert all(0 <= ms <= 1000 for ms in remaining)  # the context counts from 1 s down
    time.sleep(2.5)  # the zombie ends; its late result reaches no one
    follow = lam.invoke(FunctionName=name, Payload=json.dumps({}))
    assert json.loads(follow["Payload"].read()) == {"quick": True}


def test_async_timeout_counts_as_a_failure(deploy: Deploy) -> None:
    url, queue_arn = queue()
    name, attempts = deploy(SLEEP, Timeout=1)
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    invoke_event(name, {"sleep": 2})

    record = json.loads(receive(url)["Body"])
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"
    assert len(settle(attempts, 1)) == 1
    time.sleep(1.5)  # let the zombie finish before the account goes


def test_a_handler_invoking_a_function_synchronously_gets_its_result(deploy: Deploy) -> None:
    callee, _ = deploy(SUCCEED)
    caller, attempts = deploy(CALLER, Timeout=10)

    resp = boto3.client("lambda").invoke(
        FunctionName=caller, Payload=json.dumps({"callee": callee})
    )

    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    assert body == {"callee": {"ok": True, "echo": {}}, "me": str(attempts)}


def test_an_on_invoke_hook_may_invoke_a_function(account: EmulatedAccount, deploy: Deploy) -> None:
    """As tests/e2e's DeliverTwice does: the hook runs on the invoking side, which
    still holds the handlers' lock, and invokes synchronously again."""
    first, _ = deploy(SUCCEED)
    second, attempts = deploy(SUCCEED)
    lam = boto3.client("lambda")
    seen: list[Any] = []

    def hook(fn: str, payload: Any, result: Any) -> None:
        if fn == first:
            resp = lam.invoke(FunctionName=second, Payload=b'{"from": "hook"}')
            seen.append(json.loads(resp["Payload"].read()))

    account.gaps.on_invoke.append(hook)
    try:
        resp = lam.invoke(FunctionName=first, Payload=b"{}")
    finally:
        account.gaps.on_invoke.remove(hook)

    assert json.loads(resp["Payload"].read()) == {"ok": True, "echo": {}}
    assert seen == [{"ok": True, "echo": {"from": "hook"}}]
    assert len(lines(attempts)) == 1
