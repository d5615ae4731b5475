"""Release operations over plain boto3: the same code drives real AWS and the emulator."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import boto3
from release_guard.aws import ledger, workflow
from release_guard.events import ApprovalDecision


@dataclass(frozen=True)
class StackInfo:
    state_machine_arn: str
    table: str
    start_function: str
    bucket: str | None = None
    topic_arn: str | None = None
    recover_function: str | None = None
    endpoint_name: str | None = None
    failed_events_queue_url: str | None = None


def stack_info(stack_name: str) -> StackInfo:
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    try:
        return StackInfo(
            state_machine_arn=outputs["StateMachineArn"],
            table=outputs["LedgerTableName"],
            start_function=outputs["StartReleaseFunctionName"],
            bucket=outputs.get("BucketName"),
            topic_arn=outputs.get("TopicArn"),
            recover_function=outputs.get("RecoverReleaseFunctionName"),
            # A stack from before the EndpointName output has it as a parameter.
            endpoint_name=outputs.get("EndpointName") or params.get("EndpointName"),
            failed_events_queue_url=outputs.get("FailedEventsQueueUrl"),
        )
    except KeyError as err:
        raise SystemExit(f"stack {stack_name} has no output {err}; is it release-guard?") from err


def use_table(info: StackInfo) -> None:
    os.environ["LEDGER_TABLE"] = info.table


def start(info: StackInfo, request: dict[str, Any]) -> dict[str, Any]:
    """Invoke the StartRelease function: validation errors come back synchronously."""
    resp = boto3.client("lambda").invoke(
        FunctionName=info.start_function, Payload=json.dumps(request).encode()
    )
    payload = json.loads(resp["Payload"].read() or b"{}")
    if resp.get("FunctionError"):
        raise SystemExit(
            f"release refused: {payload.get('errorType')}: {payload.get('errorMessage')}"
        )
    return dict(payload)


def summary(info: StackInfo, release_id: str) -> dict[str, Any]:
    use_table(info)
    items = ledger.release_items(release_id)
    meta = next((i for i in items if i.get("sk") == "META"), None)
    if meta is None:
        raise SystemExit(f"no release {release_id} in the ledger {info.table}")
    return meta


def events(info: StackInfo, release_id: str) -> list[dict[str, Any]]:
    use_table(info)
    items = [i for i in ledger.release_items(release_id) if i.get("sk") != "META"]
    return sorted(items, key=lambda i: (str(i.get("at", "")), str(i.get("sk"))))


def lock(info: StackInfo, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's release lock, or None when it is free."""
    use_table(info)
    return ledger.lock_holder(endpoint)


def execution(arn: str) -> dict[str, Any]:
    return dict(boto3.client("stepfunctions").describe_execution(executionArn=arn))


def endpoint_state(name: str) -> dict[str, Any]:
    return dict(boto3.client("sagemaker").describe_endpoint(EndpointName=name))


def answer(
    info: StackInfo, release_id: str, token: str, decision: str, operator: str, note: str | None
) -> dict[str, Any]:
    """Answer a hold's task token (approve, promote or abort). A token whose execution
    has ended raises botocore's ClientError (InvalidToken, TaskTimedOut)."""
    body = ApprovalDecision.model_validate(
        {"decision": decision, "operator": operator, "note": note}
    ).model_dump(mode="json")
    workflow.send_decision(token, body)
    use_table(info)
    ledger.update_summary(
        release_id, {"status": "running", "task_token": None, "last_decision": body}
    )
    return body


def decide(
    info: StackInfo, release_id: str, decision: str, operator: str, note: str | None
) -> dict[str, Any]:
    meta = summary(info, release_id)
    token = meta.get("task_token")
    if meta.get("status") != "awaiting_operator" or not token:
        raise SystemExit(
            f"release {release_id} is {meta.get('status')}, not awaiting an operator decision"
        )
    return answer(info, release_id, str(token), decision, operator, note)


def wait(arn: str, timeout: float, poll: float = 0.5, max_poll: float = 5.0) -> dict[str, Any]:
    """The execution once it has ended (or at the deadline). Polls back off from ``poll``
    to ``max_poll`` seconds: a release that bakes for hours (a pipeline's Release stage)
    then costs about 720 DescribeExecution calls an hour, not 7,200."""
    deadline = time.time() + timeout
    while True:
        desc = execution(arn)
        if desc["status"] != "RUNNING" or time.time() > deadline:
            return desc
        time.sleep(min(poll, max(0.0, deadline - time.time())))
        poll = min(max_poll, poll * 1.5)


def executions(info: StackInfo) -> list[dict[str, Any]]:
    """Every execution of the release state machine (newest first), all pages."""
    sfn = boto3.client("stepfunctions")
    out: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=info.state_machine_arn
    ):
        out += page["executions"]
    return out
