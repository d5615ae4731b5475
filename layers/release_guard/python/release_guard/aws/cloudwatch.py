"""Per-variant CloudWatch series for the judge: one GetMetricData call per variant."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from release_guard.aws.clients import client, raise_transient


def variant_series(
    endpoint: str,
    variant: str,
    start: datetime,
    end: datetime,
    period: int,
    wanted: dict[str, tuple[str, str, str]],
) -> dict[str, list[float | None]]:
    """Per-period values for key -> (namespace, metric, stat), from ``start`` (a period
    boundary) for every whole period before ``end``; None where no datapoint exists."""
    count = max(0, int((end - start).total_seconds() // period))
    out: dict[str, list[float | None]] = {key: [None] * count for key in wanted}
    if count == 0:
        return out
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    ids = {f"q{i}": key for i, key in enumerate(wanted)}
    queries = [
        {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": wanted[key][0],
                    "MetricName": wanted[key][1],
                    "Dimensions": dims,
                },
                "Period": period,
                "Stat": wanted[key][2],
            },
            "ReturnData": True,
        }
        for qid, key in ids.items()
    ]
    stop = start + timedelta(seconds=count * period)
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": stop}
    try:
        while True:
            resp = client("cloudwatch").get_metric_data(**kwargs)
            for result in resp.get("MetricDataResults", []):
                values = out[ids[result["Id"]]]
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                for ts, value in pairs:
                    index = int((ts - start).total_seconds() // period)
                    if 0 <= index < count:
                        values[index] = float(value)
            token = resp.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    except ClientError as err:
        raise_transient(err)
        raise
    return out
