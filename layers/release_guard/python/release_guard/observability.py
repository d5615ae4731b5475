"""Powertools Logger and Metrics, created once per process.

Tracing is the function's Active X-Ray tracing from the template; the Powertools
Tracer would add aws-xray-sdk to every layer for little more than that.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# A step that decides nothing emits no metric; that is expected, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
metrics = Metrics()

__all__ = ["MetricUnit", "boundary", "logger", "metrics"]


def boundary(fn: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    """Lambda context in every log line, metrics flushed at the end of each call."""

    @wraps(fn)
    def run(event: dict[str, Any], context: Any) -> Any:
        return fn(event, context)

    return logger.inject_lambda_context(clear_state=True)(metrics.log_metrics(run))
