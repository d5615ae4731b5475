"""Release policies: versioned, validated once, recorded with every decision.

Policies are JSON (or YAML, converted by the CLI) validated with ``extra="forbid"``
so a typo is an error, never a silently ignored setting.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from release_guard.errors import InvalidReleaseRequest


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuardRules(Strict):
    """Issue-2 guard rules; the candidate is compared with the champion's same window."""

    max_5xx_rate: float = Field(0.05, gt=0, lt=1, description="candidate 5XX / invocations")
    max_p95_latency_ratio: float = Field(
        2.0, gt=1, description="candidate p95 ModelLatency / champion p95 ModelLatency"
    )
    min_invocations: int = Field(
        100, ge=1, description="candidate invocations a step needs before it is judged"
    )


class CanaryPolicy(Strict):
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    min_bake_seconds: int = Field(600, ge=1)
    check_interval_seconds: int = Field(60, ge=1)
    max_bake_seconds: int = Field(3600, ge=1)
    on_insufficient_data: Literal["hold", "rollback"] = "hold"
    metric_period_seconds: int = Field(60, ge=1)
    metric_delay_seconds: int = Field(
        0, ge=0, description="how far CloudWatch lags; the judged window ends this long ago"
    )
    post_promotion_watch_seconds: int = Field(300, ge=0)
    guards: GuardRules = Field(default_factory=GuardRules)

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[float]) -> list[float]:
        if not steps:
            raise ValueError("at least one step, ending at 100")
        for pct in steps:
            if not 0 < pct <= 100:
                raise ValueError(f"each step is a percentage in (0, 100], got {pct}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100, got {steps[-1]}")
        return steps

    @field_validator("metric_period_seconds")
    @classmethod
    def _period(cls, period: int) -> int:
        # CloudWatch accepts 1, 5, 10, 30 (high resolution) or a multiple of 60.
        if period not in (1, 5, 10, 30) and period % 60:
            raise ValueError(f"1, 5, 10, 30 or a multiple of 60, got {period}")
        return period


class DeploymentPolicy(Strict):
    in_service_timeout_seconds: int = Field(3600, ge=1)
    poll_seconds: int = Field(30, ge=1)
    data_capture_sampling_percent: int = Field(100, ge=0, le=100)


class ReleasePolicy(Strict):
    version: str = Field(min_length=1, max_length=64)
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy)
    deployment: DeploymentPolicy = Field(default_factory=DeploymentPolicy)
    operator_timeout_seconds: int = Field(86400, ge=60)
    rollback_poll_seconds: int = Field(10, ge=1)
    rollback_max_attempts: int = Field(360, ge=1)


DEFAULT_POLICY = ReleasePolicy(version="default-1")


def describe_validation(err: ValidationError, prefix: str) -> tuple[str, str]:
    """The first failing field as a dotted path and what was expected of it."""
    first = err.errors()[0]
    path = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    expected = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        expected = "no such field (unknown fields are rejected)"
    return path, expected


def parse_policy(data: Any, field: str = "policy") -> ReleasePolicy:
    """Validate a policy document, raising an error that names the field."""
    if not isinstance(data, dict):
        raise InvalidReleaseRequest(field, "a JSON object", type(data).__name__)
    try:
        return ReleasePolicy.model_validate(data)
    except ValidationError as err:
        path, expected = describe_validation(err, field)
        raise InvalidReleaseRequest(path, expected) from None
