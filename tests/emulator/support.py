"""Helpers for the data plane tests: read back what the emulator wrote to moto."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import boto3

from tests.e2e.support import wait_for

REGION = "us-east-1"
FAST = {"RG_EMU_LATENCY_MS": "0"}  # no injected sleep: tests stay fast


def metric(
    endpoint: str,
    variant: str,
    name: str,
    stat: str,
    period: int = 900,
) -> list[float]:
    """GetMetricData values of one SageMaker metric over a window around now."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    resp = boto3.client("cloudwatch", region_name=REGION).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": variant},
                        ],
                    },
                    "Period": period,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - dt.timedelta(seconds=period // 2),
        EndTime=now + dt.timedelta(seconds=period // 2),
    )
    values: list[float] = resp["MetricDataResults"][0]["Values"]
    return values


def capture_objects(bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Every Data Capture object in ``bucket``: key -> parsed JSON Lines records."""
    s3 = boto3.client("s3", region_name=REGION)
    out: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            text = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            assert text.endswith("\n"), "JSON Lines objects end with a newline"
            out[obj["Key"]] = [json.loads(line) for line in text.splitlines()]
    return out


def until[T](probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """``probe()`` once it is truthy (tests/e2e/support.py's wait_for, polling faster)."""
    return wait_for(probe, timeout, what, poll=0.05)
