"""Release reports end to end: a release followed live with `release status --watch`
(plain text, as in a CI log), FinishRelease's report in the stack bucket, and
`release-guard report` rendering the same release from the ledger."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from release_guard_cli import ops, report, status
from release_guard_cli.emulator.account import HEALTHY

from tests.e2e.support import TEST_POLICY, assert_finished, register, start, traffic, why

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False), traffic():
        yield env


@pytest.fixture(scope="module")
def watched(env: Any) -> dict[str, Any]:
    """A healthy release, followed by the live view until it ends."""
    package, _ = register(env, HEALTHY)
    started = start(env, package)
    out = io.StringIO()
    code = status.watch(env.info, started["release_id"], interval=0.3, out=out, tty=False)
    desc = env.wait(started["execution_arn"])
    assert desc["status"] == "SUCCEEDED", why(env, started["release_id"], desc)
    return {"release_id": started["release_id"], "log": out.getvalue(), "code": code}


def test_finish_release_writes_the_report_to_the_stack_bucket(
    env: Any, watched: dict[str, Any]
) -> None:
    rid = watched["release_id"]
    ledger = assert_finished(env, rid, "promoted")
    s3 = boto3.client("s3")
    bucket = env.info.bucket
    page = s3.get_object(Bucket=bucket, Key=f"reports/{rid}/release.html")
    assert page["ContentType"].startswith("text/html")
    html = page["Body"].read().decode()
    assert rid in html and html.count("<svg") == 3 and "<script" not in html
    md = s3.get_object(Bucket=bucket, Key=f"reports/{rid}/release.md")
    assert md["ContentType"].startswith("text/markdown")
    assert md["Body"].read().decode().startswith(f"# Release {rid}: PROMOTED")
    recorded = ledger["META"]["report"]
    assert recorded["html"] == f"s3://{bucket}/reports/{rid}/release.html"
    assert "error" not in recorded
    # The final endpoint state is DescribeEndpoint's, read as the release ended.
    final = ledger["META"]["final_endpoint"]
    assert [v["name"] for v in final["variants"]] == [env.serving()]
    assert "DescribeEndpoint when the release finished" in html


def test_release_report_renders_the_same_release_from_the_ledger(
    env: Any, watched: dict[str, Any], tmp_path: Path
) -> None:
    rid = watched["release_id"]
    html, md = report.write_release(env.info, rid, tmp_path / "reports")
    assert html == tmp_path / "reports" / f"{rid}.html" and md.suffix == ".md"
    text = html.read_text()
    assert text.count("<svg") == 3 and "Final endpoint state" in text
    assert md.read_text().startswith(f"# Release {rid}: PROMOTED")


def test_the_live_view_followed_the_release_to_its_end(watched: dict[str, Any]) -> None:
    log = watched["log"]
    assert watched["code"] == 0
    assert "\x1b[" not in log  # not a terminal: plain text
    assert "canary step 1 of 4: candidate at 5" in log
    assert "bake  [" in log and "next decision: judge look" in log
    assert "latest evidence:" in log
    assert "finished: PROMOTED" in log.strip().split("\n\n")[-1]


def test_status_of_an_unknown_release_waits_then_shows_it(env: Any) -> None:
    """The live view of an id not (yet) in the ledger says so instead of failing."""
    out = io.StringIO()
    calls = {"n": 0}

    def fetch(info: ops.StackInfo, release_id: str) -> Any:
        calls["n"] += 1
        if calls["n"] < 3:
            raise SystemExit("no release yet")
        return {"release_id": release_id, "status": "failed", "reason": "x"}, [], None

    status.watch(env.info, "nope", interval=0, out=out, fetch=fetch, tty=False)
    assert out.getvalue().count("waiting for release nope") == 1
    assert "finished: FAILED" in out.getvalue()
