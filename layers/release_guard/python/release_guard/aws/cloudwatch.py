"""Per-variant AWS/SageMaker metrics over one window, and EMF-free custom metrics."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from release_guard.aws.clients import client, raise_transient
from release_guard.events import VariantMetrics

NAMESPACE = "AWS/SageMaker"


def _query(qid: str, metric: str, dims: list[dict[str, str]], stat: str, period: int) -> dict:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def window_period(start: datetime, end: datetime, base: int) -> int:
    """One period covering the whole window, so p95 is the window's p95, not a mean of
    per-minute p95s (percentiles of different periods cannot be combined)."""
    seconds = max(1.0, (end - start).total_seconds())
    return int(math.ceil(seconds / base) * base)


def variant_metrics(
    endpoint: str, variant: str, start: datetime, end: datetime, base_period: int
) -> VariantMetrics:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    period = window_period(start, end, base_period)
    queries = [
        _query("inv", "Invocations", dims, "Sum", period),
        _query("e4", "Invocation4XXErrors", dims, "Sum", period),
        _query("e5", "Invocation5XXErrors", dims, "Sum", period),
        _query("p95", "ModelLatency", dims, "p95", period),
        _query("n", "ModelLatency", dims, "SampleCount", period),
    ]
    values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    try:
        while True:
            resp = client("cloudwatch").get_metric_data(**kwargs)
            for result in resp.get("MetricDataResults", []):
                values[result["Id"]].extend(float(v) for v in result.get("Values", []))
            token = resp.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    except ClientError as err:
        raise_transient(err)
        raise

    def total(qid: str) -> int | None:
        vals = values[qid]
        if not vals or any(math.isnan(v) or v < 0 for v in vals):
            return None
        return round(sum(vals))

    p95 = values["p95"]
    return VariantMetrics(
        invocations=total("inv"),
        errors_4xx=total("e4"),
        errors_5xx=total("e5"),
        p95_latency_us=max(p95) if p95 and not any(math.isnan(v) for v in p95) else None,
        latency_samples=total("n") or 0,
    )
