"""Recovery under faults: every way a release's execution can end outside the workflow's
own Catch (stopped in any phase, timed out, a state too large, the history quota, Finish
Release failing, a rollback that cannot be verified at first, an approval arriving while
locked, duplicate and late status-change events) still ends on the champion alone,
verified, with the lock free and the ledger's outcome present (canary/recover.py)."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.stepfunctions.parser import models as parser_models
from release_guard.canary.release import VERIFIED_ENDS
from release_guard_cli.emulator import lambda_gaps, scheduler, sfn_gaps
from release_guard_cli.emulator.account import FAULTY, HEALTHY

from tests.conftest import ENDPOINT
from tests.e2e.support import (
    TEST_POLICY,
    assert_only,
    policy,
    recovered,
    register,
    start,
    stop_when,
    traffic,
    wait_for,
    why,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]


# Each step bakes a few seconds before it may advance: room to stop it mid-step.
SLOW = policy(**{"canary.min_bake_seconds": 4, "canary.post_promotion_watch_seconds": 6})
# A long post-promotion watch: room to stop it after the candidate took all traffic.
LONG_WATCH = policy(**{"canary.post_promotion_watch_seconds": 30})
# Traffic flows, but no step ever has the sample a rule needs: the judge holds for an
# operator once max_bake has passed (Await Operator, a .waitForTaskToken task).
_STRICT = [dict(rule, min_sample=10**9) for rule in policy()["canary"]["metrics"]]
HOLD = policy(
    **{
        "canary.on_insufficient_data": "hold",
        "canary.max_bake_seconds": 2,
        "canary.metrics": _STRICT,
    }
)


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False), traffic():
        yield env


# --- helpers -------------------------------------------------------------------------------


@contextmanager
def invocations(env: Any, function: str) -> Iterator[list[tuple[dict[str, Any], Any]]]:
    """(event, result or error) of each invocation of one function, while the block runs."""
    name = env.functions[function]
    seen: list[tuple[dict[str, Any], Any]] = []

    def hook(fn_name: str, payload: dict[str, Any], outcome: Any) -> None:
        if fn_name == name:
            seen.append((payload, outcome))

    env.account.gaps.on_invoke.append(hook)
    try:
        yield seen
    finally:
        env.account.gaps.on_invoke.remove(hook)


def awaiting_operator(env: Any, release_id: str) -> dict[str, Any]:
    def held() -> dict[str, Any] | None:
        meta = env.ledger(release_id).get("META")
        return meta if meta and meta.get("status") == "awaiting_operator" else None

    return dict(wait_for(held, 120, f"{release_id} to await an operator", poll=0.2))


def stop(env: Any, started: dict[str, Any], cause: str = "e2e stop") -> dict[str, Any]:
    with env.operator():
        env.sfn.stop_execution(executionArn=started["execution_arn"], cause=cause)
    return env.wait(started["execution_arn"])


def status_change_event(env: Any, execution_arn: str) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" entry Step Functions put for the
    execution's end, with the detail the emulator builds (sfn_gaps.status_change_detail)."""
    parts = execution_arn.split(":")
    backend = parser_models.stepfunctions_parser_backends[parts[4]][parts[3]]
    detail = sfn_gaps.status_change_detail(backend.describe_execution(execution_arn))
    assert detail["status"] != "RUNNING", detail
    return {
        "Source": "aws.states",
        "DetailType": sfn_gaps.DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [execution_arn],
        "EventBusName": "default",
    }


def put_and_handled(
    env: Any, entry: dict[str, Any], seen: list[tuple[dict[str, Any], Any]]
) -> dict[str, Any]:
    """Put the event on the default bus; wait for Recover Release to have handled it."""
    arn = entry["Resources"][0]
    before = len(seen)
    resp = boto3.client("events").put_events(Entries=[entry])
    assert resp["FailedEntryCount"] == 0, resp

    def handled() -> Any:
        for payload, outcome in seen[before:]:
            if (payload.get("detail") or {}).get("executionArn") == arn:
                return outcome if isinstance(outcome, dict) else {"error": repr(outcome)}
        return None

    return dict(wait_for(handled, 120, f"Recover Release to handle the event of {arn}", 0.2))


def new_entries(env: Any, release_id: str, before: dict[str, Any]) -> dict[str, Any]:
    after = env.ledger(release_id)
    return {k: v for k, v in after.items() if before.get(k) != v}


# --- 1-4: stopped in each phase --------------------------------------------------------------


def test_a_stop_while_the_candidate_deploys_ends_on_the_champion(env: Any) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    started = start(env, package, SLOW)
    stop_when(env, started, "01#DEPLOY")
    assert env.wait(started["execution_arn"])["status"] == "ABORTED"
    recovered(env, started["release_id"], champion, "aborted")


def test_a_stop_while_awaiting_an_operator_ends_on_the_champion(env: Any) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    started = start(env, package, HOLD)
    meta = awaiting_operator(env, started["release_id"])
    assert meta["task_token"], meta
    desc = stop(env, started)
    assert desc["status"] == "ABORTED", desc
    ledger = recovered(env, started["release_id"], champion, "aborted")
    assert ledger["META"].get("task_token") is None, ledger["META"]


def test_a_stop_in_the_post_promotion_watch_restores_the_champion(env: Any) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY)
    started = start(env, package, LONG_WATCH)
    stop_when(env, started, "04#PROMOTE#SHIFTED")
    assert env.wait(started["execution_arn"])["status"] == "ABORTED"
    ledger = recovered(env, started["release_id"], champion, "aborted")
    assert champion != candidate
    assert "05#PROMOTE#RETIRED" not in ledger, why(env, started["release_id"])


def test_a_stop_during_the_rollback_still_ends_verified(env: Any) -> None:
    champion = env.serving()
    package, _ = register(env, FAULTY)
    started = start(env, package)
    stop_when(env, started, "07#ROLLBACK#START")
    desc = env.wait(started["execution_arn"])
    # The workflow's own rollback may have finished just before the stop arrived (then
    # the stop changes nothing): either way the release ends verified on the champion.
    expected = "aborted" if desc["status"] == "ABORTED" else "rolled_back"
    if desc["status"] != "ABORTED":
        assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), desc
    recovered(env, started["release_id"], champion, expected)


# --- 5: the execution's TimeoutSeconds ----------------------------------------------------


def test_an_execution_timeout_is_recovered_as_timed_out(env: Any) -> None:
    champion = env.serving()
    machine = env.info.state_machine_arn
    original = env.sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    # Long enough to take the lock on a loaded machine; the release then waits for an
    # operator (HOLD), so it cannot end before the timeout however fast the machine is.
    short = {**json.loads(original), "TimeoutSeconds": 20}
    env.sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(short))
    try:
        package, _ = register(env, HEALTHY)
        started = start(env, package, HOLD)
        desc = env.wait(started["execution_arn"])
    finally:
        env.sfn.update_state_machine(stateMachineArn=machine, definition=original)
    assert desc["status"] == "TIMED_OUT", why(env, started["release_id"], desc)
    recovered(env, started["release_id"], champion, "timed_out")


# --- 6: a state over 256 KiB --------------------------------------------------------------


def test_an_oversized_task_result_fails_the_execution_and_is_recovered(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = env.serving()
    g = lambda_gaps.gaps()
    name = env.functions["JudgeCanaryFunction"]
    real = lambda_gaps._load(g, name, g.functions[name])  # the emulator's cached module

    def oversized(event: dict[str, Any], context: Any) -> Any:
        result = real.handler(event, context)
        if isinstance(result, dict):
            result = {**result, "padding": "x" * (sfn_gaps.PAYLOAD_LIMIT + 1024)}
        return result

    monkeypatch.setitem(g._modules, name, types.SimpleNamespace(handler=oversized))
    package, _ = register(env, HEALTHY)
    started = start(env, package, SLOW)
    desc = env.wait(started["execution_arn"])
    monkeypatch.setitem(g._modules, name, real)
    assert (desc["status"], desc.get("error")) == ("FAILED", "States.DataLimitExceeded"), why(
        env, started["release_id"], desc
    )
    ledger = recovered(env, started["release_id"], champion, "failed")
    assert ledger["10#RECOVERED"]["execution_status"] == "FAILED"


# --- 7: the history quota --------------------------------------------------------------------


def test_the_history_limit_mid_canary_is_recovered(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = env.serving()
    # A quota small enough to be reached while the canary runs (AWS: 25,000 events).
    monkeypatch.setattr(sfn_gaps, "HISTORY_LIMIT", 150)
    package, _ = register(env, HEALTHY)
    started = start(env, package, SLOW)
    desc = env.wait(started["execution_arn"])
    monkeypatch.setattr(sfn_gaps, "HISTORY_LIMIT", 25_000)
    assert (desc["status"], desc.get("error")) == ("FAILED", "States.Runtime"), why(
        env, started["release_id"], desc
    )
    assert "maximum number of history events" in desc.get("cause", ""), desc
    ledger = recovered(env, started["release_id"], champion, "failed")
    assert "01#DEPLOY" in ledger, why(env, started["release_id"])


def test_a_policy_beyond_the_history_limit_is_refused_before_anything_changes(
    env: Any,
) -> None:
    before = env.settled()
    package, _ = register(env, HEALTHY)
    greedy = policy(
        **{
            "canary.max_looks_per_step": 2000,
            "canary.max_bake_seconds": 86400,
            "canary.check_interval_seconds": 1,
        }
    )
    executions = len(env.executions())
    inv = env.invoke(
        "StartReleaseFunction",
        {
            "endpoint_name": ENDPOINT,
            "model_package_arn": package,
            "trigger": "cli",
            "requested_by": "e2e",
            "policy": greedy,
        },
    )
    assert inv.error_type == "InvalidReleaseRequest", (inv.error_type, inv.payload)
    assert "max_looks_per_step" in str(inv.error_message), inv.error_message
    assert len(env.executions()) == executions
    assert env.lock() is None
    after = env.settled()
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert after["ProductionVariants"] == before["ProductionVariants"]


# --- 8: Finish Release never succeeds ------------------------------------------------------


def test_finish_failing_every_attempt_is_finished_by_recovery(env: Any) -> None:
    champion = env.serving()
    with env.without_statement(env.role_of("FinishReleaseFunction"), "LedgerAndLock"):
        package, _ = register(env, FAULTY)
        started = start(env, package)
        desc = env.wait(started["execution_arn"])
        assert desc["status"] == "FAILED", why(env, started["release_id"], desc)
        ledger = recovered(env, started["release_id"], champion, "rolled_back")
    assert ledger["10#RECOVERED"]["outcome"] == "rolled_back"
    assert ledger["09#OUTCOME"]["outcome"] == "rolled_back"


# --- 9: a rollback that cannot be verified at first ----------------------------------------


def reconcile_schedule(env: Any) -> dict[str, Any]:
    [schedule] = [s for s in env.fx.stack.schedules.values() if s["input"] == {"reconcile": True}]
    assert schedule["function"] == env.functions["RecoverReleaseFunction"], schedule
    return dict(schedule)


def test_an_unverified_rollback_is_retried_until_verified(env: Any) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    started = start(env, package, SLOW)
    release_id, arn = started["release_id"], started["execution_arn"]
    wait_for(lambda: "02#STEP#01#SHIFT" in env.ledger(release_id), 60, "step 1")
    with (
        invocations(env, "RecoverReleaseFunction") as seen,
        env.without_statement(env.role_of("RecoverReleaseFunction"), "EndpointWrite"),
    ):
        assert stop(env, started)["status"] == "ABORTED"

        def attempts_over() -> list[Any] | None:
            """The status-change event's invocations, once one answered or Lambda's
            async attempts (1 + MaximumRetryAttempts 2) are spent."""
            mine = [o for p, o in seen if (p.get("detail") or {}).get("executionArn") == arn]
            answered = [o for o in mine if isinstance(o, dict)]
            return mine if answered or len(mine) >= 3 else None

        outcomes = wait_for(attempts_over, 120, "the first recovery's attempts", 0.3)
        first = dict(env.ledger(release_id).get("META") or {})
        assert "10#RECOVERED" not in env.ledger(release_id)
        lock = env.lock()
        assert lock is not None, "the lock must stay held while the rollback is unverified"
        # A new release is refused while the endpoint is not back on the champion.
        other, _ = register(env, HEALTHY)
        inv = env.invoke(
            "StartReleaseFunction",
            {
                "endpoint_name": ENDPOINT,
                "model_package_arn": other,
                "trigger": "cli",
                "requested_by": "e2e",
            },
        )
        assert inv.error_type == "ReleaseLocked", (inv.error_type, inv.payload)
    # The backoff (1 min) is real time: the test moves next_attempt_at into the past
    # with the admin DynamoDB client instead of waiting a minute.
    env.ddb.update_item(
        TableName=env.info.table,
        Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET next_attempt_at = :t",
        ExpressionAttributeValues={
            ":t": {"S": (datetime.now(UTC) - timedelta(seconds=5)).isoformat()}
        },
    )
    result = scheduler.fire(reconcile_schedule(env))  # the schedule's event, synchronously
    assert release_id in json.dumps(result), result
    ledger = recovered(env, release_id, champion, "aborted")
    # The first recovery could not verify its rollback: it must say so (status,
    # attempt count, when to retry) rather than fail with the release left "recovering".
    summary = {k: first.get(k) for k in ("status", "recovery_attempts", "next_attempt_at")}
    errors = [repr(o)[:300] for o in outcomes]
    assert first.get("status") == "rollback_unverified", (summary, errors)
    assert int(first["recovery_attempts"]) >= 1 and first.get("next_attempt_at"), summary
    assert int(ledger["META"]["recovery_attempts"]) >= 1


# --- 10: an approval arriving while the endpoint is locked ---------------------------------


def test_an_approval_while_locked_waits_and_starts_when_the_lock_frees(env: Any) -> None:
    champion = env.serving()
    first_package, _ = register(env, HEALTHY)  # approved while the rule is disabled
    first = start(env, first_package, HOLD)  # holds in Await Operator: the lock stays held
    awaiting_operator(env, first["release_id"])
    with (
        invocations(env, "StartReleaseFunction") as starts,
        env.release_on_approval(True),
    ):
        second_package, second_candidate = register(env, HEALTHY)  # the registry's event

        def answered() -> dict[str, Any] | None:
            for payload, outcome in starts:
                if (payload.get("detail") or {}).get("ModelPackageArn") == second_package:
                    return outcome if isinstance(outcome, dict) else {"error": repr(outcome)}
            return None

        result = wait_for(answered, 120, "StartRelease to answer the approval", 0.2)
        assert result.get("status") == "pending", result
        pending = env._items(f"PENDING#{ENDPOINT}")
        assert [p["model_package_arn"] for p in pending] == [second_package], pending
        second_id = str(pending[0]["release_id"])
        assert result.get("release_id") == second_id, result
        assert env.sfn.describe_execution(executionArn=first["execution_arn"])["status"] == (
            "RUNNING"
        )
        assert stop(env, first)["status"] == "ABORTED"
        recovered(env, first["release_id"], champion, "aborted")

        def second_started() -> dict[str, Any] | None:
            meta = env.ledger(second_id).get("META") or {}
            return meta if meta.get("execution_arn") else None

        meta = wait_for(second_started, 120, f"the pending release {second_id} to start", 0.3)
    second = env.wait(str(meta["execution_arn"]), timeout=180)
    final = wait_for(
        lambda: (
            (env.ledger(second_id).get("META") or {}).get("status") in VERIFIED_ENDS
            and env.ledger(second_id)["META"]
        ),
        120,
        f"{second_id} to end verified",
        0.3,
    )
    assert final["status"] == "promoted", why(env, second_id, second)
    assert_only(env, second_candidate)
    assert env.lock() is None, env.lock()
    assert env._items(f"PENDING#{ENDPOINT}") == []


# --- 11: duplicate and late status-change events -------------------------------------------


def test_duplicate_and_late_status_events_change_nothing(env: Any) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    old = start(env, package, SLOW)
    with invocations(env, "RecoverReleaseFunction") as seen:
        stop_when(env, old, "02#STEP#00#SHIFT")
        assert env.wait(old["execution_arn"])["status"] == "ABORTED"
        recovered(env, old["release_id"], champion, "aborted")

        # The original event's invocation has returned (its finish may still be
        # running when the ledger already shows the outcome).
        def original() -> Any:
            return [
                o
                for p, o in seen
                if (p.get("detail") or {}).get("executionArn") == old["execution_arn"]
            ]

        first = wait_for(original, 120, "the original event's recovery to return", 0.2)
        assert [o.get("action") for o in first if isinstance(o, dict)] == ["recovered"], first
        settled = env.ledger(old["release_id"])
        entry = status_change_event(env, old["execution_arn"])

        # A duplicate, right away.
        result = put_and_handled(env, entry, seen)
        assert result.get("action") == "nothing_to_do", result
        assert new_entries(env, old["release_id"], settled) == {}
        assert env.lock() is None

        # A late one, while a new release runs on the endpoint (held: stable weights).
        new_package, candidate = register(env, HEALTHY)
        new = start(env, new_package, HOLD)
        awaiting_operator(env, new["release_id"])
        weights = env.weights()
        assert weights.get(candidate, 0) > 0, weights
        lock = env.lock()
        new_ledger = env.ledger(new["release_id"])
        result = put_and_handled(env, entry, seen)
        assert result.get("action") == "nothing_to_do", result
        assert result.get("started_pending") == [], result
        assert env.sfn.describe_execution(executionArn=new["execution_arn"])["status"] == (
            "RUNNING"
        )
        assert env.weights() == weights
        assert env.lock() == lock
        assert env.ledger(new["release_id"]) == new_ledger
        assert new_entries(env, old["release_id"], settled) == {}
        assert env.ledger(old["release_id"])["10#RECOVERED"] == settled["10#RECOVERED"]

    assert stop(env, new)["status"] == "ABORTED"
    recovered(env, new["release_id"], champion, "aborted")
