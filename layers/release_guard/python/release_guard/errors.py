"""Typed errors. Class names are the ``ErrorEquals`` strings of the release ASL.

Only what the workflow must route is raised: a failed gate or a bad canary is a
verdict, not an error. Lambda reports ``errorType`` as the class name, which is
what Step Functions matches on.
"""

from __future__ import annotations


class ReleaseGuardError(Exception):
    """Base of every error the workflow routes."""


class InvalidReleaseRequest(ReleaseGuardError):
    """The request or the policy is wrong; nothing was changed on the endpoint."""

    def __init__(self, field: str, expected: str, got: object = None) -> None:
        self.field = field
        self.expected = expected
        detail = f"{field}: expected {expected}"
        if got is not None:
            detail += f", got {got!r}"
        super().__init__(detail)


class ReleaseLocked(ReleaseGuardError):
    """Another release holds the endpoint's lock."""


class AccessDenied(ReleaseGuardError):
    """A function's role may not make a call it needs: the stack's IAM is wrong. Never
    retried; the message names the principal, the action and the resource."""


class TransientError(ReleaseGuardError):
    """Throttling or a retryable AWS fault; Step Functions retries with jitter."""


class EndpointBusy(TransientError):
    """The endpoint is Updating/Creating; the call is retried once it settles."""


class EndpointUpdateFailed(ReleaseGuardError):
    """SageMaker could not apply an endpoint update; the release rolls back."""


class EndpointTimeout(ReleaseGuardError):
    """The endpoint did not reach InService before the policy's deadline."""


class RollbackNotVerified(ReleaseGuardError):
    """Rollback was retried to its limit and DescribeEndpoint never matched."""
