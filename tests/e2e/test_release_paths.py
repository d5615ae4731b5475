"""The release workflow end to end in the emulated account, one path after another on
the same endpoint, with live traffic: promotion, rollback of a faulty candidate, a
failed endpoint update, a handler crash mid-canary, throttling; the lock is released
on every path. The outcome is always read back from DescribeEndpoint and the ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from release_guard.aws import cloudwatch
from release_guard_cli.emulator.account import FAULTY, HEALTHY

from tests.conftest import ENDPOINT
from tests.e2e.support import (
    TEST_POLICY,
    assert_finished,
    assert_only,
    register,
    run,
    shift_order,
    start,
    traffic,
    wait_for,
    why,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

FINISHED: dict[str, str] = {}  # scenario -> release id, for the lock check of (g)


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False), traffic():
        yield env


def test_a_healthy_candidate_approved_in_the_registry_is_promoted(env: Any) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY, approved=False)
    before = {e["executionArn"] for e in env.executions()}
    with env.release_on_approval(True):
        env.sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
        execution = wait_for(
            lambda: next((e for e in env.executions() if e["executionArn"] not in before), None),
            20,
            "the release started by the approval event",
        )
        release_id = execution["name"]
        desc = env.wait(execution["executionArn"])
    # FinishRelease's note on the package sent a metadata-only event: it started nothing.
    new = [e["name"] for e in env.executions() if e["executionArn"] not in before]
    assert new == [release_id]
    assert desc["status"] == "SUCCEEDED", why(env, release_id, desc)

    assert_only(env, candidate)
    ledger = assert_finished(env, release_id, "promoted")
    assert ledger["META"]["champion"] == champion and ledger["META"]["trigger"] == "registry"
    assert shift_order(ledger) == [0, 1, 2, 3]
    assert "04#PROMOTE#SHIFTED" in ledger and "05#PROMOTE#RETIRED" in ledger
    retired = ledger["05#PROMOTE#RETIRED"]["endpoint"]["variants"]
    assert [v["name"] for v in retired] == [candidate]
    package_desc = env.sm.describe_model_package(ModelPackageName=package)
    assert package_desc["CustomerMetadataProperties"]["release-guard:outcome"] == "promoted"
    FINISHED["a"] = release_id


def test_b_a_faulty_candidate_is_rolled_back(env: Any) -> None:
    champion = env.serving()
    package, candidate = register(env, FAULTY)
    release_id, desc = run(env, package)
    assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), why(
        env, release_id, desc
    )

    assert_only(env, champion)
    ledger = assert_finished(env, release_id, "rolled_back")
    verified = ledger["07#ROLLBACK#VERIFIED"]
    assert [v["name"] for v in verified["endpoint"]["variants"]] == [champion]
    judged = [i for k, i in ledger.items() if "#JUDGE#" in k]
    assert judged[-1]["verdict"]["action"] == "rollback"
    assert any(f["outcome"] == "fail" for f in judged[-1]["verdict"]["findings"]), why(
        env, release_id, desc
    )
    assert candidate not in {v["VariantName"] for v in env.describe()["ProductionVariants"]}
    FINISHED["b"] = release_id


def test_c_a_failed_endpoint_update_is_rolled_back(env: Any) -> None:
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    env.account.gaps.faults.fail_next_update[ENDPOINT] = "emulated: CUDA OOM"
    release_id, desc = run(env, package)
    assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), why(
        env, release_id, desc
    )
    assert ENDPOINT not in env.account.gaps.faults.fail_next_update  # the fault was hit

    assert_only(env, champion)
    ledger = assert_finished(env, release_id, "rolled_back")
    assert "emulated: CUDA OOM" in ledger["09#OUTCOME"]["reason"]
    assert "EndpointUpdateFailed" in ledger["07#ROLLBACK#VERIFIED"]["reason"]
    assert shift_order(ledger) == []  # no traffic ever moved
    FINISHED["c"] = release_id


def test_d_a_handler_crash_mid_canary_is_rolled_back_and_verified(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY)
    at_step_1 = threading.Event()
    shift_fn = env.functions["ShiftTrafficFunction"]

    def watch_shifts(fn: str, payload: dict[str, Any], result: Any) -> None:
        if fn == shift_fn and isinstance(result, dict) and result["state"]["step_index"] == 1:
            at_step_1.set()

    real = cloudwatch.variant_series

    def crashing(*args: Any, **kwargs: Any) -> Any:
        if at_step_1.is_set():
            raise RuntimeError("emulated: the judge crashed reading metrics")
        return real(*args, **kwargs)

    # The judge handler looks the adapter function up at call time.
    monkeypatch.setattr(cloudwatch, "variant_series", crashing)
    env.account.gaps.on_invoke.append(watch_shifts)
    try:
        release_id, desc = run(env, package)
    finally:
        env.account.gaps.on_invoke.remove(watch_shifts)
    assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), why(
        env, release_id, desc
    )

    desc = assert_only(env, champion)
    ledger = assert_finished(env, release_id, "rolled_back")
    assert shift_order(ledger) == [0, 1]
    verified = ledger["07#ROLLBACK#VERIFIED"]
    assert verified["reason"].startswith("RuntimeError: emulated: the judge crashed")
    assert verified["endpoint"]["variants"] == [
        {
            "name": champion,
            "current_weight": desc["ProductionVariants"][0]["CurrentWeight"],
            "desired_weight": desc["ProductionVariants"][0]["DesiredWeight"],
            "current_instance_count": 1,
        }
    ]
    assert candidate not in {v["VariantName"] for v in desc["ProductionVariants"]}
    FINISHED["d"] = release_id


def test_g_the_lock_is_released_on_every_path_and_a_new_release_starts(env: Any) -> None:
    assert sorted(FINISHED) == ["a", "b", "c", "d"]
    for scenario, release_id in FINISHED.items():
        meta = env.ledger(release_id)["META"]
        assert meta["status"] in ("promoted", "rolled_back"), (scenario, meta)
    assert env.lock() is None

    # The next release takes the lock (its summary is written only once it holds it),
    # ends (quickly: its endpoint update fails) and frees the lock again.
    champion = env.serving()
    package, _ = register(env, HEALTHY)
    env.account.gaps.faults.fail_next_update[ENDPOINT] = "emulated: image pull failed"
    started = start(env, package)
    desc = env.wait(started["execution_arn"])
    assert (desc["status"], desc.get("error")) == ("FAILED", "RolledBack"), why(
        env, started["release_id"], desc
    )
    ledger = assert_finished(env, started["release_id"], "rolled_back")
    assert ledger["META"]["execution_arn"] == started["execution_arn"]
    assert_only(env, champion)


def test_i_a_throttled_weight_update_is_retried_and_the_release_promoted(env: Any) -> None:
    package, candidate = register(env, HEALTHY)
    env.account.gaps.faults.throttle["UpdateEndpointWeightsAndCapacities"] = 2
    release_id, desc = run(env, package)
    assert desc["status"] == "SUCCEEDED", why(env, release_id, desc)
    assert env.account.gaps.faults.throttle["UpdateEndpointWeightsAndCapacities"] == 0

    assert_only(env, candidate)
    ledger = assert_finished(env, release_id, "promoted")
    assert shift_order(ledger) == [0, 1, 2, 3]
