"""Run Eval Gate as a workflow state: read both systems' records, decide, report.

A malformed record (invalid JSON, no id, no system) is an error naming its file and
line: the release stops before anything is deployed. So is a file the policy cannot
split into the two systems (a promptfoo run of several providers without
``gate.promptfoo``, or naming a provider the file lacks): the error names the policy
field to set and the providers found. Softer problems (missing pairs, duplicates,
non-numeric scores, empty files) are counted and fail the gate only above the policy's
limit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from release_guard import registry as package_registry
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import ReleaseContext
from release_guard.gate.adapters import GateReader, parser_for
from release_guard.gate.gate import GateVerdict, evaluate, markdown
from release_guard.gate.records import EvalRecord, Problems
from release_guard.policy import GatePolicy

FATAL = (
    "invalid JSON",
    "missing id",
    "missing system",
    "invalid system",
    "wrong format",
    "invalid mapping",
)
# Fatal too, but a policy mistake rather than the file's: the error names the policy
# field to set, and the example lists the provider/prompt columns the file has.
POLICY_FATAL = {
    "several promptfoo columns": (
        "gate.promptfoo",
        "gate.promptfoo.candidate_provider and gate.promptfoo.champion_provider naming "
        "which of the file's providers is which",
    ),
    "candidate provider not found": (
        "gate.promptfoo.candidate_provider",
        "a provider label or id, or a prompt label or id, of the file",
    ),
    "champion provider not found": (
        "gate.promptfoo.champion_provider",
        "a provider label or id, or a prompt label or id, of the file",
    ),
}

Parser = Callable[[str, str, str], tuple[list[EvalRecord], Problems]]


class Storage(Protocol):
    def read_text(self, uri: str, field: str) -> str: ...
    def write_text(self, uri: str, text: str, content_type: str) -> None: ...


class Registry(Protocol):
    def reject_package(self, arn: str, reason: str, properties: dict[str, str]) -> None: ...


class Ledger(Protocol):
    def record_once(
        self, release_id: str, key: str, item: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]: ...


def parser_of(policy: GatePolicy) -> GateReader:
    """The reader of the policy's record files: its format, mapping and promptfoo
    providers."""
    providers = policy.promptfoo
    if providers is None:
        return parser_for(policy.format, mapping=policy.mapping)
    return parser_for(
        "promptfoo",
        system_for_provider={
            providers.candidate_provider: "candidate",
            providers.champion_provider: "champion",
        },
        ignore_providers=providers.ignore_providers,
    )


def _check(found: Problems, field: str, uri: str) -> None:
    for kind in FATAL:
        if found.counts.get(kind):
            where = found.examples[kind][0]
            raise InvalidReleaseRequest(field, f"valid eval records ({kind} at {where})", uri)
    for kind, (policy_field, expected) in POLICY_FATAL.items():
        if found.counts.get(kind):
            raise InvalidReleaseRequest(policy_field, f"{expected} ({found.examples[kind][0]})")


def load(
    policy: GatePolicy, uris: dict[str, str], storage: Storage, parser: Parser
) -> tuple[list[EvalRecord], list[EvalRecord], Problems]:
    problems = Problems()
    loaded: dict[str, list[EvalRecord]] = {}
    both = getattr(parser, "read_both", None)
    if both is not None and uris["candidate"] == uris["champion"]:
        # One file holds both systems (a promptfoo run comparing them): read it once, so
        # its problems are counted once, not once per system.
        uri = uris["candidate"]
        records, found = both(storage.read_text(uri, "gate.candidate_uri"), uri)
        _check(found, "gate.candidate_uri", uri)
        problems.merge(found)
        for system in ("candidate", "champion"):
            loaded[system] = [r for r in records if r.system == system]
        return loaded["candidate"], loaded["champion"], problems
    for system, uri in uris.items():
        text = storage.read_text(uri, f"gate.{system}_uri")
        records, found = parser(text, uri, system)
        _check(found, f"gate.{system}_uri", uri)
        problems.merge(found)
        loaded[system] = records
    return loaded["candidate"], loaded["champion"], problems


def run_gate(
    ctx: ReleaseContext,
    uris: dict[str, str],
    storage: Storage,
    parser: Parser,
    registry: Registry,
    ledger: Ledger,
    reports_prefix: str,
    now: datetime,
) -> tuple[GateVerdict, dict[str, Any]]:
    policy = ctx.policy.gate
    if policy is None:
        raise InvalidReleaseRequest("policy.gate", "a gate policy for Run Eval Gate")
    candidate, champion, problems = load(policy, uris, storage, parser)
    verdict = evaluate(candidate, champion, problems, policy)
    base = f"{reports_prefix.rstrip('/')}/{ctx.release_id}/eval-gate"
    report_uri, md_uri = f"{base}.json", f"{base}.md"
    storage.write_text(report_uri, verdict.model_dump_json(indent=1), "application/json")
    title = f"Eval gate: {ctx.release_id} ({ctx.candidate.name} vs {ctx.champion.name})"
    storage.write_text(md_uri, markdown(verdict, title), "text/markdown")
    first, _ = ledger.record_once(
        ctx.release_id,
        "00#GATE",
        {
            "kind": "gate",
            "at": now.isoformat(),
            "verdict": verdict.verdict,
            "reason": verdict.reason,
            "pairs": verdict.pairs,
            "problems": verdict.problems,
            "rows": [r.model_dump(mode="json") for r in verdict.rows[:200]],
            # What the data resolve per margin rule, and the margins below it: the
            # release report shows them next to the verdict.
            "resolution": [r.model_dump(mode="json") for r in verdict.resolution],
            "warnings": verdict.warnings,
            "report_uri": report_uri,
            "markdown_uri": md_uri,
            "policy_version": ctx.policy.version,
        },
    )
    # A prompt version that fails says nothing against the model package (the champion
    # may serve it with another prompt): the registry is left alone, the ledger says why.
    package = ctx.model_package_arn if ctx.prompt is None else None
    if first and verdict.verdict == "fail" and policy.reject_package_on_fail and package:
        # SageMaker's constraints (release_guard.registry): the full reason is in the
        # ledger and the gate report; the registry gets what fits.
        reason = f"eval gate failed: {verdict.reason}"
        registry.reject_package(
            package,
            package_registry.approval_description(f"release-guard {reason}"),
            package_registry.package_metadata(
                ctx.release_id,
                "rejected",
                reason,
                md_uri,
                extra={"release-guard:gate": "fail", "release-guard:gate-report": md_uri},
            ),
        )
    out = {
        "verdict": verdict.verdict,
        "reason": verdict.reason[:2000],
        "pairs": verdict.pairs,
        "report_uri": report_uri,
        "markdown_uri": md_uri,
        "on_inconclusive": policy.on_inconclusive,
    }
    return verdict, out
