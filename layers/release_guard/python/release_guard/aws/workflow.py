"""Step Functions, SNS and S3 calls of the release."""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError

from release_guard.aws.clients import client, code, raise_transient


def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any]) -> str | None:
    """Start; None when an execution of that name already exists (a duplicate)."""
    try:
        resp = client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, default=str)
        )
    except ClientError as err:
        if code(err) == "ExecutionAlreadyExists":
            return None
        raise_transient(err)
        raise
    return str(resp["executionArn"])


def execution_arn(state_machine_arn: str, name: str) -> str:
    # arn:aws:states:region:acct:stateMachine:Name -> ...:execution:Name:exec
    prefix, machine = state_machine_arn.split(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def execution_status(arn: str) -> str | None:
    try:
        return str(client("stepfunctions").describe_execution(executionArn=arn)["status"])
    except ClientError as err:
        if code(err) == "ExecutionDoesNotExist":
            return None
        raise_transient(err)
        raise


def invoke_async(function_name: str, payload: dict[str, Any]) -> None:
    """An asynchronous invoke (Event): Lambda retries it, then the function's on-failure
    destination keeps it (FailedEventsQueue)."""
    try:
        client("lambda").invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(payload, default=str).encode(),
        )
    except ClientError as err:
        raise_transient(err)
        raise


def send_decision(token: str, decision: dict[str, Any]) -> None:
    client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(decision))


def notify(subject: str, body: dict[str, Any]) -> None:
    topic = os.environ.get("TOPIC_ARN")
    if not topic:
        return
    try:
        client("sns").publish(
            TopicArn=topic, Subject=subject[:100], Message=json.dumps(body, default=str, indent=1)
        )
    except ClientError as err:
        raise_transient(err)
        raise


def read_json(uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)
