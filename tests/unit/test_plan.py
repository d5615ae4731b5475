"""Endpoint plans: names SageMaker accepts, weights, configs and the verified reconcilers."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard.canary import plan
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import EndpointView, Variant, VariantView
from release_guard.policy import DEFAULT_POLICY

from tests.unit.fakes import FakeEndpoints

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/7"
ENDPOINT = "churn-prod"
PROPS = settings(max_examples=200, derandomize=True, deadline=None)

ALNUM = string.ascii_letters + string.digits
sagemaker_names = st.builds(
    lambda first, middle, last: (first + middle + last)[:63],
    st.sampled_from(ALNUM),
    st.text(alphabet=ALNUM + "-", max_size=61),
    st.sampled_from(ALNUM),
).filter(lambda s: NAME.match(s) is not None)


def valid_name(name: str) -> bool:
    return len(name) <= 63 and NAME.match(name) is not None


def view(status: str = "InService", config: str = "cfg-1", **weights: float) -> EndpointView:
    return EndpointView(
        name=ENDPOINT,
        status=status,
        config_name=config,
        variants=[VariantView(name=n, current_weight=w) for n, w in weights.items()],
    )


# --- names -------------------------------------------------------------------------------


def test_release_id_is_deterministic_per_approval() -> None:
    first = plan.release_id_for(ENDPOINT, ARN, "2025-03-01T12:00:00Z")
    assert first == plan.release_id_for(ENDPOINT, ARN, "2025-03-01T12:00:00Z")
    assert first != plan.release_id_for(ENDPOINT, ARN, "2025-03-01T12:00:01Z")
    assert first != plan.release_id_for(ENDPOINT, ARN.replace("/7", "/8"), "2025-03-01T12:00:00Z")
    assert first != plan.release_id_for("churn-stage", ARN, "2025-03-01T12:00:00Z")
    assert first.startswith("churn-prod-v7-")
    assert EXECUTION_NAME.match(first)


def test_names_for_the_longest_endpoint_names_are_valid() -> None:
    endpoint = "e" * 30 + "-" + "x" * 32  # 63 characters, the SageMaker maximum
    assert valid_name(endpoint) and len(endpoint) == 63
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/" + "g" * 63 + "/12345"
    release_id = plan.release_id_for(endpoint, arn, "2025-03-01T12:00:00.123456+00:00")
    assert EXECUTION_NAME.match(release_id)
    variant = "v" + "9" * 62
    model = plan.candidate_model_name(endpoint, variant, release_id)
    assert valid_name(model)
    for purpose in ("canary", "rollback", "promote"):
        assert valid_name(plan.candidate_config_name(endpoint, release_id, purpose))


@PROPS
@given(endpoint=sagemaker_names, variant=sagemaker_names, version=st.integers(1, 10**9))
def test_generated_names_are_always_valid(endpoint: str, variant: str, version: int) -> None:
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/grp/{version}"
    release_id = plan.release_id_for(endpoint, arn, "stamp")
    assert EXECUTION_NAME.match(release_id), release_id
    assert valid_name(plan.candidate_model_name(endpoint, variant, release_id))
    names = {plan.candidate_config_name(endpoint, release_id, p) for p in ("canary", "rollback")}
    assert len(names) == 2
    assert all(valid_name(n) for n in names)
    assert valid_name(plan.candidate_variant_name(arn, version))
    assert valid_name(plan.candidate_variant_name(arn, None))


def test_candidate_variant_name_uses_the_package_version() -> None:
    assert plan.candidate_variant_name(ARN, 7) == "v7"
    unversioned = plan.candidate_variant_name(ARN, None)
    assert unversioned.startswith("c-") and unversioned == plan.candidate_variant_name(ARN, None)


# --- champion, weights, configs ------------------------------------------------------------


def test_the_single_variant_is_the_champion() -> None:
    assert plan.pick_champion(view(v6=1.0), "v7") == "v6"


def test_the_champion_is_the_one_serving_variant() -> None:
    assert plan.pick_champion(view(old=0.0, v6=2.0), "v7") == "v6"


@pytest.mark.parametrize(
    ("endpoint", "candidate", "field"),
    [
        (view(a=1.0, b=1.0), "v7", "endpoint_name"),
        (view(a=0.0, b=0.0), "v7", "endpoint_name"),
        (view(v6=1.0, v7=0.0), "v7", "candidate_variant"),
        (view("Updating", v6=1.0), "v7", "endpoint_name"),
    ],
)
def test_pick_champion_refuses_ambiguous_endpoints(
    endpoint: EndpointView, candidate: str, field: str
) -> None:
    with pytest.raises(InvalidReleaseRequest) as info:
        plan.pick_champion(endpoint, candidate)
    assert info.value.field == field


@pytest.mark.parametrize("percent", DEFAULT_POLICY.canary.steps)
def test_weights_sum_to_100_for_each_default_step(percent: float) -> None:
    weights = plan.weights_for(percent, "v6", "v7")
    assert weights["v7"] == percent
    assert weights["v6"] == 100 - percent
    assert sum(weights.values()) == 100


@PROPS
@given(percent=st.floats(min_value=0, max_value=100, exclude_min=True))
def test_weights_always_sum_to_100(percent: float) -> None:
    weights = plan.weights_for(percent, "v6", "v7")
    assert abs(sum(weights.values()) - 100) < 1e-5
    assert min(weights.values()) >= 0
    assert abs(weights["v7"] - percent) < 1e-5


CANDIDATE = Variant(
    name="v7", model_name="churn-v7-m", instance_type="ml.g5.xlarge", instance_count=1
)
OLD_VARIANTS: list[dict[str, Any]] = [
    {
        "VariantName": "a",
        "ModelName": "m-a",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 2,
        "InitialVariantWeight": 0.5,
    },
    {
        "VariantName": "b",
        "ModelName": "m-b",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 0.5,
    },
]


def test_config_with_candidate_keeps_live_weights_and_adds_candidate_at_zero() -> None:
    live = view(a=70.0, b=30.0)
    variants = plan.config_with_candidate(OLD_VARIANTS, live, CANDIDATE)
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in variants}
    assert weights == {"a": 70.0, "b": 30.0, "v7": 0.0}
    assert variants[0]["ModelName"] == "m-a" and variants[0]["InitialInstanceCount"] == 2
    assert variants[2] == {
        "VariantName": "v7",
        "ModelName": "churn-v7-m",
        "InstanceType": "ml.g5.xlarge",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 0.0,
    }
    assert OLD_VARIANTS[0]["InitialVariantWeight"] == 0.5  # the input is not changed


def test_config_with_candidate_keeps_the_config_weight_when_no_live_weight() -> None:
    live = EndpointView(
        name=ENDPOINT,
        status="InService",
        config_name="cfg-1",
        variants=[VariantView(name="a"), VariantView(name="b", current_weight=3.0)],
    )
    variants = plan.config_with_candidate(OLD_VARIANTS, live, CANDIDATE)
    assert [v["InitialVariantWeight"] for v in variants] == [0.5, 3.0, 0.0]


def test_config_without_drops_the_variant() -> None:
    with_candidate = plan.config_with_candidate(OLD_VARIANTS[:1], view(a=1.0), CANDIDATE)
    kept = plan.config_without(with_candidate, "v7", view(a=1.0, v7=0.0))
    assert [v["VariantName"] for v in kept] == ["a"]
    assert kept[0]["InitialVariantWeight"] > 0
    assert [v["VariantName"] for v in with_candidate] == ["a", "v7"]


def test_config_without_keeps_a_standby_variant_at_zero() -> None:
    live = view(v6=1.0, standby=0.0)
    config = [
        {**OLD_VARIANTS[0], "VariantName": "v6", "InitialVariantWeight": 1.0},
        {**OLD_VARIANTS[1], "VariantName": "standby", "InitialVariantWeight": 0.0},
    ]
    with_candidate = plan.config_with_candidate(config, live, CANDIDATE)
    kept = plan.config_without(with_candidate, "v7", view(v6=1.0, standby=0.0, v7=0.0))
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in kept}
    assert weights["standby"] == 0.0
    assert weights["v6"] > 0


# --- reconcilers on a fake endpoint ---------------------------------------------------------


def cfg(name: str, model: str, weight: float) -> dict[str, Any]:
    return {
        **OLD_VARIANTS[0],
        "VariantName": name,
        "ModelName": model,
        "InitialVariantWeight": weight,
    }


def canary_endpoint(champion_weight: float, candidate_weight: float) -> FakeEndpoints:
    """An endpoint after Deploy Candidate and a traffic shift."""
    eps = FakeEndpoints()
    eps.add_endpoint(
        ENDPOINT,
        "cfg-canary",
        [
            cfg("v6", "m6", 1.0),
            cfg("v7", "m7", 0.0),
        ],
        live_weights={"v6": champion_weight, "v7": candidate_weight},
    )
    return eps


def apply(step: plan.Step, eps: FakeEndpoints, purpose: str) -> None:
    """What the release does with a step (release._apply), against the fake."""
    current = eps.view()
    if step.kind == "set_weights":
        assert step.weights is not None
        eps.update_weights(ENDPOINT, step.weights)
    elif step.kind == "replace_config":
        assert step.drop_variant is not None
        variants = eps.describe_endpoint_config(current.config_name)["ProductionVariants"]
        name = f"cfg-{purpose}"
        eps.create_endpoint_config(
            name, plan.config_without(variants, step.drop_variant, current), None
        )
        eps.update_endpoint(ENDPOINT, name)


def test_rollback_sequence_champion_first_then_remove_then_verify() -> None:
    eps = canary_endpoint(75.0, 25.0)

    step = plan.next_rollback_step(eps.view(), "v6", "v7")
    assert step.kind == "set_weights"
    assert step.weights == {"v6": 100.0, "v7": 0.0}
    apply(step, eps, "rollback")

    assert plan.next_rollback_step(eps.view(), "v6", "v7").kind == "wait"
    eps.settle()
    assert eps.traffic() == {"v6": 1.0, "v7": 0.0}

    step = plan.next_rollback_step(eps.view(), "v6", "v7")
    assert step.kind == "replace_config"
    assert step.drop_variant == "v7"
    apply(step, eps, "rollback")

    assert plan.next_rollback_step(eps.view(), "v6", "v7").kind == "wait"
    eps.settle()

    step = plan.next_rollback_step(eps.view(), "v6", "v7")
    assert step.kind == "verified"
    assert [v.name for v in eps.view().variants] == ["v6"]
    assert eps.traffic() == {"v6": 1.0}
    assert [c.name for c in eps.mutating_calls()] == [
        "update_weights",
        "create_endpoint_config",
        "update_endpoint",
    ]


def test_rollback_skips_the_weight_change_when_the_candidate_takes_nothing() -> None:
    eps = canary_endpoint(100.0, 0.0)
    assert plan.next_rollback_step(eps.view(), "v6", "v7").kind == "replace_config"


@pytest.mark.parametrize("status", sorted(plan.SETTLING))
def test_rollback_waits_while_the_endpoint_settles(status: str) -> None:
    step = plan.next_rollback_step(view(status, v6=75.0, v7=25.0), "v6", "v7")
    assert step.kind == "wait"
    assert status in step.detail


@pytest.mark.parametrize("status", sorted(plan.BROKEN))
def test_rollback_on_a_broken_endpoint_fails(status: str) -> None:
    broken = view(status, v6=75.0, v7=25.0).model_copy(update={"failure_reason": "no capacity"})
    step = plan.next_rollback_step(broken, "v6", "v7")
    assert step.kind == "failed"
    assert "no capacity" in step.detail


def test_rollback_without_the_champion_fails() -> None:
    assert plan.next_rollback_step(view(v7=100.0), "v6", "v7").kind == "failed"


def test_rollback_with_only_the_champion_is_verified_at_once() -> None:
    assert plan.next_rollback_step(view(v6=1.0), "v6", "v7").kind == "verified"


def promote_all(eps: FakeEndpoints, retire: bool) -> list[str]:
    kinds = []
    for _ in range(10):
        step = plan.next_promotion_step(eps.view(), "v6", "v7", retire)
        kinds.append(step.kind)
        if step.kind in ("verified", "failed"):
            return kinds
        apply(step, eps, "promote")
        assert plan.next_promotion_step(eps.view(), "v6", "v7", retire).kind == "wait"
        eps.settle()
    raise AssertionError(f"promotion did not converge: {kinds}")


def test_promotion_without_retiring_keeps_the_champion_at_zero() -> None:
    eps = canary_endpoint(50.0, 50.0)
    assert promote_all(eps, retire=False) == ["set_weights", "verified"]
    assert eps.traffic() == {"v6": 0.0, "v7": 1.0}
    assert eps.calls_named("update_weights")[0].args["weights"] == {"v6": 0.0, "v7": 100.0}


def test_promotion_with_retiring_removes_the_champion() -> None:
    eps = canary_endpoint(50.0, 50.0)
    assert promote_all(eps, retire=True) == ["set_weights", "replace_config", "verified"]
    assert [v.name for v in eps.view().variants] == ["v7"]
    assert eps.traffic() == {"v7": 1.0}


def test_retiring_after_promotion_only_replaces_the_config() -> None:
    eps = canary_endpoint(0.0, 100.0)
    assert promote_all(eps, retire=True) == ["replace_config", "verified"]
    assert eps.calls_named("update_weights") == []


def test_promotion_refuses_without_a_candidate_or_on_a_broken_endpoint() -> None:
    assert plan.next_promotion_step(view(v6=1.0), "v6", "v7", False).kind == "failed"
    assert plan.next_promotion_step(view("Failed", v6=1, v7=1), "v6", "v7", False).kind == "failed"
    assert plan.next_promotion_step(view("Updating", v6=1, v7=1), "v6", "v7", False).kind == "wait"


def test_promotion_is_not_verified_while_another_variant_takes_traffic() -> None:
    eps = FakeEndpoints()
    eps.add_endpoint(
        ENDPOINT,
        "cfg-canary",
        [
            cfg("v6", "m6", 1.0),
            cfg("sb", "m5", 0.0),
            cfg("v7", "m7", 0.0),
        ],
        live_weights={"v6": 50.0, "sb": 0.0, "v7": 50.0},
    )
    kinds = promote_all(eps, retire=True)
    assert kinds[-1] == "verified"
    assert eps.traffic()["v7"] == 1.0  # got: {"sb": 0.5, "v7": 0.5}
