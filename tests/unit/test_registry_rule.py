"""The registry rule of template.yaml (StartRelease's ModelApproved event source) starts
a release on an approval only: a package created Approved, or an update that changed
ModelApprovalStatus to Approved. SageMaker sends "SageMaker Model Package State Change"
for every update, metadata-only ones too (with UpdatedModelPackageFields), the package
still Approved: release-guard's own metadata writes must start nothing.

Matched by moto's EventPattern, the event bus of the emulated account, on the events/
samples; EventBridge's ``$or`` and ``exists`` are what the rule uses."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern, EventPatternParser

from scripts import validate_asl
from tests.conftest import GROUP, load_event

ROOT = Path(__file__).resolve().parents[2]


def _resolve(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return {"ModelPackageGroupName": GROUP}[value["Ref"]]
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def rule() -> EventPattern:
    resources = validate_asl.load_template(ROOT / "template.yaml")["Resources"]
    events = resources["StartReleaseFunction"]["Properties"]["Events"]
    [source] = [e for e in events.values() if e["Type"] == "EventBridgeRule"]
    raw = json.dumps(_resolve(source["Properties"]["Pattern"]))
    return EventPattern(raw, EventPatternParser(raw).parse())  # parse: PutRule's checks


def test_the_rule_filters_on_what_changed_with_or_and_exists() -> None:
    detail = rule().get_pattern()["detail"]
    assert detail["ModelApprovalStatus"] == ["Approved"]
    assert detail["$or"] == [
        {"UpdatedModelPackageFields": [{"exists": False}]},
        {"UpdatedModelPackageFields": ["ModelApprovalStatus"]},
    ]


@pytest.mark.parametrize(
    ("case", "starts"),
    [
        ("registry-approved", True),  # created Approved: no UpdatedModelPackageFields
        ("registry-approval-update", True),  # ModelApprovalStatus among what changed
        ("registry-metadata-update", False),  # release-guard's FinishRelease write
        ("registry-rejected", False),
        ("other-group", False),
    ],
)
def test_only_an_approval_matches(case: str, starts: bool) -> None:
    assert rule().matches_event(load_event("start_release", case)) is starts


def _changed(fields: list[str] | None, status: str = "Approved") -> dict[str, Any]:
    event = copy.deepcopy(load_event("start_release", "registry-approval-update"))
    event["detail"]["ModelApprovalStatus"] = status
    if fields is None:
        del event["detail"]["UpdatedModelPackageFields"]
    else:
        event["detail"]["UpdatedModelPackageFields"] = fields
    return event


@pytest.mark.parametrize(
    ("fields", "status", "starts"),
    [
        (["CustomerMetadataProperties"], "Approved", False),  # FinishRelease, BuildBaseline
        (["ApprovalDescription", "CustomerMetadataProperties"], "Approved", False),
        (["ModelLifeCycle"], "Approved", False),
        (["CustomerMetadataProperties", "ModelApprovalStatus"], "Approved", True),
        (["ModelApprovalStatus"], "Rejected", False),  # the eval gate's rejection
        (["ModelApprovalStatus"], "PendingManualApproval", False),
        (None, "PendingManualApproval", False),  # created pending
    ],
)
def test_an_update_starts_a_release_only_when_it_approves(
    fields: list[str] | None, status: str, starts: bool
) -> None:
    assert rule().matches_event(_changed(fields, status)) is starts
