"""Every payload a handler takes or returns, as pydantic models.

The release state carries one key per stage (``release``, ``deploy``, ``endpoint``,
``canary``, ``verdict``, ``approval``, ``rollback``, ``promotion``, ``error``) so the
ASL writes each Task's result with its own ``ResultPath``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from release_guard.errors import InvalidReleaseRequest
from release_guard.policy import ReleasePolicy, Strict, describe_validation

NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # SageMaker endpoint / variant / model names
PACKAGE_ARN = r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package/\S+$"
RELEASE_ID = r"^[A-Za-z0-9_-]{1,80}$"  # a Step Functions execution name
PROMPT_NAME = r"^[a-z0-9](-?[a-z0-9]){0,31}$"  # prompts/<name>/: fits in a variant name
IMAGE = r"^\S+$"  # ContainerDefinition.Image: registry/repository[:tag|@digest]
MODEL_DATA = r"^(https|s3)://[^/]+/?.*$"  # ContainerDefinition.ModelDataUrl
S3_URI = r"^s3://[^/]+/.+$"

# SageMaker's limits on a ContainerDefinition's Environment (CreateModel API reference).
ENV_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ENV_MAX_ENTRIES = 100
ENV_MAX_BYTES = 1024  # each name and each value
ENV_MAX_TOTAL_BYTES = 32 * 1024  # all names and values together

Trigger = Literal["registry", "cli", "pipeline", "api"]


def json_kind(value: Any) -> str:
    """What JSON calls the type of ``value`` (a payload's), for the messages about it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def event_object(event: Any, expected: str, field: str = "event") -> dict[str, Any]:
    """``event`` itself when it is a JSON object. A Lambda's payload can be any JSON
    value (a number, a string, null...): anything else is the InvalidReleaseRequest
    that names the shapes the handler takes, raised before anything is read or changed."""
    if not isinstance(event, dict):
        raise InvalidReleaseRequest(field, expected, json_kind(event))
    return event


def event_text(event: dict[str, Any], key: str, expected: str) -> str:
    """``event[key]`` when it is a non-empty string; else the InvalidReleaseRequest."""
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidReleaseRequest(key, expected, json_kind(value) if key in event else None)
    return value


# What StartRelease takes: a request (CLI, pipeline, API), or the registry's event.
START_EVENTS = (
    'a JSON object: a StartRelease request ({"endpoint_name": ..., "model_package_arn" '
    'or "container": ...}) or EventBridge\'s "SageMaker Model Package State Change" event'
)


def parse[M: BaseModel](model: type[M], data: Any, field: str) -> M:
    """Validate ``data`` as ``model``; errors name the field and what was expected."""
    if not isinstance(data, dict):
        raise InvalidReleaseRequest(field, "a JSON object", json_kind(data))
    try:
        return model.model_validate(data)
    except ValidationError as err:
        path, expected = describe_validation(err, field)
        raise InvalidReleaseRequest(path, expected) from None


def environment_problem(env: Mapping[str, str]) -> str | None:
    """What CreateModel would reject in a container's Environment, or None."""
    if len(env) > ENV_MAX_ENTRIES:
        return f"at most {ENV_MAX_ENTRIES} variables (SageMaker's limit), got {len(env)}"
    total = 0
    for name, value in env.items():
        if not ENV_NAME.match(name) or len(name.encode()) > ENV_MAX_BYTES:
            return f"{name!r} is not a variable name ([a-zA-Z_][a-zA-Z0-9_]*)"
        size = len(value.encode())
        if size > ENV_MAX_BYTES:
            return (
                f"{name} is {size} bytes: SageMaker allows at most {ENV_MAX_BYTES} bytes "
                "per Environment value"
            )
        total += len(name.encode()) + size
    if total > ENV_MAX_TOTAL_BYTES:
        return f"{total} bytes in all: SageMaker allows at most {ENV_MAX_TOTAL_BYTES}"
    return None


def check_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` itself, or ValueError when SageMaker would refuse it."""
    problem = environment_problem(env)
    if problem:
        raise ValueError(problem)
    return env


class ContainerSpec(Strict):
    """A serving container given by image (instead of a model package): what
    CreateModel's ContainerDefinition takes."""

    image: str = Field(pattern=IMAGE, max_length=255)
    model_data_url: str | None = Field(None, pattern=MODEL_DATA, max_length=1024)
    environment: dict[str, str] = Field(default_factory=dict)

    _env = field_validator("environment")(check_environment)


class PromptRef(Strict):
    """A prompt version (prompts/<name>/v<version>.yaml) as the container environment
    it sets: the candidate is the same model with this configuration (docs/manifests.md)."""

    name: str = Field(pattern=PROMPT_NAME)
    version: int = Field(ge=1, le=9999)
    environment: dict[str, str] = Field(description="RG_PROMPT_* variables and extras")
    eval_dataset_uri: str | None = Field(None, pattern=S3_URI)

    _env = field_validator("environment")(check_environment)

    @property
    def label(self) -> str:
        return f"{self.name}/v{self.version}"

    @property
    def digest(self) -> str:
        """Identifies the configuration itself: an edited version has another digest."""
        canonical = json.dumps(self.environment, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def model_key(package_arn: str | None, container: ContainerSpec | None) -> str:
    """What identifies the model (not the prompt): the package ARN, or the container."""
    if package_arn:
        return package_arn
    if container is None:
        raise ValueError("a model package or a container")
    return json.dumps(container.model_dump(mode="json"), sort_keys=True)


class StartRelease(Strict):
    """A request to release a model onto an endpoint (CLI, pipeline, API): a model
    package or a container image, optionally with a prompt version."""

    endpoint_name: str = Field(pattern=NAME)
    model_package_arn: str | None = Field(None, pattern=PACKAGE_ARN, max_length=2048)
    container: ContainerSpec | None = Field(None, description="instead of a model package")
    prompt: PromptRef | None = None
    candidate_variant: str | None = Field(None, pattern=NAME)
    instance_type: str | None = Field(None, pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int | None = Field(None, ge=1, le=100)
    policy: dict[str, Any] | None = None
    policy_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+$")
    release_id: str | None = Field(None, pattern=RELEASE_ID)
    trigger: Trigger = "api"
    requested_by: str | None = Field(None, max_length=256)
    force: bool | None = Field(
        None, description="true: release a package (with this prompt) that has an outcome"
    )

    @model_validator(mode="after")
    def _one_model(self) -> StartRelease:
        if (self.model_package_arn is None) == (self.container is None):
            raise ValueError("model_package_arn or container: exactly one of them")
        env = {
            **(self.container.environment if self.container else {}),
            **(self.prompt.environment if self.prompt else {}),
        }
        problem = environment_problem(env)
        if problem:
            raise ValueError(f"the container's environment with the prompt's: {problem}")
        return self

    @property
    def model_key(self) -> str:
        return model_key(self.model_package_arn, self.container)


class ModelPackageDetail(BaseModel):
    """``detail`` of "SageMaker Model Package State Change"; AWS may add fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    ModelPackageGroupName: str
    ModelPackageArn: str = Field(pattern=PACKAGE_ARN, max_length=2048)
    ModelPackageVersion: int | None = None
    ModelApprovalStatus: str
    ModelPackageStatus: str | None = None
    LastModifiedTime: int | float | str | None = None
    CreationTime: int | float | str | None = None
    UpdatedModelPackageFields: list[str] | None = Field(
        None, description="on an update: the fields it changed; absent on a creation"
    )


class ModelPackageStateChange(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    id: str
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    time: str | None = None
    detail: ModelPackageDetail


class StartResult(Strict):
    status: Literal["started", "duplicate", "ignored", "refused", "pending"]
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
    model_package_arn: str | None = None
    model_package_group: str | None = None
    model_package_version: int | None = None
    container: ContainerSpec | None = Field(None, description="when there is no package")
    prompt: PromptRef | None = None
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

    # JSON (and so Step Functions and the ledger) has no infinity: an interval's
    # unbounded end is written as null and read back as infinity.
    @field_validator("interval", mode="before")
    @classmethod
    def _read_unbounded(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) == 2:
            lo, hi = value
            return (0.0 if lo is None else lo, math.inf if hi is None else hi)
        return value

    @field_serializer("interval", when_used="json")
    def _write_unbounded(self, value: tuple[float, float] | None) -> list[float | None] | None:
        if value is None:
            return None
        return [v if math.isfinite(v) else None for v in value]


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
    """An operator's answer to a hold: approve (the verdict's next step, or promotion
    at the last step), promote (straight to 100 %, then the post-promotion watch) or
    abort (verified rollback)."""

    decision: Literal["approve", "promote", "abort"]
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
    model_package_arn: str | None = Field(None, pattern=PACKAGE_ARN, max_length=2048)
