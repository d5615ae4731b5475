"""boto3 clients, created once per process (Lambda cold start) and reused."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from release_guard.errors import AccessDenied, EndpointBusy, TransientError

# Standard mode retries throttling with backoff inside one Lambda call; what is
# still failing after that is raised as TransientError for Step Functions to retry.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30
)

THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
}


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


def code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def message(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Message", ""))


# What each service answers a call the caller's IAM policies do not allow.
DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation"}


def raise_transient(err: ClientError) -> None:
    """Re-raise throttling and in-progress conflicts as the errors the ASL retries, and
    a refusal by IAM as AccessDenied (a deployment problem no retry fixes)."""
    if code(err) in DENIED:
        operation = err.operation_name or "a call"
        raise AccessDenied(f"{operation}: {message(err)}") from err
    if code(err) in THROTTLING:
        raise TransientError(f"{code(err)}: {message(err)}") from err
    if "in-progress" in message(err) or "is in the process of" in message(err):
        raise EndpointBusy(message(err)) from err
