"""Run Eval Gate: paired, non-inferiority gating before the candidate sees traffic."""

from typing import Any

from release_guard.aws import evals, ledger, sagemaker
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import ReleaseContext, event_object, json_kind, parse
from release_guard.gate.adapters import parser_for
from release_guard.gate.run import parser_of, run_gate
from release_guard.observability import MetricUnit, boundary, logger, metrics
from release_guard.settings import settings
from release_guard.wiring import now


def _uri(event: dict[str, Any], key: str) -> str | None:
    """The run's records (from Run Eval), when given: a string or null."""
    value = event.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidReleaseRequest(key, "an s3:// URI of eval records", json_kind(value))
    return value


@boundary
def handler(event: Any, context: Any) -> dict[str, Any]:
    event = event_object(
        event, 'the state\'s parameters {"release": ..., "candidate_uri": ..., "champion_uri": ...}'
    )
    ctx = parse(ReleaseContext, event.get("release"), "release")
    gate = ctx.policy.gate
    uris = {
        "candidate": (_uri(event, "candidate_uri") or (gate.candidate_uri if gate else None)),
        "champion": (_uri(event, "champion_uri") or (gate.champion_uri if gate else None)),
    }
    for system, uri in uris.items():
        if not uri:
            raise InvalidReleaseRequest(f"gate.{system}_uri", "an s3:// URI of eval records")
    bucket = settings().reports_bucket
    if not bucket:
        raise InvalidReleaseRequest("REPORTS_BUCKET", "the stack bucket for gate reports")
    verdict, out = run_gate(
        ctx,
        {k: str(v) for k, v in uris.items()},
        evals,
        parser_of(gate) if gate else parser_for("records"),
        sagemaker,
        ledger,
        f"s3://{bucket}/reports",
        now(),
    )
    metrics.add_dimension(name="Verdict", value=verdict.verdict)
    metrics.add_metric(name="EvalGateVerdicts", unit=MetricUnit.Count, value=1)
    logger.info("eval gate", extra={"release_id": ctx.release_id, "verdict": out})
    return out
