"""SageMaker runtime and S3 objects for the eval runner (the ports of gate/runner.py).

- ``SageMakerInvoker``: InvokeEndpoint with TargetVariant. A ModelError (HTTP 424: the
  container answered 4XX/5XX) is an answer with the container's ``OriginalStatusCode``
  and ``OriginalMessage``, so the runner records it as a failed example; so is any other
  per-request refusal (ValidationError 400, a read timeout as 504). Throttling and
  connection failures that outlast botocore's retries raise TransientError: the
  workflow retries the whole run.
- ``S3Store``: text objects by ``s3://`` URI; a missing object reads as None.
- ``S3JudgeCache``: judge scores as small JSON objects under a prefix.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from release_guard.aws.clients import THROTTLING, client, code, message, raise_transient
from release_guard.aws.sagemaker import describe_endpoint
from release_guard.errors import InvalidReleaseRequest, TransientError

# SageMaker gives a container 60 s to answer a real-time request; read a little longer.
# Standard retries cover throttling and the service's own 5XX, never a ModelError (424).
_RUNTIME_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=70
)


@cache
def _runtime() -> Any:
    return boto3.client("sagemaker-runtime", config=_RUNTIME_CONFIG)


def _error_body(error_code: str, text: str) -> bytes:
    return json.dumps({"error": error_code, "message": text}).encode()


class SageMakerInvoker:
    """gate.runner.Invoker over sagemaker-runtime InvokeEndpoint."""

    def __init__(self, accept: str | None = None) -> None:
        self.accept = accept
        # Created here, on the caller's thread: creating boto3 clients from the default
        # session is not thread-safe, and invoke runs on the caller's worker threads.
        self._client = _runtime()

    def invoke(
        self, endpoint: str, variant: str | None, body: bytes, content_type: str
    ) -> tuple[int, bytes, str, float]:
        kwargs: dict[str, Any] = {
            "EndpointName": endpoint,
            "Body": body,
            "ContentType": content_type,
        }
        if variant:
            kwargs["TargetVariant"] = variant
        if self.accept:
            kwargs["Accept"] = self.accept
        start = time.perf_counter()
        try:
            resp = self._client.invoke_endpoint(**kwargs)
            out = resp["Body"].read()
            elapsed = (time.perf_counter() - start) * 1000
            return 200, out, str(resp.get("ContentType") or "application/octet-stream"), elapsed
        except ClientError as err:
            elapsed = (time.perf_counter() - start) * 1000
            kind = code(err)
            if kind == "ModelError":
                original = err.response.get("OriginalStatusCode")
                status = int(original) if original is not None else 500
                text = str(err.response.get("OriginalMessage") or message(err))
                return status, _error_body(kind, text), "application/json", elapsed
            if kind in THROTTLING or kind in ("ServiceUnavailable", "ModelNotReadyException"):
                raise TransientError(f"InvokeEndpoint {kind}: {message(err)}") from err
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
            return status, _error_body(kind, message(err)), "application/json", elapsed
        except ReadTimeoutError:
            elapsed = (time.perf_counter() - start) * 1000
            text = f"no answer within {_RUNTIME_CONFIG.read_timeout} s"
            return 504, _error_body("ReadTimeout", text), "application/json", elapsed
        except (EndpointConnectionError, ConnectTimeoutError) as err:
            raise TransientError(f"InvokeEndpoint: {err}") from err


def endpoint_variants(endpoint: str) -> list[str] | None:
    """Production variant names of an endpoint; None when it does not exist."""
    view = describe_endpoint(endpoint)
    return None if view is None else [v.name for v in view.variants]


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_bytes(uri: str, field: str = "s3 object") -> bytes | None:
    """None when the object does not exist (with s3:ListBucket on the bucket; without it
    S3 answers 403 for a missing key). No access or no bucket names ``field``."""
    bucket, key = split_uri(uri)
    try:
        return bytes(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as err:
        if code(err) in ("NoSuchKey", "404", "NotFound"):
            return None
        if code(err) in ("NoSuchBucket", "AccessDenied", "403"):
            raise InvalidReleaseRequest(
                field, "a readable S3 location", f"{uri}: {code(err)} {message(err)}"
            ) from err
        raise_transient(err)
        raise


def read_text(uri: str, field: str) -> str | None:
    """``read_bytes`` as UTF-8 text."""
    body = read_bytes(uri, field)
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidReleaseRequest(field, "UTF-8 text", f"{uri}: {err}") from err


def write_bytes(uri: str, body: bytes, content_type: str) -> None:
    bucket, key = split_uri(uri)
    try:
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except ClientError as err:
        raise_transient(err)
        raise


def write_text(uri: str, text: str, content_type: str) -> None:
    write_bytes(uri, text.encode("utf-8"), content_type)


class S3Store:
    """gate.runner.Store over S3."""

    def read_text(self, uri: str, field: str) -> str | None:
        return read_text(uri, field)

    def write_text(self, uri: str, text: str, content_type: str) -> None:
        write_text(uri, text, content_type)


class S3JudgeCache:
    """gate.runner.JudgeCacheStore: ``{prefix}/{key}.json`` = ``{"score": s}``. The key
    is already a hash of (judge model, rubric hash, target, output)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")
        client("s3")  # before any worker thread needs it (see SageMakerInvoker)

    def _uri(self, key: str) -> str:
        return f"{self.prefix}/{key}.json"

    def get(self, key: str) -> float | None:
        text = read_text(self._uri(key), "scorers.judge.cache_uri")
        if text is None:
            return None
        try:
            value = json.loads(text)["score"]
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is a miss; the next put repairs it
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def put(self, key: str, value: float) -> None:
        write_text(self._uri(key), json.dumps({"score": value}), "application/json")
