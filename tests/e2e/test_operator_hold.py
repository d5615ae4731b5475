"""Operator hold: a candidate the judge cannot judge (no traffic reaches it) waits in
Await Operator; abort rolls it back (verified), approve lets it proceed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from release_guard_cli import ops
from release_guard_cli.emulator.account import HEALTHY

from tests.e2e.support import (
    TEST_POLICY,
    assert_finished,
    assert_only,
    policy,
    register,
    shift_order,
    start,
    traffic,
    wait_for,
    why,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

# Without traffic a step has no evidence by max_bake and holds; the approved run's later
# steps (with traffic) need a few seconds to gather theirs.
HOLD_SOON = policy(**{"canary.on_insufficient_data": "hold", "canary.max_bake_seconds": 2})
HOLD = policy(**{"canary.on_insufficient_data": "hold", "canary.max_bake_seconds": 8})


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with (
        emulated(policy=TEST_POLICY) as env,
        env.release_on_approval(False),
    ):  # no traffic: nothing reaches a candidate
        yield env


def await_operator(env: Any, started: dict[str, Any]) -> dict[str, Any]:
    """Wait until the execution waits for a decision; return the ledger summary."""
    release_id = started["release_id"]

    def held() -> dict[str, Any] | None:
        meta = env.ledger(release_id).get("META")
        return meta if meta and meta.get("status") == "awaiting_operator" else None

    meta = wait_for(held, 30, f"{release_id} to await an operator")
    history = env.sfn.get_execution_history(executionArn=started["execution_arn"])["events"]
    entered = [e for e in history if e["type"].endswith("StateEntered")][-1]
    assert entered["stateEnteredEventDetails"]["name"] == "Await Operator"
    assert env.sfn.describe_execution(executionArn=started["execution_arn"])["status"] == (
        "RUNNING"
    )
    assert meta["task_token"]
    return dict(meta)


def test_h_abort_rolls_the_held_candidate_back(env: Any) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY)
    started = start(env, package, HOLD_SOON)
    meta = await_operator(env, started)
    assert "not enough evidence" in meta["hold_reason"]
    # While it waits, the candidate is still on the endpoint with its first step's share.
    assert env.weights() == {champion: 95.0, candidate: 5.0}

    with env.operator():
        ops.decide(env.info, started["release_id"], "abort", "e2e-operator", "nothing to judge")
    desc = env.wait(started["execution_arn"])
    assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), why(
        env, started["release_id"], desc
    )
    assert_only(env, champion)
    ledger = assert_finished(env, started["release_id"], "rolled_back")
    assert ledger["07#ROLLBACK#VERIFIED"]["reason"] == "aborted by e2e-operator: nothing to judge"
    assert [k for k in ledger if k.startswith("03#HOLD#")]


def test_h_approve_lets_the_held_candidate_proceed(env: Any) -> None:
    package, candidate = register(env, HEALTHY)
    started = start(env, package, HOLD)
    await_operator(env, started)
    with traffic():
        with env.operator():
            ops.decide(env.info, started["release_id"], "approve", "e2e-operator", "go on")
        desc = env.wait(started["execution_arn"])
    assert desc["status"] == "SUCCEEDED", why(env, started["release_id"], desc)
    assert_only(env, candidate)
    ledger = assert_finished(env, started["release_id"], "promoted")
    # Approving a hold at the first step continues the canary at the next step.
    assert shift_order(ledger) == [0, 1, 2, 3]
