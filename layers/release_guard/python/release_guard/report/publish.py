"""Finish Release's last act: write the release report next to the gate's, in the
stack bucket under ``reports/<release_id>/``. A report is never worth a release: any
failure here is logged and recorded on the release summary, and the release ends as
it would have."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from release_guard.events import EndpointView
from release_guard.report import render


class Ledger(Protocol):
    def release_items(self, release_id: str) -> list[dict[str, Any]]: ...
    def update_summary(self, release_id: str, fields: dict[str, Any]) -> None: ...


class Endpoints(Protocol):
    def describe_endpoint(self, name: str) -> EndpointView | None: ...


class Storage(Protocol):
    def write_text(self, uri: str, text: str, content_type: str) -> None: ...


def report_uris(bucket: str, release_id: str) -> dict[str, str]:
    base = f"s3://{bucket}/reports/{release_id}/release"
    return {"html": f"{base}.html", "markdown": f"{base}.md"}


def publish(
    release_id: str,
    endpoint_name: str,
    bucket: str | None,
    ledger: Ledger,
    endpoints: Endpoints,
    storage: Storage,
    now: datetime,
    on_error: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Record the endpoint as it is now, render from the ledger, write both files.
    Returns what was recorded on the summary under ``report``; never raises.
    ``on_error`` is called inside the except block (a logger's ``exception``)."""
    try:
        if not bucket:
            raise ValueError("no REPORTS_BUCKET: the stack bucket is not configured")
        view = endpoints.describe_endpoint(endpoint_name)
        if view is not None:
            ledger.update_summary(release_id, {"final_endpoint": view.model_dump(mode="json")})
        report = render(ledger.release_items(release_id), now)
        uris = report_uris(bucket, release_id)
        storage.write_text(uris["html"], report.html, "text/html; charset=utf-8")
        storage.write_text(uris["markdown"], report.markdown, "text/markdown; charset=utf-8")
        result: dict[str, Any] = {**uris, "at": now.isoformat(), "html_bytes": len(report.html)}
    except Exception as err:  # a report must never fail the release
        on_error(f"release report failed for {release_id}")
        result = {"error": f"{type(err).__name__}: {err}"[:1000], "at": now.isoformat()}
    try:
        ledger.update_summary(release_id, {"report": result})
    except Exception:
        on_error(f"could not record the report's outcome on {release_id}")
    return result
