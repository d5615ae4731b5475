"""Drift Check: a scheduled comparison of live traffic (Data Capture) with a baseline."""

from typing import Any

from release_guard.drift_job import check
from release_guard.events import DriftCheckRequest, parse
from release_guard.observability import MetricUnit, boundary, logger, metrics


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(DriftCheckRequest, event, "event")
    outcomes = check(req)
    for o in outcomes:
        metrics.add_metric(name="DriftChecks", unit=MetricUnit.Count, value=1)
        logger.info("drift check", extra={"check": o.model_dump(mode="json", exclude={"report"})})
    return {"checks": [o.model_dump(mode="json", exclude={"report"}) for o in outcomes]}
