"""Release reports: a release's ledger items (plain dicts) -> a self-contained HTML page
and a Markdown summary. Pure: no boto3, no clock (the caller says when), no numpy.

    report = render(items, generated_at)   # report.html, report.markdown
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from release_guard.report.html import render_html
from release_guard.report.markdown import render_markdown
from release_guard.report.model import read


@dataclass(frozen=True)
class Report:
    html: str
    markdown: str


def render(items: list[dict[str, Any]], generated_at: datetime) -> Report:
    """Both documents from the release's ledger items (META and every decision).
    A release still running renders up to ``generated_at``."""
    release = read(items, now=generated_at)
    return Report(
        html=render_html(release, generated_at),
        markdown=render_markdown(release, generated_at),
    )


__all__ = ["Report", "render"]
