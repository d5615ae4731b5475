"""Starting a release (canary/start.py) on fakes: one approval, one release. A registry
event that approves nothing (a metadata update: release-guard's own writes among them)
and a package version that already has a release-guard outcome are refused, with the
reason, unless ``force``; refusals start nothing and change nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from release_guard.canary import plan, release
from release_guard.canary.start import Stack, start
from release_guard.events import PromptRef, StartRelease

from tests.conftest import load_event
from tests.unit.fakes import FakeEndpoints, FakeLedger, FakeWorkflow
from tests.unit.test_release import DEFAULTS, T0

ENDPOINT = "demo-endpoint"
GROUP = "demo-models"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/demo-models/2"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:release-guard-release"
STACK = Stack(MACHINE, ENDPOINT, GROUP)
CHAMPION = {
    "VariantName": "champion",
    "ModelName": "demo-endpoint-champion",
    "InstanceType": "ml.g5.2xlarge",
    "InitialInstanceCount": 1,
    "InitialVariantWeight": 1.0,
}
PROMPT = PromptRef(name="support-assistant", version=1, environment={"RG_PROMPT_ID": "p1"})


class FakeStarter(FakeWorkflow):
    """Step Functions as StartRelease uses it: executions by name, started once."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[str, dict[str, Any]]] = []

    def execution_arn(self, state_machine_arn: str, name: str) -> str:
        prefix, machine = state_machine_arn.split(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start_execution(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        arn = self.execution_arn(state_machine_arn, name)
        self.statuses[arn] = "RUNNING"
        self.started.append((name, payload))
        return arn

    def read_json(self, uri: str) -> Any:
        raise AssertionError(f"no policy from S3 ({uri})")


def account() -> FakeEndpoints:
    eps = FakeEndpoints()
    eps.add_endpoint(ENDPOINT, "demo-endpoint-cfg-1", [CHAMPION])
    eps.add_package(PACKAGE, version=2, group=GROUP)
    return eps


def run(
    event: dict[str, Any], ledger: FakeLedger | None = None
) -> tuple[Any, FakeStarter, FakeEndpoints]:
    eps, workflow = account(), FakeStarter()
    result = start(event, STACK, eps, ledger or FakeLedger(), workflow, DEFAULTS, T0)
    return result, workflow, eps


def cli(**extra: Any) -> dict[str, Any]:
    return {"endpoint_name": ENDPOINT, "model_package_arn": PACKAGE, "trigger": "cli", **extra}


def finished(
    outcome: str = "rolled_back", prompt: PromptRef | None = None
) -> tuple[FakeLedger, FakeEndpoints]:
    """An earlier release of the package that ended, as finish() leaves the ledger (and
    what it wrote on the package)."""
    eps, ledger = account(), FakeLedger()
    request = StartRelease(endpoint_name=ENDPOINT, model_package_arn=PACKAGE, prompt=prompt)
    ctx = release.prepare(request, "demo-endpoint-v2-0123456789ab", eps, DEFAULTS, no_s3, T0)
    release.finish(ctx, outcome, "5xx_rate <= 5.00%: 12.1% of 950", eps, ledger, FakeWorkflow(), T0)
    return ledger, eps


def released(outcome: str = "rolled_back", prompt: PromptRef | None = None) -> FakeLedger:
    return finished(outcome, prompt)[0]


def no_s3(uri: str) -> Any:
    raise AssertionError(f"no policy from S3 ({uri})")


@pytest.mark.parametrize("case", ["registry-approved", "registry-approval-update"])
def test_an_approval_starts_one_release(case: str) -> None:
    event = load_event("start_release", case)
    result, workflow, _ = run(event)
    assert result.status == "started", result
    stamp = str(event["detail"]["LastModifiedTime"])
    assert result.release_id == plan.release_id_for(ENDPOINT, PACKAGE, stamp)
    assert [name for name, _ in workflow.started] == [result.release_id]


def test_a_metadata_update_is_refused_and_starts_nothing() -> None:
    result, workflow, eps = run(load_event("start_release", "registry-metadata-update"))
    assert result.status == "refused"
    assert result.reason == (
        f"not an approval: only CustomerMetadataProperties changed on {PACKAGE}, which stays "
        "Approved; a metadata update starts nothing"
    )
    assert workflow.started == [] and eps.mutating_calls() == []


def test_the_event_release_guards_own_write_produces_starts_nothing() -> None:
    """Finish Release records the outcome on the package; SageMaker answers with an
    event: the package as DescribeModelPackage shows it, the changed field named."""
    ledger, eps = finished("rolled_back")
    [write] = eps.calls_named("record_on_package")
    event = copy.deepcopy(load_event("start_release", "registry-approved"))
    event["detail"]["CustomerMetadataProperties"] = write.args["properties"]
    event["detail"]["UpdatedModelPackageFields"] = ["CustomerMetadataProperties"]
    event["detail"]["LastModifiedTime"] += 60_000
    for ledger_now in (FakeLedger(), ledger):  # refused whatever the ledger says
        result, workflow, _ = run(event, ledger_now)
        assert result.status == "refused" and "not an approval" in result.reason
        assert workflow.started == []


@pytest.mark.parametrize("outcome", ["rolled_back", "promoted", "rejected", "failed"])
def test_a_package_with_an_outcome_is_refused_naming_it(outcome: str) -> None:
    result, workflow, eps = run(cli(), released(outcome))
    assert result.status == "refused"
    assert result.reason.startswith(
        f"{PACKAGE} was already released by release-guard: demo-endpoint-v2-0123456789ab "
        f"ended {outcome} at {T0.isoformat()}: 5xx_rate <= 5.00%: 12.1% of 950"
    )
    assert result.reason.endswith("start it with force (release-guard release start --force)")
    assert workflow.started == [] and eps.mutating_calls() == []


def test_a_re_approval_of_a_rolled_back_package_is_refused() -> None:
    result, workflow, _ = run(load_event("start_release", "registry-approval-update"), released())
    assert result.status == "refused" and "ended rolled_back" in result.reason
    assert workflow.started == []


def test_force_releases_it_again() -> None:
    result, workflow, _ = run(cli(force=True), released())
    assert result.status == "started"
    [(_, payload)] = workflow.started
    assert payload["force"] is True


def test_the_same_package_with_a_prompt_version_is_another_release() -> None:
    env = {"RG_PROMPT_ID": "p1"}
    prompt = {"name": "support-assistant", "version": 1, "environment": env}
    result, _, _ = run(cli(prompt=prompt), released())
    assert result.status == "started"
    # ... and that combination, once it has an outcome, is refused in turn.
    again, workflow, _ = run(cli(prompt=prompt), released(prompt=PROMPT))
    assert again.status == "refused" and "with prompt support-assistant/v1" in again.reason
    assert workflow.started == []
