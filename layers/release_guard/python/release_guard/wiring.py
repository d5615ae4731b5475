"""What every release handler builds at cold start: settings-derived defaults."""

from __future__ import annotations

from datetime import UTC, datetime

from release_guard.canary.release import Defaults
from release_guard.settings import settings


def defaults() -> Defaults:
    s = settings()
    return Defaults(
        instance_type=s.candidate_instance_type,
        instance_count=s.candidate_instance_count,
        policy_uri=s.release_policy_uri,
        role_arn=s.model_execution_role_arn,
        capture_uri=s.data_capture_s3_uri,
        reports_bucket=s.reports_bucket,
    )


def now() -> datetime:
    return datetime.now(UTC)
