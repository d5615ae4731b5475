"""Step Functions in the emulated account behaves as AWS documents (sfn_gaps).

Plain moto with ``execute_state_machine`` and ``sfn_gaps.install()``; Lambda tasks run
small Python functions in-process (moto would start Docker). Every wait polls with a
generous deadline: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from release_guard_cli.emulator import sfn_gaps

from tests.emulator import support

REGION = "us-east-1"
DEADLINE_S = 30.0

# The documented "Execution failed" event (Step Functions Developer Guide, "EventBridge
# (CloudWatch Events) for Step Functions execution status changes", cw-events.md).
DOCUMENTED_FAILED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "Step Functions Execution Status Change",
    "source": "aws.states",
    "account": "012345678912",
    "time": "2019-02-26T19:42:21Z",
    "region": "us-east-1",
    "resources": [
        "arn:aws:states:us-east-1:012345678912:execution:state-machine-name:execution-name"
    ],
    "detail": {
        "executionArn": (
            "arn:aws:states:us-east-1:012345678912:execution:state-machine-name:execution-name"
        ),
        "stateMachineArn": "arn:aws:states:us-east-1:012345678912:stateMachine:state-machine",
        "name": "execution-name",
        "status": "FAILED",
        "startDate": 1551225146847,
        "stopDate": 1551225151881,
        "input": "{}",
        "inputDetails": {"included": True},
        "output": None,
        "outputDetails": None,
    },
}


@dataclass
class Account:
    sfn: Any
    lam: Any
    sqs: Any
    events: Any
    role: str
    handlers: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    calls: dict[str, list[Any]] = field(default_factory=dict)

    def function(self, name: str, handler: Callable[[Any], Any]) -> str:
        """A Lambda function whose invocations run ``handler(event)`` in-process."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "def handler(event, context):\n    return event\n")
        self.handlers[name] = handler
        self.calls[name] = []
        arn: str = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role,
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
        )["FunctionArn"]
        return arn

    def machine(self, name: str, definition: dict[str, Any]) -> str:
        arn: str = self.sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=self.role
        )["stateMachineArn"]
        return arn

    def start(self, machine: str, payload: dict[str, Any] | None = None) -> str:
        arn: str = self.sfn.start_execution(
            stateMachineArn=machine, input=json.dumps(payload or {})
        )["executionArn"]
        return arn

    def describe(self, arn: str) -> dict[str, Any]:
        return dict(self.sfn.describe_execution(executionArn=arn))

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def finished(self, arn: str) -> dict[str, Any]:
        desc = until(lambda: (d := self.describe(arn))["status"] != "RUNNING" and d, arn)
        assert sfn_gaps.interpreter_done(arn, DEADLINE_S), f"{arn} still has running threads"
        return desc

    def queue(self, name: str, pattern: dict[str, Any]) -> str:
        url: str = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": queue_arn}])
        return url

    def messages(self, url: str, count: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []

        def more() -> bool:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            got.extend(json.loads(m["Body"]) for m in resp.get("Messages", []))
            return len(got) >= count

        until(more, f"{count} messages on {url}")
        return got


def until(probe: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    return support.until(probe, what, timeout)


def types(history: list[dict[str, Any]]) -> list[str]:
    return [str(e["type"]) for e in history]


def client_error(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    sfn_gaps.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        iam = boto3.client("iam")
        role = iam.create_role(
            RoleName="sfn-gaps-test",
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
        acct = Account(
            sfn=boto3.client("stepfunctions"),
            lam=boto3.client("lambda"),
            sqs=boto3.client("sqs"),
            events=boto3.client("events"),
            role=role,
        )

        def invoke(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            payload = json.loads(event) if isinstance(event, str | bytes) else event
            acct.calls[fn.function_name].append(payload)
            return json.dumps(acct.handlers[fn.function_name](payload)), False, ""

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
        try:
            yield acct
        finally:
            for sm in acct.sfn.list_state_machines()["stateMachines"]:
                for e in acct.sfn.list_executions(stateMachineArn=sm["stateMachineArn"])[
                    "executions"
                ]:
                    acct.sfn.stop_execution(executionArn=e["executionArn"])
                    sfn_gaps.interpreter_done(e["executionArn"], DEADLINE_S)


def then_after(after_arn: str) -> dict[str, Any]:
    """A Lambda task that must never run once the execution has been stopped."""
    return {"Type": "Task", "Resource": after_arn, "End": True}


# --- StopExecution ----------------------------------------------------------------------


def test_stop_during_wait_aborts_at_once_and_runs_nothing_after(account: Account) -> None:
    after = account.function("after", lambda e: e)
    machine = account.machine(
        "wait-then-task",
        {
            "StartAt": "Bake",
            "States": {
                "Bake": {"Type": "Wait", "Seconds": 30, "Next": "After"},
                "After": then_after(after),
            },
        },
    )
    arn = account.start(machine)
    until(lambda: "WaitStateEntered" in types(account.history(arn)), "the Wait state")

    account.sfn.stop_execution(executionArn=arn, error="Operator", cause="rollback requested")

    desc = account.describe(arn)  # no waiting: the stop is immediate
    assert desc["status"] == "ABORTED"
    assert (desc["error"], desc["cause"]) == ("Operator", "rollback requested")
    assert desc["stopDate"] >= desc["startDate"]
    assert sfn_gaps.interpreter_done(arn, DEADLINE_S)
    history = account.history(arn)
    assert types(history) == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    assert history[-1]["executionAbortedEventDetails"] == {
        "error": "Operator",
        "cause": "rollback requested",
    }
    assert account.calls["after"] == []


def test_stop_without_reason_has_no_error_or_cause(account: Account) -> None:
    machine = account.machine(
        "wait", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    )
    arn = account.start(machine)
    account.sfn.stop_execution(executionArn=arn)
    desc = account.finished(arn)
    assert desc["status"] == "ABORTED"
    assert "error" not in desc and "cause" not in desc
    assert account.history(arn)[-1]["executionAbortedEventDetails"] == {}


def test_stop_during_wait_for_task_token_refuses_the_token(account: Account) -> None:
    tokens: list[str] = []
    ask = account.function("ask", lambda e: tokens.append(e["token"]) or {})
    after = account.function("after", lambda e: e)
    machine = account.machine(
        "approval",
        {
            "StartAt": "Approve",
            "States": {
                "Approve": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": ask, "Payload": {"token.$": "$$.Task.Token"}},
                    "Next": "After",
                },
                "After": then_after(after),
            },
        },
    )
    arn = account.start(machine)
    until(lambda: tokens, "the task token")

    account.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped")

    assert account.describe(arn)["status"] == "ABORTED"
    token = tokens[0]
    assert client_error(lambda: account.sfn.send_task_success(taskToken=token, output="{}")) == (
        "TaskTimedOut"
    )
    assert client_error(lambda: account.sfn.send_task_failure(taskToken=token, error="E")) == (
        "TaskTimedOut"
    )
    assert client_error(lambda: account.sfn.send_task_heartbeat(taskToken=token)) == "TaskTimedOut"
    desc = account.finished(arn)
    assert (desc["status"], desc["error"], desc["cause"]) == ("ABORTED", "Operator", "stopped")
    history = types(account.history(arn))
    assert history[-1] == "ExecutionAborted"
    assert "TaskSucceeded" not in history and "TaskFailed" not in history
    assert account.calls["after"] == []


def test_stop_while_a_lambda_runs_discards_its_result(account: Account) -> None:
    release = threading.Event()
    slow = account.function("slow", lambda e: release.wait(DEADLINE_S) and {"done": True})
    after = account.function("after", lambda e: e)
    machine = account.machine(
        "slow-task",
        {
            "StartAt": "Slow",
            "States": {
                "Slow": {"Type": "Task", "Resource": slow, "Next": "After"},
                "After": then_after(after),
            },
        },
    )
    arn = account.start(machine)
    until(lambda: account.calls["slow"], "the slow Lambda")

    account.sfn.stop_execution(executionArn=arn)
    assert account.describe(arn)["status"] == "ABORTED"  # while the Lambda still runs

    release.set()
    assert account.finished(arn)["status"] == "ABORTED"
    history = types(account.history(arn))
    assert history[-1] == "ExecutionAborted"
    assert "LambdaFunctionSucceeded" not in history
    assert account.calls["after"] == []


def test_stop_right_after_start_is_never_lost(account: Account) -> None:
    machine = account.machine(
        "race", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    )
    arns = []
    for _ in range(10):
        arn = account.start(machine)
        account.sfn.stop_execution(executionArn=arn)
        arns.append(arn)
    for arn in arns:
        assert account.finished(arn)["status"] == "ABORTED"
        history = types(account.history(arn))
        assert history[0] == "ExecutionStarted" and history[-1] == "ExecutionAborted"
        assert history.count("ExecutionAborted") == 1


def test_stopping_an_ended_execution_is_accepted_and_changes_nothing(account: Account) -> None:
    machine = account.machine(
        "pass", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    arn = account.start(machine)
    before = account.finished(arn)
    assert before["status"] == "SUCCEEDED"

    account.sfn.stop_execution(executionArn=arn, error="Late")

    after = account.describe(arn)
    assert (after["status"], after["stopDate"]) == ("SUCCEEDED", before["stopDate"])
    assert "error" not in after
    assert types(account.history(arn))[-1] == "ExecutionSucceeded"


def test_a_token_of_a_closed_task_times_out(account: Account) -> None:
    tokens: list[str] = []
    ask = account.function("ask", lambda e: tokens.append(e["token"]) or {})
    machine = account.machine(
        "approval-ok",
        {
            "StartAt": "Approve",
            "States": {
                "Approve": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": ask, "Payload": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        },
    )
    arn = account.start(machine)
    until(lambda: tokens, "the task token")
    account.sfn.send_task_success(taskToken=tokens[0], output='{"approved": true}')
    desc = account.finished(arn)
    assert (desc["status"], json.loads(desc["output"])) == ("SUCCEEDED", {"approved": True})
    assert client_error(
        lambda: account.sfn.send_task_success(taskToken=tokens[0], output="{}")
    ) == ("TaskTimedOut")


def test_executions_started_without_a_name_get_their_own(account: Account) -> None:
    machine = account.machine(
        "anon", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    first = account.sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = account.sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second and not first.endswith(":None")
    assert account.finished(first)["status"] == account.finished(second)["status"] == "SUCCEEDED"


# --- the history quota ------------------------------------------------------------------------


def test_a_runaway_loop_fails_at_the_history_limit(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sfn_gaps, "HISTORY_LIMIT", 50)
    machine = account.machine(
        "runaway",
        {
            "StartAt": "Poll",
            "States": {
                "Poll": {"Type": "Pass", "Next": "Done?"},
                "Done?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "End"}],
                    "Default": "Poll",
                },
                "End": {"Type": "Succeed"},
            },
        },
    )
    arn = account.start(machine, {"done": False})
    desc = account.finished(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.Runtime"
    assert desc["cause"] == "The execution reached the maximum number of history events (50)."
    history = account.history(arn)
    assert len(history) == 50  # event number 50 is the ExecutionFailed event
    assert history[-1]["type"] == "ExecutionFailed"
    assert history[-1]["executionFailedEventDetails"]["error"] == "States.Runtime"
    # each turn of the loop records entered and exited for both states
    assert types(history)[1:5] == [
        "PassStateEntered",
        "PassStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
    ]


@pytest.mark.parametrize(("limit", "status"), [(6, "SUCCEEDED"), (5, "FAILED")])
def test_the_last_allowed_event_may_be_execution_succeeded(
    account: Account, monkeypatch: pytest.MonkeyPatch, limit: int, status: str
) -> None:
    # ExecutionStarted, 2 x (PassStateEntered, PassStateExited), ExecutionSucceeded: 6 events
    monkeypatch.setattr(sfn_gaps, "HISTORY_LIMIT", limit)
    machine = account.machine(
        "two-passes",
        {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}},
        },
    )
    arn = account.start(machine)
    assert account.finished(arn)["status"] == status
    assert len(account.history(arn)) == limit


# --- the payload quota ----------------------------------------------------------------------


def _big_result_machine(account: Account, name: str, catch_errors: list[str]) -> str:
    big = account.function(name, lambda e: "x" * (sfn_gaps.PAYLOAD_LIMIT + 1))
    return account.machine(
        name,
        {
            "StartAt": "Fetch",
            "States": {
                "Fetch": {
                    "Type": "Task",
                    "Resource": big,
                    "Catch": [{"ErrorEquals": catch_errors, "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
    )


def test_a_task_result_over_the_quota_is_not_caught_by_states_all(account: Account) -> None:
    arn = account.start(_big_result_machine(account, "big-all", ["States.ALL"]))
    desc = account.finished(arn)
    assert (desc["status"], desc["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "PassStateEntered" not in types(account.history(arn))  # the Catch was not taken


def test_a_task_result_over_the_quota_is_caught_when_named(account: Account) -> None:
    arn = account.start(_big_result_machine(account, "big-named", ["States.DataLimitExceeded"]))
    desc = account.finished(arn)
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"])["Error"] == "States.DataLimitExceeded"


@pytest.mark.parametrize(("extra", "status"), [(0, "SUCCEEDED"), (1, "FAILED")])
def test_a_state_output_may_be_exactly_the_quota(account: Account, extra: int, status: str) -> None:
    envelope = len(json.dumps({"s": ""}, separators=(",", ":")))
    result = {"s": "x" * (sfn_gaps.PAYLOAD_LIMIT - envelope + extra)}
    machine = account.machine(
        f"exact-{extra}",
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": True}}},
    )
    desc = account.finished(account.start(machine))
    assert desc["status"] == status
    if status == "FAILED":
        assert desc["error"] == "States.DataLimitExceeded"


def test_a_task_input_over_the_quota_after_parameters_fails(account: Account) -> None:
    echo = account.function("echo", lambda e: e)
    half = "x" * (sfn_gaps.PAYLOAD_LIMIT // 2 + 10)
    machine = account.machine(
        "big-input",
        {
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": echo, "Payload": {"a.$": "$.s", "b.$": "$.s"}},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
    )
    desc = account.finished(account.start(machine, {"s": half}))
    assert (desc["status"], desc["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert account.calls["echo"] == []


def test_states_runtime_is_not_caught_by_states_all(account: Account) -> None:
    echo = account.function("echo", lambda e: e)
    machine = account.machine(
        "runtime",
        {
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": echo, "Payload": {"a.$": "$.missing"}},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
    )
    desc = account.finished(account.start(machine))
    assert (desc["status"], desc["error"]) == ("FAILED", "States.Runtime")


# --- TimeoutSeconds -------------------------------------------------------------------------


def test_execution_timeout_times_out_with_states_timeout(account: Account) -> None:
    after = account.function("after", lambda e: e)
    machine = account.machine(
        "slow-machine",
        {
            "StartAt": "W",
            "TimeoutSeconds": 1,
            "States": {
                "W": {"Type": "Wait", "Seconds": 30, "Next": "After"},
                "After": then_after(after),
            },
        },
    )
    arn = account.start(machine)
    desc = account.finished(arn)
    assert desc["status"] == "TIMED_OUT"
    assert desc["stopDate"] > desc["startDate"]
    assert "error" not in desc and "cause" not in desc  # States.Timeout is in the history
    listed = account.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert listed[0]["stopDate"] == desc["stopDate"]
    history = account.history(arn)
    assert history[-1]["type"] == "ExecutionTimedOut"
    assert history[-1]["executionTimedOutEventDetails"] == {"error": "States.Timeout"}
    assert account.calls["after"] == []


# --- EventBridge ------------------------------------------------------------------------------


def test_status_changes_reach_an_eventbridge_rule(account: Account) -> None:
    recovery = account.queue(
        "recovery",
        {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"]},
        },
    )
    everything = account.queue("everything", {"source": ["aws.states"]})
    ok = account.machine("ok", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    boom = account.machine(
        "boom", {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "bad"}}}
    )
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    stoppable = account.machine("stoppable", wait)
    slow = account.machine("slow", {**wait, "TimeoutSeconds": 1})

    succeeded = account.start(ok, {"n": 1})
    failed = account.start(boom)
    aborted = account.start(stoppable)
    account.sfn.stop_execution(executionArn=aborted, error="Operator", cause="stop")
    timed_out = account.start(slow)
    for arn in (succeeded, failed, aborted, timed_out):
        account.finished(arn)

    got = {m["detail"]["executionArn"]: m for m in account.messages(recovery, 3)}
    assert {arn: m["detail"]["status"] for arn, m in got.items()} == {
        failed: "FAILED",
        aborted: "ABORTED",
        timed_out: "TIMED_OUT",
    }
    for arn, message in got.items():
        assert message["source"] == "aws.states"
        assert message["detail-type"] == DOCUMENTED_FAILED_EVENT["detail-type"]
        assert message["resources"] == [arn]
        assert set(DOCUMENTED_FAILED_EVENT["detail"]) <= set(message["detail"])
        assert message["detail"]["stopDate"] >= message["detail"]["startDate"]
    assert (got[failed]["detail"]["error"], got[failed]["detail"]["cause"]) == ("Boom", "bad")
    assert got[aborted]["detail"]["error"] == "Operator"

    # RUNNING then SUCCEEDED for the execution that succeeded, with its input and output
    statuses: dict[str, list[dict[str, Any]]] = {}
    for m in account.messages(everything, 8):
        statuses.setdefault(m["detail"]["executionArn"], []).append(m["detail"])
    assert [d["status"] for d in statuses[succeeded]] == ["RUNNING", "SUCCEEDED"]
    assert [d["status"] for d in statuses[aborted]] == ["RUNNING", "ABORTED"]
    running, done = statuses[succeeded]
    assert (running["stopDate"], running["output"]) == (None, None)
    assert json.loads(done["input"]) == json.loads(done["output"]) == {"n": 1}
    assert done["outputDetails"] == {"included": True}
