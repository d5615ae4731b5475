"""The drift check's outside world: S3 objects, the variant's model package, CloudWatch
metrics, EventBridge events, SNS, and the SageMaker Processing job it can hand off to."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from release_guard.aws import sagemaker
from release_guard.aws.clients import client, code, message, raise_transient
from release_guard.aws.runtime import read_bytes, split_uri, write_bytes
from release_guard.aws.workflow import notify
from release_guard.errors import InvalidReleaseRequest, TransientError

BASELINE_KEY = "release-guard:baseline"
SOURCE = "release-guard"
# drift.check's Store and Outputs: the shared S3 reader/writer and the stack's SNS topic.
__all__ = [
    "ProcessingJobs",
    "baseline_for",
    "list_objects",
    "notify",
    "put_event",
    "put_metrics",
    "read_bytes",
    "record_baseline",
    "write_bytes",
]
# PutMetricData takes at most 1,000 metrics per request.
METRICS_PER_CALL = 1000


def list_objects(prefix_uri: str) -> list[tuple[str, int]]:
    bucket, prefix = split_uri(prefix_uri)
    out: list[tuple[str, int]] = []
    try:
        for page in (
            client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            out += [(f"s3://{bucket}/{o['Key']}", int(o["Size"])) for o in page.get("Contents", [])]
    except ClientError as err:
        if code(err) in ("NoSuchBucket", "AccessDenied"):
            raise InvalidReleaseRequest(
                "capture location", "a listable S3 prefix", f"{prefix_uri}: {code(err)}"
            ) from err
        raise_transient(err)
        raise
    return out


def _package_of(endpoint: str, variant: str) -> str | None:
    view = sagemaker.describe_endpoint(endpoint)
    if view is None:
        raise InvalidReleaseRequest("endpoint", "an existing SageMaker endpoint", endpoint)
    config = sagemaker.describe_endpoint_config(view.config_name)
    models = [
        v.get("ModelName")
        for v in config.get("ProductionVariants", [])
        if v.get("VariantName") == variant
    ]
    if not models:
        names = [v.get("VariantName") for v in config.get("ProductionVariants", [])]
        raise InvalidReleaseRequest("variant", f"a variant of {endpoint}: {names}", variant)
    try:
        model = client("sagemaker").describe_model(ModelName=models[0])
    except ClientError as err:
        if code(err) == "ValidationException":
            return None
        raise_transient(err)
        raise
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    return next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)


def baseline_for(endpoint: str, variant: str) -> tuple[str | None, str | None]:
    """(profile URI recorded on the variant's model package, the package ARN)."""
    package = _package_of(endpoint, variant)
    if package is None:
        return None, None
    described = sagemaker.describe_model_package(package) or {}
    props = described.get("CustomerMetadataProperties") or {}
    return props.get(BASELINE_KEY), package


def record_baseline(package_arn: str, uri: str) -> None:
    described = sagemaker.describe_model_package(package_arn)
    if described is None:
        raise InvalidReleaseRequest("model_package_arn", "an existing model package", package_arn)
    sagemaker.record_on_package(package_arn, {BASELINE_KEY: uri})


def put_metrics(namespace: str, data: list[dict[str, Any]]) -> None:
    for i in range(0, len(data), METRICS_PER_CALL):
        try:
            client("cloudwatch").put_metric_data(
                Namespace=namespace, MetricData=data[i : i + METRICS_PER_CALL]
            )
        except ClientError as err:
            raise_transient(err)
            raise


def put_event(detail_type: str, detail: dict[str, Any]) -> None:
    entry = {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail)}
    try:
        resp = client("events").put_events(Entries=[entry])
    except ClientError as err:
        raise_transient(err)
        raise
    if resp.get("FailedEntryCount"):
        failed = resp["Entries"][0]
        raise TransientError(f"PutEvents: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}")


class ProcessingJobs:
    """drift.check.Jobs: the same check in a SageMaker Processing job (docs/drift.md).

    Configured by the image (with release_guard installed), a role and an instance
    type; without an image there is no hand-off and the Lambda reads within budget."""

    def __init__(
        self, image: str | None, role_arn: str | None, instance_type: str, env: dict[str, str]
    ) -> None:
        self.image, self.role_arn = image, role_arn
        self.instance_type, self.env = instance_type, env

    def start(self, name: str, arguments: list[str]) -> str | None:
        if not self.image or not self.role_arn:
            return None
        try:
            client("sagemaker").create_processing_job(
                ProcessingJobName=name,
                ProcessingResources={
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": self.instance_type,
                        "VolumeSizeInGB": 30,
                    }
                },
                StoppingCondition={"MaxRuntimeInSeconds": 6 * 3600},
                AppSpecification={
                    "ImageUri": self.image,
                    "ContainerEntrypoint": ["python3", "-m", "release_guard.drift.job"],
                    "ContainerArguments": arguments,
                },
                Environment=self.env,
                RoleArn=self.role_arn,
            )
        except ClientError as err:
            if code(err) == "ResourceInUse":  # a repeated run already started it
                return name
            raise_transient(err)
            raise InvalidReleaseRequest(
                "processing job", "a job SageMaker accepts", message(err)
            ) from err
        return name

    def status(self, name: str) -> str | None:
        try:
            resp = client("sagemaker").describe_processing_job(ProcessingJobName=name)
        except ClientError as err:
            if code(err) == "ValidationException":
                return None
            raise_transient(err)
            raise
        return str(resp.get("ProcessingJobStatus"))
