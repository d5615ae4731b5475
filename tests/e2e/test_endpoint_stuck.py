"""An endpoint stuck in Updating: the deploy times out (EndpointTimeout) and the
rollback waits, unverified, until the endpoint settles; then it verifies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from release_guard_cli.emulator import sagemaker_gaps
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT
from tests.e2e.support import (
    TEST_POLICY,
    assert_finished,
    assert_only,
    policy,
    register,
    start,
    wait_for,
    why,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False):
        yield env


def finish_stuck_update(env: Any, config_name: str) -> None:
    """What a real endpoint does eventually: the update in progress completes, with
    the config it was given, and the endpoint is InService again."""
    endpoint = env.account.gaps.backend().endpoints[ENDPOINT]
    config = env.account.gaps.backend().endpoint_configs[config_name]
    assert endpoint.endpoint_status == "Updating"
    endpoint.production_variants = sagemaker_gaps._variants(config.production_variants)
    endpoint.endpoint_config_name = config_name
    endpoint.data_capture_config = config.data_capture_config
    endpoint.endpoint_status = "InService"


def test_j_stuck_endpoint_times_out_and_rolls_back_once_it_settles(env: Any) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY)
    env.account.gaps.faults.stuck.add(ENDPOINT)
    started = start(env, package, policy(**{"deployment.in_service_timeout_seconds": 3}))
    release_id = started["release_id"]

    rollback = wait_for(
        lambda: env.ledger(release_id).get("07#ROLLBACK#START"), 30, "the rollback to begin"
    )
    assert rollback["reason"].startswith("EndpointTimeout: endpoint still Updating")

    # Stuck: the rollback keeps polling and never claims success.
    time.sleep(3)
    assert env.sfn.describe_execution(executionArn=started["execution_arn"])["status"] == (
        "RUNNING"
    )
    assert "07#ROLLBACK#VERIFIED" not in env.ledger(release_id)
    assert env.describe()["EndpointStatus"] == "Updating"
    assert env.lock()["owner"] == release_id

    env.account.gaps.faults.stuck.discard(ENDPOINT)
    deploy = env.ledger(release_id)["01#DEPLOY"]["result"]
    finish_stuck_update(env, deploy["endpoint_config_name"])
    assert candidate in env.weights()  # the late update brought the candidate in

    desc = env.wait(started["execution_arn"], 60)
    assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), why(
        env, release_id, desc
    )
    assert_only(env, champion)
    ledger = assert_finished(env, release_id, "rolled_back")
    verified = ledger["07#ROLLBACK#VERIFIED"]
    assert verified["attempts"] > 3  # it waited through the stuck polls
    assert [v["name"] for v in verified["endpoint"]["variants"]] == [champion]
