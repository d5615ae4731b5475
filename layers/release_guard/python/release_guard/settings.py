"""Wiring from environment variables, validated once at cold start (handlers only)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import Field

from release_guard.policy import Strict


class Settings(Strict):
    ledger_table: str = Field(min_length=1)
    topic_arn: str | None = None
    endpoint_name: str | None = None
    model_package_group: str | None = None
    candidate_instance_type: str = "ml.g5.2xlarge"
    candidate_instance_count: int = Field(1, ge=1)
    release_policy_uri: str | None = None
    model_execution_role_arn: str | None = None
    data_capture_s3_uri: str | None = None
    state_machine_arn: str | None = None
    reports_bucket: str | None = None
    drift_job_image: str | None = None
    drift_job_role_arn: str | None = None
    drift_job_instance_type: str = "ml.m5.2xlarge"
    start_function_name: str | None = None


@cache
def settings() -> Settings:
    env = {k.lower(): v for k, v in os.environ.items() if v != ""}
    fields = Settings.model_fields
    return Settings.model_validate({k: v for k, v in env.items() if k in fields})
