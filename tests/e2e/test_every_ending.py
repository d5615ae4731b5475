"""Every ending is safe: an execution stopped at any point still ends on the champion
alone, verified, with the lock free and the ledger's outcome present. Step Functions'
status-change event starts Recover Release, which runs the workflow's own verified
rollback and finish (canary/recover.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from release_guard_cli.emulator.account import HEALTHY

from tests.e2e.support import (
    TEST_POLICY,
    policy,
    recovered,
    register,
    start,
    stop_when,
    traffic,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

# Each step bakes a few seconds before it may advance: room to stop it mid-step.
SLOW = policy(**{"canary.min_bake_seconds": 4, "canary.post_promotion_watch_seconds": 6})


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False), traffic():
        yield env


@pytest.mark.parametrize("step", [0, 1, 2, 3])
def test_a_stop_at_any_canary_step_ends_on_the_champion(env: Any, step: int) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    started = start(env, package, SLOW)
    stop_when(env, started, f"02#STEP#{step:02d}#SHIFT")
    assert env.wait(started["execution_arn"])["status"] == "ABORTED"
    ledger = recovered(env, started["release_id"], champion, "aborted")
    assert "e2e stop" in ledger["META"]["reason"] or "ABORTED" in ledger["META"]["reason"]
