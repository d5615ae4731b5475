"""Build Baseline: profile a reference dataset for drift checks and record it on the
model package."""

from typing import Any

from release_guard.drift_job import baseline
from release_guard.events import BaselineRequest, parse
from release_guard.observability import boundary, logger


@boundary
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = parse(BaselineRequest, event, "event")
    summary = baseline(req)
    logger.info("baseline built", extra={"baseline": summary})
    return summary
