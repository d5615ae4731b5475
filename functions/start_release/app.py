"""Start a release: from the registry's approval event, the CLI or a pipeline."""

from typing import Any

from release_guard.aws import ledger, sagemaker, workflow
from release_guard.canary.start import Stack, start
from release_guard.events import START_EVENTS, event_object
from release_guard.observability import MetricUnit, boundary, logger, metrics
from release_guard.settings import settings
from release_guard.wiring import defaults, now

SETTINGS = settings()
STACK = Stack(SETTINGS.state_machine_arn, SETTINGS.endpoint_name, SETTINGS.model_package_group)


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    # Any JSON value can be a payload: a number or null is refused, naming the request
    # and the event it takes, before anything is read or changed.
    request = event_object(event, START_EVENTS)
    result = start(request, STACK, sagemaker, ledger, workflow, defaults(), now())
    if result.status == "started":
        metrics.add_metric(name="ReleasesStarted", unit=MetricUnit.Count, value=1)
    # A refusal (no approval, or a package already released) is an answer, not an error.
    log = logger.warning if result.status == "refused" else logger.info
    log("start", extra={"result": result.model_dump(mode="json")})
    return result.model_dump(mode="json")
