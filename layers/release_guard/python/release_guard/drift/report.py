"""The Markdown summary of a drift check, written next to its JSON report."""

from __future__ import annotations

from typing import Any

from release_guard.drift.decide import DriftReport


def _num(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def markdown(outcome: Any, report: DriftReport) -> str:
    lines = [
        f"# Drift check: {outcome.endpoint} / {outcome.variant}",
        "",
        f"- Window: {outcome.window_start} to {outcome.window_end}",
        f"- Rows: {', '.join(f'{k} {v}' for k, v in report.rows.items()) or 'none'}",
        f"- Baseline: {outcome.baseline_uri} (profile {report.profile_id})",
        f"- Result: **{report.severity}**: {report.reason}",
        f"- Rule: drifted = Benjamini-Hochberg q <= {report.alpha:g} and effect >= "
        f"{report.min_effect:g}; PSI / JS thresholds grade it (docs/drift.md)",
        "",
    ]
    if report.findings:
        lines += ["## Data quality and schema", ""]
        lines += [f"- {f}" for f in report.findings]
        lines.append("")
    lines += [
        "## Features",
        "",
        "| feature | severity | n | PSI | JS | KS | W1/sd | q | why |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in report.features:
        why = "; ".join(f.reasons) or (f.note or "")
        lines.append(
            f"| {f.name} | {f.severity} | {f.n} | {_num(f.psi)} | {_num(f.js)} | {_num(f.ks)} "
            f"| {_num(f.wasserstein)} | {_num(f.q_value, 2)} | {why} |"
        )
    return "\n".join(lines) + "\n"
