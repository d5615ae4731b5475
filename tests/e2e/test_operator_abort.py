"""`release-guard release abort` at any time, with the stack's OperatorPolicy: a running
release (not held) is stopped and recovered at once (verified rollback, finish); one
whose execution already ended without a verified end (stopped while it waited for an
operator, its status-change event lost) is recovered directly, where answering its
task token would fail with InvalidToken."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from release_guard_cli import main, operate
from release_guard_cli.emulator.account import HEALTHY

from tests.e2e.support import (
    TEST_POLICY,
    policy,
    recovered,
    register,
    start,
    traffic,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

OPERATOR = "e2e-operator"
SLOW = policy(**{"canary.min_bake_seconds": 4})
HOLD_SOON = policy(**{"canary.on_insufficient_data": "hold", "canary.max_bake_seconds": 2})


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False):
        yield env


def operator_records(env: Any, release_id: str) -> list[dict[str, Any]]:
    return [i for k, i in sorted(env.ledger(release_id).items()) if k.startswith("06#OPERATOR#")]


def test_abort_stops_a_running_release_and_recovers_it_verified(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    with traffic():
        started = start(env, package, SLOW)
        rid = started["release_id"]
        wait_for(lambda: "02#STEP#01#SHIFT" in env.ledger(rid), 90, "the second canary step")
        argv = ["release", "--stack-name", env.fx.stack.name, "abort", rid]
        with env.operator():
            code = main.main([*argv, "--note", "wrong feature flags"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    # Recovery ran synchronously (or the status-change event's run was first): either
    # way the release has its verified end when abort returns.
    assert '"outcome": "aborted"' in printed, printed
    desc = env.sfn.describe_execution(executionArn=started["execution_arn"])
    assert desc["status"] == "ABORTED"
    assert desc["cause"] == f"aborted by {getpass.getuser()}: wrong feature flags"
    ledger = recovered(env, rid, champion, "aborted")
    (rec,) = operator_records(env, rid)
    assert (rec["action"], rec["via"], rec["reason"]) == (
        "abort",
        "stopped the execution",
        "wrong feature flags",
    )
    assert "wrong feature flags" in ledger["META"]["reason"]


def test_abort_recovers_a_release_whose_execution_ended_while_it_was_held(env: Any) -> None:
    champion = env.serving()
    events = boto3.client("events")
    rule = env.fx.stack.resources["RecoverReleaseFunctionExecutionEnded"]
    package, candidate = register(env, HEALTHY)
    started = start(env, package, HOLD_SOON)
    rid = started["release_id"]
    events.disable_rule(Name=rule)  # the status-change event is lost
    try:

        def held() -> bool:
            return env.ledger(rid).get("META", {}).get("status") == "awaiting_operator"

        wait_for(held, 60, f"{rid} to await an operator")
        env.sfn.stop_execution(executionArn=started["execution_arn"], cause="someone")
        assert env.wait(started["execution_arn"])["status"] == "ABORTED"
        # Nothing recovered it: the candidate still has its share, the summary its token.
        assert env.ledger(rid)["META"]["status"] == "awaiting_operator"
        assert env.weights()[candidate] > 0
        with env.operator():
            result, code = operate.abort(env.info, rid, OPERATOR, "clean up after the stop")
    finally:
        events.enable_rule(Name=rule)
    assert code == 0, result
    assert (result["action"], result["outcome"]) == ("recovered", "aborted"), result
    ledger = recovered(env, rid, champion, "aborted")
    assert ledger["META"]["reason"].startswith(f"aborted by {OPERATOR}: clean up after the stop")
    (rec,) = operator_records(env, rid)
    assert rec["via"] == "recovery (execution ended)"


def test_abort_of_a_release_that_already_ended_verified_has_nothing_to_do(env: Any) -> None:
    with env.operator():
        listing = operate.releases(env.info)
    done = next(r for r in listing["releases"] if r["status"] == "aborted")
    with env.operator():
        result, code = operate.abort(env.info, done["release_id"], OPERATOR, "again")
    assert (code, result["action"]) == (0, "nothing_to_do"), result
