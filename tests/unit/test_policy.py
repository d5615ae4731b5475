"""Release policies: defaults are usable, every mistake is named by its dotted path."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import StartRelease, parse
from release_guard.policy import (
    DEFAULT_POLICY,
    CanaryPolicy,
    DeploymentPolicy,
    GuardRules,
    ReleasePolicy,
    parse_policy,
)


def rejected(doc: Any) -> InvalidReleaseRequest:
    with pytest.raises(InvalidReleaseRequest) as info:
        parse_policy(doc)
    return info.value


def with_canary(**canary: Any) -> dict[str, Any]:
    return {"version": "p-1", "canary": canary}


def test_defaults_are_a_valid_policy() -> None:
    policy = parse_policy({"version": "p-1"})
    assert policy.canary.steps == [5.0, 25.0, 50.0, 100.0]
    assert policy.canary.guards == GuardRules()
    assert policy.canary.guards.max_5xx_rate == 0.05
    assert policy.canary.guards.max_p95_latency_ratio == 2.0
    assert policy.canary.on_insufficient_data == "hold"
    assert policy.deployment == DeploymentPolicy()
    # The default policy survives a round trip through its own JSON (as stored in the ledger).
    assert parse_policy(DEFAULT_POLICY.model_dump(mode="json")) == DEFAULT_POLICY


def test_a_full_policy_is_read_as_written() -> None:
    doc = {
        "version": "churn-7",
        "canary": {
            "steps": [10, 100],
            "min_bake_seconds": 300,
            "max_bake_seconds": 900,
            "on_insufficient_data": "rollback",
            "metric_period_seconds": 300,
            "guards": {"max_5xx_rate": 0.01, "max_p95_latency_ratio": 1.5, "min_invocations": 50},
        },
        "deployment": {"in_service_timeout_seconds": 1200, "data_capture_sampling_percent": 20},
    }
    policy = parse_policy(doc)
    assert policy.version == "churn-7"
    assert policy.canary.steps == [10.0, 100.0]
    assert policy.canary.on_insufficient_data == "rollback"
    assert policy.canary.guards.min_invocations == 50
    assert policy.deployment.data_capture_sampling_percent == 20


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([5, 25, 25, 100], "strictly increasing"),
        ([50, 25, 100], "strictly increasing"),
        ([5, 25, 50], "last step must be 100"),
        ([0, 50, 100], "(0, 100]"),
        ([-5, 100], "(0, 100]"),
        ([50, 150], "(0, 100]"),
        ([], "at least one step"),
    ],
)
def test_bad_steps_are_rejected_naming_the_field(steps: list[float], expected: str) -> None:
    err = rejected(with_canary(steps=steps))
    assert err.field == "policy.canary.steps"
    assert expected in err.expected
    assert str(err).startswith("policy.canary.steps: expected ")


def test_a_single_step_of_100_is_allowed() -> None:
    assert parse_policy(with_canary(steps=[100])).canary.steps == [100.0]


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (with_canary(stepz=[5, 100]), "policy.canary.stepz"),
        (
            {"version": "p-1", "canary": {"guards": {"max_5xx": 0.1}}},
            "policy.canary.guards.max_5xx",
        ),
        ({"version": "p-1", "deploy": {}}, "policy.deploy"),
        ({"version": "p-1", "deployment": {"poll": 5}}, "policy.deployment.poll"),
    ],
)
def test_unknown_fields_are_rejected_by_name(doc: dict[str, Any], path: str) -> None:
    err = rejected(doc)
    assert err.field == path
    assert "unknown" in err.expected
    assert path in str(err)


@pytest.mark.parametrize(
    "field", ["min_bake_seconds", "max_bake_seconds", "check_interval_seconds"]
)
@pytest.mark.parametrize("value", [0, -1, -600])
def test_bake_times_must_be_positive(field: str, value: int) -> None:
    err = rejected(with_canary(**{field: value}))
    assert err.field == f"policy.canary.{field}"
    assert f"policy.canary.{field}" in str(err)


@pytest.mark.parametrize("period", [45, 7, 90, 0, -60])
def test_metric_periods_cloudwatch_cannot_serve_are_rejected(period: int) -> None:
    err = rejected(with_canary(metric_period_seconds=period))
    assert err.field == "policy.canary.metric_period_seconds"
    assert "policy.canary.metric_period_seconds" in str(err)


@pytest.mark.parametrize("period", [1, 5, 10, 30, 60, 120, 300, 3600])
def test_cloudwatch_periods_are_accepted(period: int) -> None:
    policy = parse_policy(with_canary(metric_period_seconds=period))
    assert policy.canary.metric_period_seconds == period


@pytest.mark.parametrize(
    ("guards", "path"),
    [
        ({"max_5xx_rate": 0}, "policy.canary.guards.max_5xx_rate"),
        ({"max_5xx_rate": 1.0}, "policy.canary.guards.max_5xx_rate"),
        ({"max_p95_latency_ratio": 1.0}, "policy.canary.guards.max_p95_latency_ratio"),
        ({"min_invocations": 0}, "policy.canary.guards.min_invocations"),
    ],
)
def test_guard_rules_out_of_range_are_rejected(guards: dict[str, Any], path: str) -> None:
    assert rejected(with_canary(guards=guards)).field == path


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({}, "policy.version"),
        ({"version": ""}, "policy.version"),
        (with_canary(on_insufficient_data="promote"), "policy.canary.on_insufficient_data"),
        (
            {"version": "p-1", "deployment": {"data_capture_sampling_percent": 101}},
            "policy.deployment.data_capture_sampling_percent",
        ),
        ({"version": "p-1", "operator_timeout_seconds": 59}, "policy.operator_timeout_seconds"),
        (with_canary(steps=["five", 100]), "policy.canary.steps.0"),
    ],
)
def test_other_invalid_values_name_their_path(doc: dict[str, Any], path: str) -> None:
    err = rejected(doc)
    assert err.field == path
    assert str(err).startswith(f"{path}: expected ")


@pytest.mark.parametrize("doc", [None, [], "version: 1", 3])
def test_a_policy_that_is_not_an_object_is_rejected(doc: Any) -> None:
    err = rejected(doc)
    assert err.field == "policy"
    assert "a JSON object" in str(err)


def test_the_field_prefix_is_the_callers() -> None:
    with pytest.raises(InvalidReleaseRequest) as info:
        parse_policy(with_canary(stepz=[100]), field="request.policy")
    assert info.value.field == "request.policy.canary.stepz"


def test_policies_are_frozen() -> None:
    policy = parse_policy({"version": "p-1"})
    with pytest.raises(ValidationError):
        policy.canary.min_bake_seconds = 1  # type: ignore[misc]


def test_models_forbid_extra_fields_directly() -> None:
    with pytest.raises(ValidationError):
        CanaryPolicy.model_validate({"stepz": [100]})
    with pytest.raises(ValidationError):
        ReleasePolicy.model_validate({"version": "p", "extra": 1})


def test_request_errors_name_the_field_too() -> None:
    good = {
        "endpoint_name": "churn-prod",
        "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/7",
    }
    assert parse(StartRelease, good, "request").endpoint_name == "churn-prod"
    with pytest.raises(InvalidReleaseRequest) as info:
        parse(StartRelease, {**good, "endpoint_name": "churn_prod"}, "request")
    assert info.value.field == "request.endpoint_name"
    with pytest.raises(InvalidReleaseRequest) as info:
        parse(StartRelease, {**good, "polcy": {}}, "request")
    assert info.value.field == "request.polcy"
