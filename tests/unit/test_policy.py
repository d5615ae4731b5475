"""Release policies: defaults are usable, every mistake is named by its dotted path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from release_guard.canary.metrics import CATALOG
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import StartRelease, parse
from release_guard.policy import (
    DEFAULT_POLICY,
    CanaryPolicy,
    DeploymentPolicy,
    MetricRule,
    ReleasePolicy,
    parse_policy,
)

ROOT = Path(__file__).resolve().parents[2]


def rejected(doc: Any) -> InvalidReleaseRequest:
    with pytest.raises(InvalidReleaseRequest) as info:
        parse_policy(doc)
    return info.value


def with_canary(**canary: Any) -> dict[str, Any]:
    return {"version": "p-1", "canary": canary}


def test_defaults_are_a_valid_policy() -> None:
    policy = parse_policy({"version": "p-1"})
    canary = policy.canary
    assert canary.steps == [5.0, 25.0, 50.0, 100.0]
    assert canary.on_insufficient_data == "hold"
    assert canary.alpha == 0.05
    assert canary.power == 0.8
    assert canary.app_namespace == "ReleaseGuard/App"
    assert canary.min_period_samples == 10
    assert policy.deployment == DeploymentPolicy()
    # The default policy survives a round trip through its own JSON (as stored in the ledger).
    assert parse_policy(DEFAULT_POLICY.model_dump(mode="json")) == DEFAULT_POLICY


def rule_table(rules: list[MetricRule]) -> list[tuple[Any, ...]]:
    return [
        (
            r.metric,
            r.statistic if CATALOG[r.metric].kind == "latency" else None,
            r.max_absolute,
            r.max_ratio,
            r.action,
            r.critical,
        )
        for r in rules
    ]


# Issue 3's list: 5XX over 5 % absolute -> rollback; p95 over 2x -> rollback; guardrail
# triggers over 3x -> rollback; negative feedback and cost per request over 2x -> hold;
# a p95 regression over 10 % -> rollback (not critical). Only 5XX and p95 are critical:
# an endpoint that publishes no GenAI metrics is not held up by them.
ISSUE_DEFAULTS = [
    ("5xx_rate", None, 0.05, 1.25, "rollback", True),
    ("model_latency", "p95", None, 2.0, "rollback", True),
    ("model_latency", "p95", None, 1.1, "rollback", False),
    ("guardrail_rate", None, None, 3.0, "rollback", False),
    ("negative_feedback_rate", None, None, 2.0, "hold", False),
    ("cost_per_request", None, None, 2.0, "hold", False),
]


def test_default_metric_rules_are_the_issues_list() -> None:
    rules = parse_policy({"version": "p-1"}).canary.metrics
    assert rule_table(rules) == ISSUE_DEFAULTS
    five_xx = rules[0]
    assert five_xx.detect_ratio == 3.0
    assert all(r.min_sample == 100 for r in rules)
    assert all(r.metric in CATALOG for r in rules)


def test_the_shipped_default_policy_file_has_the_same_rules() -> None:
    doc = json.loads((ROOT / "policies" / "default.json").read_text())
    policy = parse_policy(doc)
    assert policy.canary.metrics == CanaryPolicy().metrics
    assert rule_table(policy.canary.metrics) == ISSUE_DEFAULTS


LAYER = ROOT / "layers" / "release_guard" / "python" / "release_guard"


def test_the_built_in_policy_is_policies_default_json_shipped_in_the_layer() -> None:
    """One source: the code loads the layer's default_policy.json (package data, so in
    the Lambda layer and in any install); policies/default.json, what manifests name
    and the docs show, is the same bytes; and every field's default is its value there,
    so a policy that leaves a field out gets what the built-in policy says."""
    shipped = (LAYER / "default_policy.json").read_bytes()
    assert (ROOT / "policies" / "default.json").read_bytes() == shipped, (
        "policies/default.json and the layer's default_policy.json differ: copy one onto "
        "the other (the layer's is what Lambda loads)"
    )
    assert parse_policy(json.loads(shipped)) == DEFAULT_POLICY
    assert ReleasePolicy(version=DEFAULT_POLICY.version) == DEFAULT_POLICY
    canary = DEFAULT_POLICY.canary
    assert canary.metric_delay_seconds == 120 and canary.post_promotion_watch_seconds == 600
    assert (DEFAULT_POLICY.rollback_poll_seconds, DEFAULT_POLICY.rollback_max_attempts) == (15, 240)


def test_the_layer_ships_the_policy_file() -> None:
    """sam build copies the layer's folder (ContentUri layers/release_guard/python/);
    pip installs it as package data (pyproject.toml)."""
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "default_policy.json" in pyproject["tool"]["setuptools"]["package-data"]["release_guard"]
    assert not (LAYER / "default_policy.json").is_symlink()


@pytest.mark.parametrize("name", ["demo.json", "test.json", "default.json"])
def test_every_shipped_policy_is_valid(name: str) -> None:
    policy = parse_policy(json.loads((ROOT / "policies" / name).read_text()))
    assert any(r.critical for r in policy.canary.metrics)


def test_a_full_policy_is_read_as_written() -> None:
    doc = {
        "version": "churn-7",
        "canary": {
            "steps": [10, 100],
            "min_bake_seconds": 300,
            "max_bake_seconds": 900,
            "on_insufficient_data": "advance",
            "metric_period_seconds": 300,
            "alpha": 0.01,
            "power": 0.9,
            "app_namespace": "Churn/GenAI",
            "min_period_samples": 25,
            "metrics": [
                {"metric": "5xx_rate", "max_absolute": 0.01, "min_sample": 50},
                {"metric": "model_latency", "statistic": "p99", "max_ratio": 1.5},
                {
                    "metric": "refusal_rate",
                    "max_ratio": 1.5,
                    "detect_ratio": 4,
                    "action": "hold",
                    "critical": False,
                },
                {"metric": "tokens_per_request", "max_ratio": 1.3, "critical": False},
            ],
        },
        "deployment": {"in_service_timeout_seconds": 1200, "data_capture_sampling_percent": 20},
    }
    policy = parse_policy(doc)
    canary = policy.canary
    assert policy.version == "churn-7"
    assert canary.steps == [10.0, 100.0]
    assert canary.on_insufficient_data == "advance"
    assert (canary.alpha, canary.power, canary.min_period_samples) == (0.01, 0.9, 25)
    assert canary.app_namespace == "Churn/GenAI"
    five_xx, p99, refusals, tokens = canary.metrics
    assert (five_xx.max_absolute, five_xx.max_ratio, five_xx.min_sample) == (0.01, None, 50)
    assert (p99.statistic, p99.max_ratio, p99.action, p99.critical) == (
        "p99",
        1.5,
        "rollback",
        True,
    )
    assert (refusals.detect_ratio, refusals.action, refusals.critical) == (4.0, "hold", False)
    assert tokens.max_ratio == 1.3
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
            with_canary(metrics=[{"metric": "5xx_rate", "max_ratio": 2, "max_5xx": 0.1}]),
            "policy.canary.metrics.0.max_5xx",
        ),
        # The old guard rules are gone: a policy still carrying them is told so.
        (with_canary(guards={"max_5xx_rate": 0.05}), "policy.canary.guards"),
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


def rules(*items: dict[str, Any]) -> dict[str, Any]:
    return with_canary(metrics=list(items))


CRITICAL_5XX = {"metric": "5xx_rate", "max_absolute": 0.05}


@pytest.mark.parametrize(
    ("doc", "path", "words"),
    [
        (
            rules({"metric": "5xx_ratio", "max_ratio": 2}),
            "policy.canary.metrics.0.metric",
            "5xx_rate",
        ),
        (
            rules(CRITICAL_5XX, {"metric": "p95_latency", "max_ratio": 2}),
            "policy.canary.metrics.1.metric",
            "one of",
        ),
        (
            rules({"metric": "model_latency", "max_absolute": 0.1}),
            "policy.canary.metrics.0",
            "max_absolute applies to rate metrics",
        ),
        (
            rules({"metric": "cost_per_request", "max_absolute": 0.5, "max_ratio": 2}),
            "policy.canary.metrics.0",
            "rate metrics",
        ),
        (rules({"metric": "5xx_rate"}), "policy.canary.metrics.0", "max_ratio or max_absolute"),
        (
            rules({"metric": "model_latency", "max_ratio": None}),
            "policy.canary.metrics.0",
            "max_ratio or max_absolute",
        ),
        (rules({"metric": "5xx_rate", "max_ratio": -1}), "policy.canary.metrics.0.max_ratio", "0"),
        (rules({"metric": "5xx_rate", "max_ratio": 0}), "policy.canary.metrics.0.max_ratio", "0"),
        (
            rules({"metric": "model_latency", "max_ratio": 0.9}),
            "policy.canary.metrics.0",
            ">= 1",
        ),
        (
            rules({"metric": "5xx_rate", "max_absolute": 0}),
            "policy.canary.metrics.0.max_absolute",
            "0",
        ),
        (
            rules({"metric": "5xx_rate", "max_absolute": 1.5}),
            "policy.canary.metrics.0.max_absolute",
            "1",
        ),
        (
            rules({"metric": "5xx_rate", "max_ratio": 2, "min_sample": 0}),
            "policy.canary.metrics.0.min_sample",
            "1",
        ),
        (
            rules({"metric": "5xx_rate", "max_ratio": 2, "detect_ratio": 1}),
            "policy.canary.metrics.0.detect_ratio",
            "1",
        ),
        (
            rules({"metric": "model_latency", "max_ratio": 2, "statistic": "p42"}),
            "policy.canary.metrics.0.statistic",
            "p95",
        ),
        (
            rules({"metric": "5xx_rate", "max_ratio": 2, "action": "promote"}),
            "policy.canary.metrics.0.action",
            "rollback",
        ),
        (
            rules({"metric": "5xx_rate", "max_ratio": 2, "critical": False}),
            "policy.canary.metrics",
            "at least one critical rule",
        ),
        (rules(), "policy.canary.metrics", "at least one critical rule"),
        (with_canary(alpha=0), "policy.canary.alpha", "greater than 0"),
        (with_canary(alpha=-0.05), "policy.canary.alpha", "greater than 0"),
        (with_canary(alpha=0.5), "policy.canary.alpha", "less than 0.5"),
        (with_canary(alpha=0.9), "policy.canary.alpha", "less than 0.5"),
        (with_canary(power=0.3), "policy.canary.power", "0.5"),
        (with_canary(power=1), "policy.canary.power", "1"),
        (with_canary(min_period_samples=0), "policy.canary.min_period_samples", "1"),
        (with_canary(app_namespace=""), "policy.canary.app_namespace", "1 character"),
    ],
)
def test_bad_metric_rules_are_rejected_naming_the_field(
    doc: dict[str, Any], path: str, words: str
) -> None:
    err = rejected(doc)
    assert err.field == path
    assert words in err.expected
    assert str(err).startswith(f"{path}: expected ")


@pytest.mark.parametrize("alpha", [1e-6, 0.01, 0.05, 0.49])
def test_alphas_inside_the_open_interval_are_accepted(alpha: float) -> None:
    assert parse_policy(with_canary(alpha=alpha)).canary.alpha == alpha


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_catalog_metric_can_be_a_ratio_rule(name: str) -> None:
    doc = rules(CRITICAL_5XX, {"metric": name, "max_ratio": 1.5, "critical": False})
    assert parse_policy(doc).canary.metrics[1].metric == name


def test_a_rate_rule_may_have_only_an_absolute_ceiling() -> None:
    (rule,) = parse_policy(rules(CRITICAL_5XX)).canary.metrics
    assert (rule.max_absolute, rule.max_ratio, rule.critical) == (0.05, None, True)
    assert "5.00%" in rule.label


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


# -- drift ---------------------------------------------------------------------------------


def with_drift(**drift: Any) -> dict[str, Any]:
    payload = {"features": [{"name": "f0"}, {"name": "created_at", "keep": True}]}
    return {"version": "p-1", "drift": {"payload": payload, **drift}}


def test_drift_defaults_notify_from_investigate_and_grade_a_small_effect_so() -> None:
    drift = parse_policy(with_drift()).drift
    assert drift is not None
    assert (drift.notify_at, drift.min_effect, drift.investigate_effect) == (
        "investigate",
        0.02,
        0.025,
    )
    assert [f.keep for f in drift.payload.features] == [False, True]


def test_drift_effect_levels_must_be_in_order() -> None:
    err = rejected(with_drift(min_effect=0.05, investigate_effect=0.03))
    assert err.field == "policy.drift"
    assert "investigate_effect >= min_effect" in str(err)
    assert rejected(with_drift(notify_at="page")).field == "policy.drift.notify_at"
    bad = with_drift()
    bad["drift"]["payload"]["features"][0]["keep"] = "yes please"
    assert rejected(bad).field == "policy.drift.payload.features.0.keep"
