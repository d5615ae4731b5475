"""Drift checks wired to AWS: the DriftCheck Lambda and the Processing job run this.

``python -m release_guard.drift_job --endpoint E --variant V --at ISO`` is the
Processing job's entry point: the same check with no byte budget (docs/drift.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from release_guard.aws import drift as aws
from release_guard.aws.sagemaker import describe_endpoint
from release_guard.aws.workflow import read_json
from release_guard.drift.check import CheckOutcome, Places, load_drift_policy, run_check
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import BaselineRequest, DriftCheckRequest
from release_guard.settings import settings
from release_guard.wiring import now

JOB_ENV = ("RELEASE_POLICY_URI", "DATA_CAPTURE_S3_URI", "REPORTS_BUCKET", "TOPIC_ARN")


def check(req: DriftCheckRequest) -> list[CheckOutcome]:
    s = settings()
    policy = load_drift_policy(s.release_policy_uri, read_json)
    if not s.data_capture_s3_uri:
        raise InvalidReleaseRequest("DATA_CAPTURE_S3_URI", "the Data Capture S3 prefix")
    if not s.reports_bucket:
        raise InvalidReleaseRequest("REPORTS_BUCKET", "the stack bucket for drift state")
    places = Places(capture=s.data_capture_s3_uri, drift=f"s3://{s.reports_bucket}/drift")
    variants = [req.variant] if req.variant else _variants(req.endpoint)
    env = {k: v for k, v in _env(s).items() if v}
    jobs = aws.ProcessingJobs(
        s.drift_job_image, s.drift_job_role_arn, s.drift_job_instance_type, env
    )
    return [
        run_check(req.model_copy(update={"variant": v}), policy, places, aws, aws, aws, jobs, now())
        for v in variants
    ]


def baseline(req: BaselineRequest) -> dict[str, Any]:
    # Imported here: the scheduled check, which shares this module, never builds one.
    from release_guard.drift.baseline import build_baseline

    s = settings()
    policy = load_drift_policy(s.release_policy_uri, read_json)
    if not s.reports_bucket:
        raise InvalidReleaseRequest("REPORTS_BUCKET", "the stack bucket for baselines")
    _, summary = build_baseline(
        req, policy.payload, aws, aws.record_baseline, f"s3://{s.reports_bucket}/baselines", now()
    )
    return summary


def _variants(endpoint: str) -> list[str]:
    view = describe_endpoint(endpoint)
    if view is None:
        raise InvalidReleaseRequest("endpoint", "an existing SageMaker endpoint", endpoint)
    return [v.name for v in view.variants]


def _env(s: object) -> dict[str, str | None]:
    return {name: getattr(s, name.lower(), None) for name in JOB_ENV}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="release_guard.drift_job")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--variant")
    ap.add_argument("--at", type=datetime.fromisoformat)
    ap.add_argument("--baseline-uri")
    a = ap.parse_args(argv)
    req = DriftCheckRequest(
        endpoint=a.endpoint, variant=a.variant, at=a.at, baseline_uri=a.baseline_uri, in_job=True
    )
    for outcome in check(req):
        print(json.dumps(outcome.model_dump(mode="json", exclude={"report"})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
