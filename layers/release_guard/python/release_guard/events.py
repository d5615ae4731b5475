"""Every payload a handler takes or returns, as pydantic models.

The release state carries one key per stage (``release``, ``deploy``, ``endpoint``,
``canary``, ``verdict``, ``approval``, ``rollback``, ``promotion``, ``error``) so the
ASL writes each Task's result with its own ``ResultPath``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from release_guard.errors import InvalidReleaseRequest
from release_guard.policy import ReleasePolicy, Strict, describe_validation

NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # SageMaker endpoint / variant / model names
PACKAGE_ARN = r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package/\S{1,2048}$"
RELEASE_ID = r"^[A-Za-z0-9_-]{1,80}$"  # a Step Functions execution name

Trigger = Literal["registry", "cli", "pipeline", "api"]


def parse[M: BaseModel](model: type[M], data: Any, field: str) -> M:
    """Validate ``data`` as ``model``; errors name the field and what was expected."""
    if not isinstance(data, dict):
        raise InvalidReleaseRequest(field, "a JSON object", type(data).__name__)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        path, expected = describe_validation(err, field)
        raise InvalidReleaseRequest(path, expected) from None


class StartRelease(Strict):
    """A request to release a model package onto an endpoint (CLI, pipeline, API)."""

    endpoint_name: str = Field(pattern=NAME)
    model_package_arn: str = Field(pattern=PACKAGE_ARN)
    candidate_variant: str | None = Field(None, pattern=NAME)
    instance_type: str | None = Field(None, pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int | None = Field(None, ge=1, le=100)
    policy: dict[str, Any] | None = None
    policy_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+$")
    release_id: str | None = Field(None, pattern=RELEASE_ID)
    trigger: Trigger = "api"
    requested_by: str | None = Field(None, max_length=256)


class ModelPackageDetail(BaseModel):
    """``detail`` of "SageMaker Model Package State Change"; AWS may add fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    ModelPackageGroupName: str
    ModelPackageArn: str = Field(pattern=PACKAGE_ARN)
    ModelPackageVersion: int | None = None
    ModelApprovalStatus: str
    ModelPackageStatus: str | None = None
    LastModifiedTime: int | float | str | None = None
    CreationTime: int | float | str | None = None


class ModelPackageStateChange(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    id: str
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    time: str | None = None
    detail: ModelPackageDetail


class StartResult(Strict):
    status: Literal["started", "duplicate", "ignored"]
    release_id: str | None = None
    execution_arn: str | None = None
    reason: str


class Variant(Strict):
    name: str
    model_name: str
    instance_type: str
    instance_count: int


class ReleaseContext(Strict):
    """What Prepare Release resolved; every later state reads it from ``$.release``."""

    release_id: str
    endpoint_name: str
    champion: Variant
    candidate: Variant
    model_package_arn: str
    model_package_group: str | None = None
    model_package_version: int | None = None
    policy: ReleasePolicy
    trigger: Trigger
    requested_by: str | None = None
    started_at: datetime
    lock_seconds: int = Field(ge=60)
    eval_runs_prefix: str | None = None


class DeployResult(Strict):
    endpoint_config_name: str
    previous_endpoint_config_name: str
    changed: bool
    deadline: datetime


class EndpointState(Strict):
    status: str
    ready: bool
    wait_seconds: int
    failure_reason: str | None = None


class StepRef(Strict):
    """Which step to shift to."""

    index: int = Field(ge=0)


class CanaryState(Strict):
    step_index: int = Field(ge=0)
    percent: float
    step_started_at: datetime
    checks: int = Field(0, ge=0)
    wait_seconds: int = Field(1, ge=1)


Action = Literal["keep_baking", "next_step", "promote", "rollback", "hold"]
Outcome = Literal["pass", "fail", "no_data", "pending"]


class Finding(Strict):
    """One metric's evidence in a verdict."""

    metric: str
    outcome: Outcome
    candidate: float | None
    champion: float | None
    threshold: float | None
    candidate_n: int
    champion_n: int
    reason: str
    interval: tuple[float, float] | None = None
    action: Literal["rollback", "hold"] = "rollback"
    critical: bool = True
    e_value: float | None = Field(None, description="evidence of a regression; >= 1/alpha fails")
    ratio: float | None = None
    periods: int | None = None
    required_n: int | None = Field(None, description="more candidate requests the rule needs")
    required_periods: int | None = Field(None, description="more periods the rule needs")


class Verdict(Strict):
    action: Action
    reason: str
    step_index: int
    percent: float
    next_step_index: int | None = None
    wait_seconds: int = Field(0, ge=0)
    window_start: datetime
    window_end: datetime
    findings: list[Finding]
    policy_version: str
    checks: int = Field(ge=1)


class ApprovalDecision(Strict):
    decision: Literal["approve", "abort"]
    operator: str | None = None
    note: str | None = None


class ReconcileResult(Strict):
    """Output of Roll Back / Promote: done only when DescribeEndpoint agrees."""

    verified: bool
    phase: str
    detail: str
    wait_seconds: int = Field(ge=1)
    attempts: int = Field(ge=0)
    weights: dict[str, float] = Field(default_factory=dict)


class VariantMetrics(Strict):
    """One variant's AWS/SageMaker metrics over the judged window (None: not published)."""

    invocations: int | None
    errors_4xx: int | None
    errors_5xx: int | None
    p95_latency_us: float | None
    latency_samples: int = 0


class MetricsSnapshot(Strict):
    window_start: datetime
    window_end: datetime
    candidate: VariantMetrics
    champion: VariantMetrics


class VariantView(Strict):
    name: str
    current_weight: float | None = None
    desired_weight: float | None = None
    current_instance_count: int | None = None


class EndpointView(Strict):
    """The parts of DescribeEndpoint the release reads back."""

    name: str
    status: str
    config_name: str
    variants: list[VariantView]
    failure_reason: str | None = None

    def variant(self, name: str) -> VariantView | None:
        return next((v for v in self.variants if v.name == name), None)


class DriftCheckRequest(Strict):
    """A scheduled drift check (the schedule's Input) or one run by hand."""

    endpoint: str = Field(pattern=NAME)
    variant: str | None = Field(None, pattern=NAME, description="default: every variant")
    at: datetime | None = Field(None, description="check as of this time (default: now)")
    baseline_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+$")
    in_job: bool = Field(False, description="running in the Processing job: no byte budget")


class BaselineRequest(Strict):
    """Build a baseline profile from a reference dataset (or import Model Monitor's)."""

    dataset_uri: str = Field(pattern=r"^s3://[^/]+/.+$")
    format: Literal["csv", "jsonl", "capture"] = Field(
        "csv", description="csv with a header row, JSON Lines rows, or Data Capture files"
    )
    output_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+\.json$")
    model_package_arn: str | None = Field(None, pattern=PACKAGE_ARN)
