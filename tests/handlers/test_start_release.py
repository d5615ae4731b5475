"""StartRelease driven by its events/ files: the registry's approval event starts one
release per approval, everything else starts nothing, bad input changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from release_guard.canary import plan
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import START_EVENTS
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT, GROUP, load_event
from tests.handlers.test_events import call_handler

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated() as env, env.release_on_approval(False):
        env.account.register_package(GROUP, HEALTHY, approved=True)  # version 2
        yield env


def endpoint_facts(env: Any) -> tuple[str, str, list[tuple[str, float, float]]]:
    desc = env.describe()
    return (
        desc["EndpointStatus"],
        desc["EndpointConfigName"],
        [
            (v["VariantName"], v["CurrentWeight"], v["DesiredWeight"])
            for v in desc["ProductionVariants"]
        ],
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [("registry-rejected", "status Rejected"), ("other-group", "group fraud-models")],
)
def test_events_that_start_nothing_are_ignored(env: Any, case: str, reason: str) -> None:
    inv = env.invoke("StartReleaseFunction", load_event("start_release", case))
    assert inv.ok, inv.error_message
    assert inv.payload["status"] == "ignored"
    assert reason in inv.payload["reason"]
    assert env.executions() == []


@pytest.mark.parametrize(
    ("case", "field"),
    [("bad-policy", "policy.canary.steps"), ("unknown-endpoint", "endpoint_name")],
)
def test_bad_requests_are_refused_naming_the_field_and_change_nothing(
    env: Any, case: str, field: str
) -> None:
    before = endpoint_facts(env)
    models = env.sm.list_models()["Models"]
    inv = env.invoke("StartReleaseFunction", load_event("start_release", case))
    assert inv.error_type == "InvalidReleaseRequest"
    assert inv.error_message.startswith(f"{field}: expected"), inv.error_message
    assert endpoint_facts(env) == before
    assert env.sm.list_models()["Models"] == models
    assert env.executions() == []
    assert env.lock() is None


# Any JSON value can be a Lambda payload (a CLI typo, a misrouted event).
NOT_OBJECTS = [
    (7, "number"),
    (2.5, "number"),
    (True, "boolean"),
    (None, "null"),
    ("endpoint_name=demo-endpoint", "string"),
    ([{"endpoint_name": ENDPOINT}], "array"),
]


@pytest.mark.parametrize(("payload", "kind"), NOT_OBJECTS, ids=lambda v: repr(v)[:20])
def test_a_payload_that_is_no_object_is_refused_naming_what_it_takes(
    env: Any, payload: Any, kind: str
) -> None:
    before = (endpoint_facts(env), env.sm.list_models()["Models"], env.executions(), env.lock())
    said = f"event: expected {START_EVENTS}, got {kind!r}"
    assert "StartRelease request" in said and "Model Package State Change" in said
    if payload and not isinstance(payload, str):  # the emulator passes neither (test_events)
        inv = env.invoke("StartReleaseFunction", payload)
        assert (inv.error_type, inv.error_message) == ("InvalidReleaseRequest", said)
    err = call_handler(env, "start_release", payload)
    assert isinstance(err, InvalidReleaseRequest) and str(err) == said
    after = (endpoint_facts(env), env.sm.list_models()["Models"], env.executions(), env.lock())
    assert after == before


def test_bad_policy_says_what_was_expected(env: Any) -> None:
    inv = env.invoke("StartReleaseFunction", load_event("start_release", "bad-policy"))
    assert "strictly increasing" in inv.error_message
    assert "[25.0, 5.0, 100.0]" in inv.error_message


def test_registry_approval_starts_one_release_and_a_duplicate_none(env: Any) -> None:
    event = load_event("start_release", "registry-approved")
    expected = plan.release_id_for(
        ENDPOINT, event["detail"]["ModelPackageArn"], str(event["detail"]["LastModifiedTime"])
    )
    first = env.invoke("StartReleaseFunction", event)
    assert first.ok, first.error_message
    assert first.payload["status"] == "started"
    assert first.payload["release_id"] == expected
    assert first.payload["execution_arn"].endswith(f":{expected}")
    started = env.executions()
    assert [e["name"] for e in started] == [expected]
    request = json.loads(
        env.sfn.describe_execution(executionArn=started[0]["executionArn"])["input"]
    )
    assert request["trigger"] == "registry"
    assert request["model_package_arn"] == event["detail"]["ModelPackageArn"]
    assert request["endpoint_name"] == ENDPOINT

    # SageMaker may deliver the same approval twice.
    second = env.invoke("StartReleaseFunction", event)
    assert second.ok, second.error_message
    assert second.payload["status"] == "duplicate"
    assert second.payload["release_id"] == expected
    assert [e["name"] for e in env.executions()] == [expected]
