"""The release report as one self-contained HTML page: inline CSS and SVG, no script,
no external font, stylesheet or image; every verdict's evidence in <details>."""

from __future__ import annotations

from datetime import datetime
from html import escape

from release_guard.report import fmt, svg
from release_guard.report.model import DECISIVE, Release, number

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial,
  sans-serif; color: #222; max-width: 1000px; margin: 0 auto; padding: 16px 20px 40px;
  line-height: 1.45; background: #fff; }
h1 { font-size: 1.5em; margin: 0.2em 0; word-break: break-all; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 4px; font-weight: bold;
  color: #fff; background: #666; letter-spacing: 0.03em; }
.badge.promoted { background: #00795a; } .badge.rolled_back, .badge.failed,
.badge.rollback_unverified, .badge.rejected { background: #b24500; }
.badge.running, .badge.awaiting_operator { background: #7a4d9a; }
.reason { font-size: 1.02em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 10px 0; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; font-size: 0.86em; margin: 8px 0; width: 100%; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.nw { white-space: nowrap; }
td:last-child { min-width: 16em; }
tr.fail td, tr.rollback td { background: #fdeee6; } tr.pass td { background: #eef8f3; }
figure { margin: 12px 0 20px; } figcaption { font-size: 0.88em; color: #444; }
svg.chart { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
details { border: 1px solid #e2e2e2; border-radius: 4px; margin: 6px 0; padding: 2px 8px; }
details[open] { padding-bottom: 8px; } summary { cursor: pointer; }
.action { font-weight: bold; } .muted { color: #666; font-size: 0.9em; }
footer { margin-top: 2.5em; color: #666; font-size: 0.85em; }
"""


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{escape(classes[i])}"' if classes and classes[i] else ""
        cells = "".join(
            f'<td class="nw">{escape(c)}</td>' if len(c) <= 24 else f"<td>{escape(c)}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _facts(r: Release) -> str:
    m = r.meta
    rows = [
        ("endpoint", m.get("endpoint_name")),
        ("candidate", f"{r.candidate}: {fmt.deploys(m)}"),
        ("champion", r.champion),
        ("policy", m.get("policy_version")),
        ("trigger", f"{m.get('trigger', '?')} by {m.get('requested_by') or 'unknown'}"),
        ("started", m.get("started_at")),
        ("finished", m.get("finished_at") or "still running"),
        ("duration", fmt.duration((r.end - r.t0).total_seconds())),
        ("execution", m.get("execution_arn")),
    ]
    items = "".join(
        f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows if v is not None
    )
    return f'<dl class="facts">{items}</dl>'


def _summary(r: Release) -> str:
    lines = []
    gate = r.first("gate")
    if gate:
        lines.append(
            f"Eval gate: <b>{escape(str(gate.get('verdict')).upper())}</b> on "
            f"{escape(str(gate.get('pairs')))} paired examples."
        )
    shifts = r.shifts()
    if shifts:
        steps = " → ".join(fmt.percent(e.get("percent")) for _, e in shifts)
        acts = ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in fmt.counts(r).items())
        lines.append(f"Canary: {escape(steps)}; {len(r.looks)} judge looks ({escape(acts)}).")
    elif not r.first("deploy"):
        lines.append("The candidate was never deployed: the endpoint was not changed.")
    final = r.final_endpoint()
    if final:
        view, _ = final
        serving = ", ".join(
            f"{v.get('name')} weight {number(v.get('current_weight')) or 0:g}"
            for v in view.get("variants") or []
        )
        lines.append(f"Endpoint now: {escape(str(view.get('status')))}, serving {escape(serving)}.")
    return "<ul>" + "".join(f"<li>{s}</li>" for s in lines) + "</ul>" if lines else ""


def _timeline(r: Release) -> str:
    parts = ['<h2 id="traffic">Traffic and decisions</h2>']
    if r.weights:
        parts.append(
            "<figure>" + svg.weights_chart(r) + "<figcaption>Each variant's share of the "
            "endpoint's traffic (step chart), the canary steps (dashed), and every judge "
            "verdict on the row above: small grey dots keep baking, larger marks decide."
            "</figcaption></figure>"
        )
    rows = fmt.event_rows(r)
    if rows:
        parts.append(
            _table(["time", "event", "detail"], [[fmt.offset(t), k, d] for t, k, d in rows])
        )
    steps = fmt.step_rows(r)
    if steps:
        parts.append("<h3>Canary steps</h3>" + _table(fmt.STEP_HEADER, steps))
    return "".join(parts)


def _metrics(r: Release) -> str:
    if not r.looks:
        return ""
    parts = [
        '<h2 id="metrics">Metrics per period and the judge\'s evidence</h2>',
        '<p class="muted">Top of each chart: both variants per CloudWatch period, from the '
        "series the judge read. Bottom: at each look, the judge's estimate over the whole "
        "release so far (coloured by its rules' outcome) and its anytime-valid interval, "
        "against each rule's threshold. Intervals are for reading; decisions come from the "
        "sequential tests (docs/judge.md).</p>",
    ]
    if not r.groups:
        parts.append("<p>The release's policy could not be read: no charts.</p>")
    for i, g in enumerate(r.groups):
        labels = "; ".join(rule.label for _, rule in g.rules)
        parts.append(
            f"<figure>{svg.metric_chart(r, g, f'metric-{i}')}<figcaption>{escape(labels)}"
            "</figcaption></figure>"
        )
    return "".join(parts)


def _verdicts(r: Release) -> str:
    if not r.looks:
        return ""
    parts = ['<h2 id="verdicts">Verdicts and their evidence</h2>']
    for n, look in enumerate(r.looks, 1):
        v = look.verdict
        opened = " open" if look.action in DECISIVE else ""
        head = (
            f"{fmt.offset(look.t)} · step {look.step + 1} ({fmt.percent(v.get('percent'))}) · "
            f"{look.kind} look {n}: "
        )
        rows = [fmt.finding_row(f) for f in look.findings]
        classes = [str(f.get("outcome")) for f in look.findings]
        window = f"window {v.get('window_start')} to {v.get('window_end')}"
        parts.append(
            f'<details{opened}><summary>{escape(head)}<span class="action">'
            f"{escape(look.action.replace('_', ' '))}</span> — {escape(str(v.get('reason')))}"
            f'</summary><p class="muted">{escape(window)}; policy '
            f"{escape(str(v.get('policy_version')))}</p>"
            + _table(fmt.SNAPSHOT_HEADER, fmt.snapshot_rows(r, look))
            + _table(fmt.FINDING_HEADER, rows, classes)
            + "</details>"
        )
    return "".join(parts)


def _gate(r: Release) -> str:
    gate = r.first("gate")
    parts = ['<h2 id="gate">Eval gate</h2>']
    if gate is None:
        has = r.policy is not None and r.policy.gate is not None
        parts.append(
            "<p>The gate did not run before this release ended.</p>"
            if has
            else "<p>This release's policy has no eval gate.</p>"
        )
        return "".join(parts)
    rows, skipped = fmt.gate_rows(gate)
    classes = [row[7] for row in rows]
    parts.append(
        f"<p><b>{escape(str(gate.get('verdict')).upper())}</b> on "
        f"{escape(str(gate.get('pairs')))} paired examples: {escape(str(gate.get('reason')))}</p>"
    )
    parts.append(_table(fmt.GATE_HEADER, rows, classes))
    if skipped:
        parts.append(f'<p class="muted">{skipped} slice rows skipped (too few examples).</p>')
    # Margins below what the eval set resolves (gate.gate._warning).
    for warning in gate.get("warnings") or []:
        parts.append(f"<p><b>Warning:</b> {escape(str(warning))}</p>")
    if gate.get("problems"):
        parts.append(f'<p class="muted">record problems: {escape(str(gate["problems"]))}</p>')
    if gate.get("markdown_uri"):
        parts.append(f'<p class="muted">gate report: {escape(str(gate["markdown_uri"]))}</p>')
    return "".join(parts)


def _endpoint(r: Release) -> str:
    parts = ['<h2 id="endpoint">Final endpoint state</h2>']
    final = r.final_endpoint()
    if final is None:
        parts.append("<p>No endpoint state recorded for this release.</p>")
        return "".join(parts)
    view, source = final
    parts.append(
        f"<p>{escape(str(view.get('name')))}: <b>{escape(str(view.get('status')))}</b>, "
        f"config {escape(str(view.get('config_name')))} ({escape(source)}).</p>"
    )
    if view.get("failure_reason"):
        parts.append(f"<p>FailureReason: {escape(str(view['failure_reason']))}</p>")
    parts.append(_table(fmt.ENDPOINT_HEADER, fmt.endpoint_rows(view)))
    return "".join(parts)


def render_html(r: Release, generated_at: datetime) -> str:
    reason = r.meta.get("reason") or (r.first("outcome") or {}).get("reason") or ""
    main = {
        "traffic": _timeline(r),
        "metrics": _metrics(r),
        "verdicts": _verdicts(r),
        "gate": _gate(r),
        "endpoint": _endpoint(r),
    }
    names = {"gate": "eval gate", "endpoint": "final endpoint state"}
    nav = " · ".join(f'<a href="#{a}">{names.get(a, a)}</a>' for a, html in main.items() if html)
    body = (
        f'<header><p class="muted">release-guard release report</p>'
        f"<h1>{escape(r.release_id)}</h1>"
        f'<p><span class="badge {escape(r.status)}">{escape(r.status.upper())}</span> '
        f'<span class="reason">{escape(str(reason))}</span></p>'
        f"{_facts(r)}{_summary(r)}<nav>{nav}</nav></header>"
        f"<main>{''.join(main.values())}</main>"
        f"<footer>Written by release-guard from the release ledger at "
        f"{escape(generated_at.isoformat(timespec='seconds'))}. Self-contained: no script, "
        f"no external resources.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Release {escape(r.release_id)}: {escape(r.status)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
