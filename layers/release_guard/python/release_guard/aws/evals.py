"""S3 objects of the eval gate: record files in, reports out."""

from __future__ import annotations

from botocore.exceptions import ClientError

from release_guard.aws.clients import client, code, message, raise_transient
from release_guard.errors import InvalidReleaseRequest


def split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_text(uri: str, field: str) -> str:
    """An unreadable object is the caller's bad input, named by its field and URI."""
    bucket, key = split(uri)
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if code(err) in ("NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403"):
            raise InvalidReleaseRequest(
                field, "a readable S3 object", f"{uri}: {code(err)} {message(err)}"
            ) from err
        raise_transient(err)
        raise
    try:
        return str(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InvalidReleaseRequest(field, "UTF-8 text", f"{uri}: {err}") from err


def write_text(uri: str, text: str, content_type: str) -> None:
    bucket, key = split(uri)
    try:
        client("s3").put_object(
            Bucket=bucket, Key=key, Body=text.encode(), ContentType=content_type
        )
    except ClientError as err:
        raise_transient(err)
        raise
