"""S3 objects of the eval gate: record files in, reports out (the runner's S3 access,
with a missing record file being the caller's bad input)."""

from __future__ import annotations

from release_guard.aws.runtime import read_text as read_if_present
from release_guard.aws.runtime import write_text
from release_guard.errors import InvalidReleaseRequest

__all__ = ["read_text", "write_text"]


def read_text(uri: str, field: str) -> str:
    text = read_if_present(uri, field)
    if text is None:
        raise InvalidReleaseRequest(field, "a readable S3 object", f"{uri}: no such object")
    return text
