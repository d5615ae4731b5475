"""Release A on the endpoint while (e) a second release B tries to start and (f) each
of A's canary steps is delivered twice; end to end with traffic.

(e) and (f) share A's run: test_f checks what the run of test_e recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from release_guard.canary import plan
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT
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

RUN_A: dict[str, Any] = {}  # what A's run recorded, for (f)


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False), traffic():
        yield env


def _endpoint_facts(env: Any) -> tuple[str, list[tuple[str, float]]]:
    desc = env.describe()
    return desc["EndpointConfigName"], [
        (v["VariantName"], v["CurrentWeight"]) for v in desc["ProductionVariants"]
    ]


class DeliverTwice:
    """An on_invoke hook: right after each Shift Canary Traffic of the running execution,
    the same input once more through the Lambda API, before the execution moves on (an
    at-least-once redelivery). It is retried on EndpointBusy as the ASL's Retry would."""

    def __init__(self, env: Any) -> None:
        self.function = env.functions["ShiftTrafficFunction"]
        self.lam = env.lam  # made on the test's thread; used from the workflow's thread
        self.calls: list[tuple[dict[str, Any], Any, dict[str, Any]]] = []
        self.nested = False

    def __call__(self, fn: str, payload: dict[str, Any], result: Any) -> None:
        if fn != self.function or self.nested or not isinstance(result, dict):
            return
        self.nested = True
        try:
            for _ in range(20):
                resp = self.lam.invoke(FunctionName=fn, Payload=json.dumps(payload))
                again = json.loads(resp["Payload"].read())
                self.calls.append((payload, result, again))
                if not resp.get("FunctionError"):
                    return
                time.sleep(0.2)  # the weight update is still in flight: retry (1 s in AWS)
        finally:
            self.nested = False


def test_e_a_second_release_on_the_same_endpoint_is_refused(env: Any) -> None:
    champion = env.serving()
    package_a, candidate_a = register(env, HEALTHY)
    package_b, candidate_b = register(env, HEALTHY)
    twice = DeliverTwice(env)
    env.account.gaps.on_invoke.append(twice)
    try:
        # A polls the endpoint slowly after its deploy: for a few seconds the endpoint is
        # InService with A's candidate at weight 0, so B passes StartRelease's validation
        # (one variant takes all traffic) and meets the lock.
        a = start(env, package_a, policy(**{"deployment.poll_seconds": 4}))

        def deployed_not_shifted() -> bool:
            lock = env.lock()
            desc = env.describe()
            weights = {v["VariantName"]: v["CurrentWeight"] for v in desc["ProductionVariants"]}
            return bool(
                lock
                and lock["owner"] == a["release_id"]
                and desc["EndpointStatus"] == "InService"
                and weights.get(candidate_a) == 0.0
            )

        wait_for(deployed_not_shifted, 20, "A to hold the lock with its candidate at weight 0")
        request_b = {"endpoint_name": ENDPOINT, "model_package_arn": package_b, "trigger": "cli"}
        early = env.invoke("StartReleaseFunction", request_b)
        assert early.error_type == "ReleaseLocked", early.payload
        assert a["release_id"] in early.error_message
        # The state machine holds the lock too: an execution started directly meets it.
        b_id = "direct-start-b"
        b_arn = env.sfn.start_execution(
            stateMachineArn=env.info.state_machine_arn,
            name=b_id,
            input=json.dumps({**request_b, "release_id": b_id}),
        )["executionArn"]
        b = {"release_id": b_id, "execution_arn": b_arn}
        b_desc = env.wait(b_arn, 30)
        assert (b_desc["status"], b_desc.get("error")) == ("FAILED", "ReleaseLocked"), b_desc
        assert a["release_id"] in b_desc.get("cause", "")
        assert env.lock()["owner"] == a["release_id"]

        # Once A's canary has split the traffic, another request is still refused by
        # name before it starts anything.
        wait_for(lambda: env.weights().get(candidate_a) == 5.0, 30, "A's first canary step")
        facts = _endpoint_facts(env)
        executions = {e["executionArn"] for e in env.executions()}
        refused = env.invoke(
            "StartReleaseFunction",
            {"endpoint_name": ENDPOINT, "model_package_arn": package_b, "trigger": "cli"},
        )
        assert refused.error_type == "ReleaseLocked", refused.payload
        assert a["release_id"] in refused.error_message
        assert {e["executionArn"] for e in env.executions()} == executions
        assert _endpoint_facts(env) == facts

        a_desc = env.wait(a["execution_arn"])
    finally:
        env.account.gaps.on_invoke.remove(twice)
    assert a_desc["status"] == "SUCCEEDED", why(env, a["release_id"], a_desc)
    assert_only(env, candidate_a)
    ledger_a = assert_finished(env, a["release_id"], "promoted")
    assert ledger_a["META"]["champion"] == champion
    # B changed nothing: no ledger entry, no model, no endpoint config.
    assert env.ledger(b["release_id"]) == {}
    b_model = plan.candidate_model_name(ENDPOINT, candidate_b, b["release_id"])
    assert b_model not in {m["ModelName"] for m in env.sm.list_models()["Models"]}
    b_config = plan.candidate_config_name(ENDPOINT, b["release_id"], "canary")
    configs = {c["EndpointConfigName"] for c in env.sm.list_endpoint_configs()["EndpointConfigs"]}
    assert b_config not in configs
    RUN_A.update(ledger=ledger_a, deliveries=twice.calls)


def test_f_a_step_delivered_twice_does_not_double_advance(env: Any) -> None:
    assert RUN_A, "needs A's run from test_e"
    deliveries = RUN_A["deliveries"]
    # Each redelivery either meets the weight update still in flight (EndpointBusy, an
    # error the ASL retries) or, once it is applied, returns the first delivery's state:
    # same step, same bake start, no second weight change.
    busy = [again for _, _, again in deliveries if "state" not in again]
    assert all(b["errorType"] == "EndpointBusy" for b in busy), busy
    answered = [(p, first, again) for p, first, again in deliveries if "state" in again]
    assert [p["step"]["index"] for p, _, _ in answered] == [0, 1, 2, 3]
    for _payload, first, again in answered:
        assert again == first

    ledger = RUN_A["ledger"]
    shift_keys = sorted(k for k in ledger if k.endswith("#SHIFT"))
    assert shift_keys == [f"02#STEP#{i:02d}#SHIFT" for i in range(4)]
    assert shift_order(ledger) == [0, 1, 2, 3]
    judged = sorted((i for k, i in ledger.items() if "#JUDGE#" in k), key=lambda i: str(i["at"]))
    steps = [int(i["verdict"]["step_index"]) for i in judged]
    assert steps == sorted(steps) and set(steps) == {0, 1, 2, 3}
