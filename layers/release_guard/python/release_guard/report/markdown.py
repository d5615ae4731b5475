"""The release report as a Markdown summary: what a pull request, a ticket or a chat
message can carry. The charts are in the HTML page beside it."""

from __future__ import annotations

from datetime import datetime

from release_guard.report import fmt
from release_guard.report.model import DECISIVE, Release, number


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    out.append("|" + "|".join("---" for _ in header) + "|")
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(r: Release, generated_at: datetime) -> str:
    m = r.meta
    reason = m.get("reason") or (r.first("outcome") or {}).get("reason") or ""
    out = [
        f"# Release {r.release_id}: {r.status.upper()}",
        "",
        f"**{r.status}**{': ' + str(reason) if reason else ''}",
        "",
    ]
    facts = [
        ["endpoint", str(m.get("endpoint_name"))],
        ["candidate", f"{r.candidate}: `{fmt.deploys(m)}`"],
        ["champion", r.champion],
        ["policy", str(m.get("policy_version"))],
        ["trigger", f"{m.get('trigger', '?')} by {m.get('requested_by') or 'unknown'}"],
        ["started", str(m.get("started_at"))],
        ["finished", str(m.get("finished_at") or "still running")],
        ["duration", fmt.duration((r.end - r.t0).total_seconds())],
    ]
    out += [*_table(["", ""], facts), ""]

    out += ["## Timeline", ""]
    rows = [[fmt.offset(t), k, d] for t, k, d in fmt.event_rows(r)]
    out += [*_table(["time", "event", "detail"], rows), ""] if rows else ["(no decisions)", ""]
    steps = fmt.step_rows(r)
    if steps:
        out += ["## Canary steps", "", *_table(fmt.STEP_HEADER, steps), ""]

    if r.looks:
        out += ["## Verdicts", ""]
        table = [
            [
                str(n),
                fmt.offset(lk.t),
                f"{lk.step + 1} ({fmt.percent(number(lk.verdict.get('percent')))})",
                lk.action,
                str(lk.verdict.get("reason", "")),
            ]
            for n, lk in enumerate(r.looks, 1)
        ]
        out += [*_table(["look", "time", "step", "verdict", "reason"], table), ""]
        out += ["## Evidence of each decision", ""]
        last = len(r.looks)
        for n, lk in enumerate(r.looks, 1):
            if lk.action not in DECISIVE and n != last:
                continue
            out += [
                f"### Look {n} at {fmt.offset(lk.t)}: {lk.action} (step {lk.step + 1})",
                "",
                str(lk.verdict.get("reason", "")),
                "",
                *_table(fmt.SNAPSHOT_HEADER, fmt.snapshot_rows(r, lk)),
                "",
                *_table(fmt.FINDING_HEADER, [fmt.finding_row(f) for f in lk.findings]),
                "",
            ]

    out += ["## Eval gate", ""]
    gate = r.first("gate")
    if gate is None:
        has = r.policy is not None and r.policy.gate is not None
        out += [
            "The gate did not run before this release ended." if has else "No eval gate.",
            "",
        ]
    else:
        gate_rows, skipped = fmt.gate_rows(gate)
        out += [
            f"**{str(gate.get('verdict')).upper()}** on {gate.get('pairs')} paired examples: "
            f"{gate.get('reason')}",
            "",
            *_table(fmt.GATE_HEADER, gate_rows),
            "",
        ]
        if skipped:
            out += [f"{skipped} slice rows skipped (too few examples).", ""]
        # Margins below what the eval set resolves (gate.gate._warning): why a gate of
        # an equally good candidate may not pass.
        for warning in gate.get("warnings") or []:
            out += [f"> Warning: {warning}", ""]

    out += ["## Final endpoint state", ""]
    final = r.final_endpoint()
    if final is None:
        out += ["No endpoint state recorded for this release.", ""]
    else:
        view, source = final
        out += [
            f"{view.get('name')}: **{view.get('status')}**, config `{view.get('config_name')}` "
            f"({source}).",
            "",
            *_table(fmt.ENDPOINT_HEADER, fmt.endpoint_rows(view)),
            "",
        ]
    out += [
        f"_Written by release-guard from the release ledger at "
        f"{generated_at.isoformat(timespec='seconds')}; charts in release.html._",
        "",
    ]
    return "\n".join(out)
