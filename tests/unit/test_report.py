"""The release report renderer on ledger items of real releases (tests/fixtures/reports,
recorded in the emulated account by capture.py), and the publishing step FinishRelease
runs after the outcome is recorded."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from release_guard.events import EndpointView, VariantView
from release_guard.report import fmt, render
from release_guard.report.model import read
from release_guard.report.publish import publish, report_uris

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
SVG_NS = "{http://www.w3.org/2000/svg}"


def items(name: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / f"{name}.json").read_text()))


def meta(its: list[dict[str, Any]]) -> dict[str, Any]:
    return next(i for i in its if i["sk"] == "META")


def svgs(html: str) -> list[ET.Element]:
    """Every chart, parsed as XML: each must be a well-formed SVG document."""
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, re.S)]


class Tags(HTMLParser):
    """Tag names and attributes of a page, and whether every element closes."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "path", "line", "circle", "rect"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    p.close()
    assert p.stack == [], f"unclosed: {p.stack}"
    return p


# --- the page -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["promoted", "rolled_back", "gate_failed"])
def test_the_page_is_self_contained_and_well_formed(name: str) -> None:
    html = render(items(name), NOW).html
    tags = parse(html)
    names = {t for t, _ in tags.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed"}
    for _, attrs in tags.tags:
        for key, value in attrs.items():
            assert key not in ("src", "srcset") and not key.startswith("on")
            if key == "href":
                assert str(value).startswith("#"), value  # in-page links only
    # No URL a browser would fetch: the one http:// is the SVG namespace name.
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "@import" not in html and "url(" not in html and "@font-face" not in html


def test_a_promoted_release_has_its_charts_verdicts_and_final_state() -> None:
    its = items("promoted")
    html = render(its, NOW).html
    charts = svgs(html)
    # Weights over time, then one chart per rule group of policies/demo.json: the 5XX
    # ceiling, and the two p95 ratio rules that share their series.
    assert [c.get("id") for c in charts] == ["weights", "metric-0", "metric-1"]
    for c in charts:
        title, desc = c.find(f"{SVG_NS}title"), c.find(f"{SVG_NS}desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert c.get("role") == "img"
        assert c.get("aria-labelledby") == f"{c.get('id')}-title {c.get('id')}-desc"
        assert float(c.get("width", 0)) > 0 and float(c.get("height", 0)) > 0
        labels = [t.text or "" for t in c.iter(f"{SVG_NS}text")]
        assert any("time since the release started" in s for s in labels)
    weights = charts[0]
    desc = weights.find(f"{SVG_NS}desc")
    assert desc is not None and "v2 100 %" in str(desc.text)
    assert "step 4: 100 %" in [t.text for t in weights.iter(f"{SVG_NS}text")]
    # Both variants' per-period series are drawn.
    latency = charts[2]
    series = [p for p in latency.iter(f"{SVG_NS}path") if p.get("class") == "series"]
    assert {p.get("stroke") for p in series} == {"#E69F00", "#0072B2"}
    looks = [i for i in its if i.get("kind") in ("judge", "watch")]
    decisive = [i for i in looks if i["verdict"]["action"] != "keep_baking"]
    assert [i["verdict"]["action"] for i in decisive][-2:] == ["promote", "promote"]
    assert html.count("<details") == len(read(its, NOW).looks) == len(looks) > 10
    assert html.count("<details open") == len(decisive) == 5  # 3 next steps, promote, watch
    assert "Final endpoint state" in html and "DescribeEndpoint when the release finished" in html
    assert "policy has no eval gate" in html


def test_a_rolled_back_release_shows_the_failing_rule_and_its_interval() -> None:
    its = items("rolled_back")
    rep = render(its, NOW)
    release = read(its, NOW)
    last = release.looks[-1]
    assert last.action == "rollback"
    failed = [f for f in last.findings if f["outcome"] == "fail"]
    assert failed and all(f["interval"] for f in failed)
    row = fmt.finding_row(failed[0])
    assert row[5].startswith("[") and row[5] in rep.html and row[5] in rep.markdown
    assert "rollback started" in rep.html  # the dashed line's legend entry
    assert "ROLLED_BACK" in rep.html and rep.markdown.startswith("# Release ")


def test_a_release_the_gate_rejected_shows_the_gate_table_and_an_untouched_endpoint() -> None:
    rep = render(items("gate_failed"), NOW)
    assert [c.get("id") for c in svgs(rep.html)] == []  # nothing deployed, nothing judged
    assert "never deployed" in rep.html
    assert "accuracy" in rep.html and ">returns<" in rep.html and ">fail<" in rep.html
    assert "## Eval gate" in rep.markdown and "| accuracy | returns |" in rep.markdown
    assert 'href="#metrics"' not in rep.html  # the navigation lists what is there


def test_weights_follow_every_recorded_change() -> None:
    release = read(items("promoted"), NOW)
    shares = [round(w["v2"]) for _, w in release.weights]
    assert shares == [0, 5, 25, 50, 100, 100, 100]
    assert [round(w["champion"]) for _, w in release.weights][-1] == 0  # retired
    times = [t for t, _ in release.weights]
    assert times == sorted(times) and times[0] >= 0


def test_a_later_look_wins_for_a_period_it_saw_again() -> None:
    its = items("rolled_back")
    judged = sorted((i for i in its if i.get("kind") == "judge"), key=lambda i: i["at"])
    first, last = judged[-2], judged[-1]
    start = first["periods"]["start"]
    key = "Invocations:Sum"
    last["periods"]["start"] = start
    last["periods"]["candidate"][key] = [999.0] * len(last["periods"]["candidate"][key])
    release = read(its, NOW)
    assert dict(release.series("candidate", key))[start] == 999.0


# --- Markdown -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["promoted", "rolled_back", "gate_failed"])
def test_markdown_tables_are_rectangular(name: str) -> None:
    md = render(items(name), NOW).markdown
    block: list[str] = []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            widths = {len(re.split(r"(?<!\\)\|", row)) for row in block}
            assert len(widths) == 1, block[:3]
            assert set(block[1]) <= {"|", "-"}
            block = []


def test_markdown_lists_every_verdict_and_the_evidence_of_each_decision() -> None:
    its = items("promoted")
    md = render(its, NOW).markdown
    looks = read(its, NOW).looks
    rows = [line for line in md.splitlines() if re.match(r"\| \d+ \| \+", line)]
    assert len(rows) == len(looks)
    assert md.count("### Look ") == 5
    assert "| 5xx_rate <= 5.00% absolute | pass |" in md


# --- robustness -----------------------------------------------------------------------------


def test_a_running_release_renders_up_to_now() -> None:
    its = [i for i in items("promoted") if i.get("kind") not in ("outcome", "champion_retired")]
    m = meta(its)
    for key in ("finished_at", "report", "final_endpoint", "reason"):
        m.pop(key, None)
    m["status"] = "running"
    later = datetime.fromisoformat(m["started_at"]) + timedelta(minutes=5)
    rep = render(its, later)
    assert "still running" in rep.html and "RUNNING" in rep.html
    assert read(its, later).end == later


def test_text_from_the_ledger_is_escaped() -> None:
    its = copy.deepcopy(items("rolled_back"))
    meta(its)["reason"] = "<script>alert(1)</script> & more"
    html = render(its, NOW).html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html


def test_missing_policy_and_odd_items_still_make_a_report() -> None:
    its = copy.deepcopy(items("rolled_back"))
    del meta(its)["policy"]
    its.append({"sk": "08#SOMETHING", "kind": "new_kind", "at": "not a time"})
    its.append({"sk": "02#STEP#00#JUDGE#9999", "kind": "judge", "at": meta(its)["finished_at"]})
    rep = render(its, NOW)
    assert "could not be read" in rep.html
    assert [c.get("id") for c in svgs(rep.html)] == ["weights"]


def test_only_a_summary_is_enough() -> None:
    rep = render([{"sk": "META", "release_id": "r-1", "status": "running"}], NOW)
    parse(rep.html)
    assert "r-1" in rep.html and "No endpoint state recorded" in rep.markdown


def test_offsets_read_naturally() -> None:
    assert fmt.offset(3.25) == "+3.2 s"
    assert fmt.offset(605) == "+10 min 5 s"
    assert fmt.offset(3 * 3600 + 125) == "+3 h 02 min"


# --- publishing (FinishRelease) -------------------------------------------------------------


class Ledger:
    def __init__(self, its: list[dict[str, Any]], fail_update: bool = False) -> None:
        self.its = copy.deepcopy(its)
        self.fail_update = fail_update
        self.updates: list[dict[str, Any]] = []

    def release_items(self, release_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.its)

    def update_summary(self, release_id: str, fields: dict[str, Any]) -> None:
        if self.fail_update:
            raise RuntimeError("throttled")
        self.updates.append(fields)
        meta(self.its).update(fields)


class Endpoints:
    def describe_endpoint(self, name: str) -> EndpointView | None:
        return EndpointView(
            name=name,
            status="InService",
            config_name=f"{name}-final",
            variants=[VariantView(name="v9", current_weight=1.0, current_instance_count=2)],
        )


class Storage:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.objects: dict[str, tuple[str, str]] = {}

    def write_text(self, uri: str, text: str, content_type: str) -> None:
        if self.fail:
            raise PermissionError("AccessDenied: s3:PutObject")
        self.objects[uri] = (text, content_type)


def test_publish_writes_both_files_and_records_them() -> None:
    its = items("rolled_back")
    rid = meta(its)["release_id"]
    ledger, storage = Ledger(its), Storage()
    errors: list[str] = []
    out = publish(rid, "demo-endpoint", "bkt", ledger, Endpoints(), storage, NOW, errors.append)
    uris = report_uris("bkt", rid)
    assert uris["html"] == f"s3://bkt/reports/{rid}/release.html"
    assert uris["markdown"] == f"s3://bkt/reports/{rid}/release.md"
    assert set(storage.objects) == set(uris.values())
    html, content_type = storage.objects[uris["html"]]
    assert content_type.startswith("text/html") and "<svg" in html
    assert storage.objects[uris["markdown"]][1].startswith("text/markdown")
    # The endpoint as the release ends is recorded first, so the report shows it.
    assert ledger.updates[0]["final_endpoint"]["config_name"] == "demo-endpoint-final"
    assert "demo-endpoint-final" in html
    assert ledger.updates[-1]["report"] == out and out["html"] == uris["html"]
    assert errors == []


@pytest.mark.parametrize(
    ("bucket", "storage_fails", "what"),
    [("bkt", True, "PermissionError: AccessDenied"), (None, False, "no REPORTS_BUCKET")],
)
def test_a_report_failure_is_recorded_never_raised(
    bucket: str | None, storage_fails: bool, what: str
) -> None:
    its = items("promoted")
    ledger = Ledger(its)
    errors: list[str] = []
    out = publish(
        "r", "e", bucket, ledger, Endpoints(), Storage(fail=storage_fails), NOW, errors.append
    )
    assert what in out["error"]
    assert ledger.updates[-1] == {"report": out}
    assert errors and "release report failed" in errors[0]


def test_even_an_unwritable_ledger_does_not_raise() -> None:
    errors: list[str] = []
    out = publish(
        "r", "e", "bkt", Ledger(items("promoted"), True), Endpoints(), Storage(), NOW, errors.append
    )
    assert "RuntimeError: throttled" in out["error"]
    assert len(errors) == 2  # the report, then recording that it failed
