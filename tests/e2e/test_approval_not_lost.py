"""A registry approval that StartRelease cannot handle is kept, not dropped.

The approval event reaches StartRelease as an asynchronous invoke. When every attempt
fails (here: the stack was deployed without states:StartExecution), Lambda retries it
twice and then puts its invocation record in FailedEventsQueue, with the event and the
error, where an operator (or `release-guard release redrive`) finds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from release_guard_cli.emulator.account import HEALTHY

from tests.e2e.support import register, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated() as env:
        yield env


def test_an_approval_that_cannot_start_is_kept_with_its_error(env: Any) -> None:
    queue = env.fx.stack.outputs["FailedEventsQueueUrl"]
    sqs = boto3.client("sqs")
    with env.without_statement(env.role_of("StartReleaseFunction"), "StartRelease"):
        package, _ = register(env, HEALTHY, approved=False)
        env.sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
        messages = wait_for(
            lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"),
            60,
            "the approval in FailedEventsQueue",
        )
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["detail"]["ModelPackageArn"] == package
    assert record["requestPayload"]["detail"]["ModelApprovalStatus"] == "Approved"
    assert record["responsePayload"]["errorType"] == "AccessDenied"
    assert "states:StartExecution" in record["responsePayload"]["errorMessage"]
    assert env.executions() == []
