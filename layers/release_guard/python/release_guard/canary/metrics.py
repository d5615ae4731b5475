"""The metrics the judge knows, and where CloudWatch keeps them.

Rate metrics are bad events over requests, latency metrics are CloudWatch percentiles,
mean metrics are a per-request average (a Sum over the request count). AWS/SageMaker
metrics carry the dimensions EndpointName + VariantName; the application's GenAI
metrics are expected in its own namespace with the same two dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Kind = Literal["rate", "latency", "mean"]
SAGEMAKER = "AWS/SageMaker"
APP = "app"  # resolved to the policy's app_namespace


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    namespace: str
    numerator: str  # bad events (rate), latency metric, or the summed quantity (mean)
    denominator: str | None  # requests the numerator is counted over
    unit: str  # how the estimate is shown
    scale: float = 1.0  # CloudWatch value x scale = shown value


CATALOG: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("5xx_rate", "rate", SAGEMAKER, "Invocation5XXErrors", "Invocations", "%"),
        MetricSpec("4xx_rate", "rate", SAGEMAKER, "Invocation4XXErrors", "Invocations", "%"),
        MetricSpec("model_latency", "latency", SAGEMAKER, "ModelLatency", None, "ms", 1e-3),
        MetricSpec("time_to_first_token", "latency", APP, "TimeToFirstToken", None, "ms"),
        MetricSpec("guardrail_rate", "rate", APP, "GuardrailTriggers", "Requests", "%"),
        MetricSpec("negative_feedback_rate", "rate", APP, "NegativeFeedback", "Requests", "%"),
        MetricSpec("refusal_rate", "rate", APP, "Refusals", "Requests", "%"),
        MetricSpec("tokens_per_request", "mean", APP, "OutputTokens", "Requests", "tokens"),
        MetricSpec("cost_per_request", "mean", APP, "CostUSD", "Requests", "USD"),
    )
}


def series_key(namespace: str, metric: str, stat: str) -> str:
    """The key a per-period series is stored under in a snapshot."""
    prefix = "" if namespace == SAGEMAKER else "app:"
    return f"{prefix}{metric}:{stat}"


def align(ts: datetime, period: int) -> datetime:
    """Down to a period boundary, as CloudWatch aligns its datapoints."""
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period, tz=ts.tzinfo)
