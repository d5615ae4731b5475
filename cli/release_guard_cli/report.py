"""`release-guard report <release-id>`: the release's HTML report and Markdown summary,
rendered from the ledger (the same renderer FinishRelease uses for the copies in S3)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from release_guard.report import Report, render

from release_guard_cli import ops


def items(info: ops.StackInfo, release_id: str) -> list[dict[str, Any]]:
    """META and every decision of the release, as the ledger holds them."""
    return [ops.summary(info, release_id), *ops.events(info, release_id)]


def write(report: Report, out: Path, release_id: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    html, md = out / f"{release_id}.html", out / f"{release_id}.md"
    html.write_text(report.html, encoding="utf-8")
    md.write_text(report.markdown, encoding="utf-8")
    return html, md


def write_release(info: ops.StackInfo, release_id: str, out: Path) -> tuple[Path, Path]:
    return write(render(items(info, release_id), datetime.now(UTC)), out, release_id)


def run(args: argparse.Namespace) -> int:
    info = ops.stack_info(args.stack_name)
    html, md = write_release(info, args.release_id, Path(args.out))
    print(f"report:  {html}")
    print(f"summary: {md}")
    return 0


def add_arguments(sub: Any) -> None:
    """`release-guard report`, on the top-level subparsers."""
    p = sub.add_parser(
        "report", help="a release's HTML report and Markdown summary, from the ledger"
    )
    p.add_argument("release_id")
    p.add_argument("--stack-name", default="release-guard")
    p.add_argument("--out", default="out/reports", help="folder for <release-id>.html and .md")
    p.set_defaults(fn=run)
