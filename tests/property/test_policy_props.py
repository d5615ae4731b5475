"""Release policies (policies/*.json, a request's ``policy``; release_guard/policy.py
ReleasePolicy through parse_policy) on any JSON: a policy, or InvalidReleaseRequest
naming the field; never another exception (issue 12). A policy that validates is one
the workflow can carry: JSON without NaN or Infinity (Step Functions' state, the
ledger), which parses back to the same policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from release_guard.errors import InvalidReleaseRequest
from release_guard.policy import ReleasePolicy, parse_policy

from tests.property.test_events_props import at, json_values, mutated, positions, start_on_fakes

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "policies").glob("*.json"))


def _numbers(path: Path) -> list[tuple[Path, tuple[Any, ...]]]:
    """Every number in a policy file, as (file, path to it): set to odd numbers one at
    a time below."""
    data = json.loads(path.read_text())
    return [
        (path, where)
        for where in positions(data)
        if isinstance(at(data, where), int | float) and not isinstance(at(data, where), bool)
    ]


NUMBERS = [number for path in SAMPLES for number in _numbers(path)]


def parsed_or_refused(data: Any) -> ReleasePolicy | None:
    try:
        return parse_policy(data, "policy")
    except InvalidReleaseRequest as err:
        assert str(err).startswith("policy"), str(err)  # it names the field
        return None


def carried(policy: ReleasePolicy) -> None:
    """As the workflow carries it: JSON text, then parsed again."""
    text = json.dumps(policy.model_dump(mode="json"), allow_nan=False)
    assert parse_policy(json.loads(text), "policy") == policy


@given(data=json_values)
def test_any_json_is_a_policy_or_invalid_release_request(data: Any) -> None:
    """Contract of parse_policy: any JSON value is a ReleasePolicy or
    InvalidReleaseRequest naming the field; never another exception."""
    policy = parsed_or_refused(data)
    if policy is not None:
        carried(policy)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
@given(seed=st.data())
def test_mutated_policies_parse_or_are_refused(path: Path, seed: st.DataObject) -> None:
    """Contract: the repository's policies with fields dropped, added or of the wrong
    type (10**400, NaN, infinities, negative, empty, very long) are a ReleasePolicy
    that survives the workflow's JSON, or InvalidReleaseRequest naming the field."""
    policy = parsed_or_refused(seed.draw(mutated(json.loads(path.read_text()))))
    if policy is not None:
        carried(policy)


def _with(number: tuple[Path, tuple[Any, ...]], value: Any) -> Any:
    path, where = number
    data = json.loads(path.read_text())
    at(data, where[:-1])[where[-1]] = value
    return data


@given(number=st.sampled_from(NUMBERS), value=st.integers(min_value=2**1024, max_value=10**4000))
def test_integers_of_any_size_are_a_policy_or_refused(
    number: tuple[Path, tuple[Any, ...]], value: int
) -> None:
    """Contract of parse_policy: any integer, however large (JSON has no limit; Python's
    reader takes 4,300 digits), in any numeric field is a policy or InvalidReleaseRequest.
    Reproducer: parse_policy({"version": "x", "canary": {"max_bake_seconds": 10**400}})."""
    parsed_or_refused(_with(number, value))


@given(
    number=st.sampled_from(NUMBERS),
    value=st.sampled_from([float("inf"), float("-inf"), float("nan")]),
)
def test_a_policy_with_infinities_is_refused_or_strict_json(
    number: tuple[Path, tuple[Any, ...]], value: float
) -> None:
    """Contract: NaN or an infinity in any numeric field is refused (InvalidReleaseRequest)
    or the policy still dumps as strict JSON. Reproducer: parse_policy({"version": "x",
    "canary": {"metrics": [{"metric": "5xx_rate", "max_ratio": Infinity}]}}) validates,
    and json.dumps(policy.model_dump(mode="json"), allow_nan=False) raises ValueError."""
    policy = parsed_or_refused(_with(number, value))
    if policy is not None:
        carried(policy)


@given(value=st.integers(min_value=2**1024, max_value=10**4000))
def test_start_release_refuses_such_a_policy(value: int) -> None:
    """Contract of StartRelease: a request whose inline policy is invalid in any way is
    InvalidReleaseRequest (policy.<field>), and nothing starts."""
    request = json.loads((ROOT / "events" / "start_release" / "cli-request.json").read_text())
    policy = json.loads((ROOT / "policies" / "demo.json").read_text())
    policy["canary"]["max_bake_seconds"] = value
    result, workflow, _, _ = start_on_fakes({**request, "policy": policy})
    assert isinstance(result, InvalidReleaseRequest) and workflow.started == []
