"""StartRelease from the CLI's request (events/start_release/cli-request.json).

Its own account: the release it starts runs in the background and changes the endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT, GROUP, load_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated() as env, env.release_on_approval(False):
        env.account.register_package(GROUP, HEALTHY, approved=True)  # version 2
        yield env


def test_cli_request_starts_a_release(env: Any) -> None:
    event = load_event("start_release", "cli-request")
    inv = env.invoke("StartReleaseFunction", event)
    assert inv.ok, inv.error_message
    assert inv.payload["status"] == "started"
    release_id = inv.payload["release_id"]
    assert re.fullmatch(r"demo-endpoint-v2-[0-9a-f]{12}", release_id), release_id
    [execution] = env.executions()
    assert execution["name"] == release_id
    request = json.loads(
        env.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert request == {
        **event,
        "release_id": release_id,
        "container": None,
        "prompt": None,
        "candidate_variant": None,
        "instance_type": None,
        "instance_count": None,
        "policy": None,
        "policy_uri": None,
        "force": None,
    }
    assert request["endpoint_name"] == ENDPOINT
