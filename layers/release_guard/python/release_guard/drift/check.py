"""One scheduled drift check of an endpoint variant: read what is new, decide, report.

Data Capture objects sit under ``{capture}/{endpoint}/{variant}/yyyy/mm/dd/hh/``. The
check keeps one state object per hour: the keys it has read and the summary of their
records, written together, so a key is either in the summary or not read at all. A
re-run reads only keys it has not recorded; a repeated run never double-counts. An hour
is re-listed until ``settle_minutes`` after it ends (SageMaker writes capture files a
few minutes late), then it is closed and never listed again.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from release_guard.drift.capture import parse_lines
from release_guard.drift.columns import Quality
from release_guard.drift.decide import RANK, DriftReport, decide
from release_guard.drift.extract import extract
from release_guard.drift.profile import Profile, load_profile
from release_guard.drift.report import markdown
from release_guard.drift.summary import Summary, summarise
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import DriftCheckRequest as CheckRequest
from release_guard.policy import DriftPolicy, parse_policy

NAMESPACE = "ReleaseGuard/Drift"
Status = Literal["checked", "no_data", "no_baseline", "partial", "handed_off", "job_running"]


class Store(Protocol):
    def list_objects(self, prefix_uri: str) -> list[tuple[str, int]]: ...
    def read_bytes(self, uri: str) -> bytes | None: ...
    def write_bytes(self, uri: str, body: bytes, content_type: str) -> None: ...


class Models(Protocol):
    def baseline_for(self, endpoint: str, variant: str) -> tuple[str | None, str | None]: ...


class Outputs(Protocol):
    def put_metrics(self, namespace: str, data: list[dict[str, Any]]) -> None: ...
    def put_event(self, detail_type: str, detail: dict[str, Any]) -> None: ...
    def notify(self, subject: str, body: dict[str, Any]) -> None: ...


class Jobs(Protocol):
    def start(self, name: str, arguments: list[str]) -> str | None: ...
    def status(self, name: str) -> str | None: ...


class CheckOutcome(BaseModel):
    endpoint: str
    variant: str
    status: Status
    severity: str = "none"
    window_start: str
    window_end: str
    objects_read: int = 0
    bytes_read: int = 0
    baseline_uri: str | None = None
    report_uri: str | None = None
    notified: bool = False
    reason: str
    top: list[dict[str, Any]] = Field(default_factory=list)
    report: DriftReport | None = None


@dataclass
class Places:
    """Where things live: capture prefix (from the endpoint's DataCaptureConfig) and
    the check's own state and reports (the stack bucket)."""

    capture: str  # s3://bucket/prefix
    drift: str  # s3://bucket/drift

    def hour_prefix(self, endpoint: str, variant: str, hour: datetime) -> str:
        return f"{self.capture.rstrip('/')}/{endpoint}/{variant}/{hour:%Y/%m/%d/%H}/"

    def state(self, endpoint: str, variant: str, hour: datetime) -> str:
        return f"{self.drift}/state/{endpoint}/{variant}/{hour:%Y/%m/%d/%H}.json.gz"

    def handoff(self, endpoint: str, variant: str) -> str:
        return f"{self.drift}/state/{endpoint}/{variant}/handoff.json"

    def report(self, endpoint: str, variant: str, end: datetime, ext: str) -> str:
        return f"{self.drift}/reports/{endpoint}/{variant}/{end:%Y/%m/%d/%H}.{ext}"


@dataclass
class HourState:
    hour: datetime
    profile_id: str
    keys: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    summary: Summary | None = None

    def dump(self) -> bytes:
        body = {
            "hour": self.hour.isoformat(),
            "profile_id": self.profile_id,
            "keys": self.keys,
            "closed": self.closed,
            "summary": self.summary.to_dict() if self.summary else None,
        }
        return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0)

    @classmethod
    def load(cls, blob: bytes, hour: datetime) -> HourState | None:
        """None for a state that does not read back (it is then rebuilt from the keys)."""
        try:
            body = json.loads(gzip.decompress(blob))
            summary = Summary.from_dict(body["summary"]) if body.get("summary") else None
            return cls(hour, body["profile_id"], dict(body["keys"]), bool(body["closed"]), summary)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def load_drift_policy(uri: str | None, read_json: Callable[[str], Any]) -> DriftPolicy:
    """The drift section of the release policy (RELEASE_POLICY_URI)."""
    if not uri:
        raise InvalidReleaseRequest("RELEASE_POLICY_URI", "a release policy with a drift section")
    try:
        doc = read_json(uri)
    except Exception as err:  # any read or parse failure is the operator's bad input
        raise InvalidReleaseRequest(
            "RELEASE_POLICY_URI", "a readable JSON policy in S3", f"{uri}: {err}"
        ) from err
    drift = parse_policy(doc, "policy").drift
    if drift is None:
        raise InvalidReleaseRequest("policy.drift", "a drift section (docs/drift.md)", uri)
    return drift


def window(at: datetime, hours: int) -> list[datetime]:
    """The capture hours of a window ending at ``at``, the current partial hour last."""
    last = at.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=i) for i in range(hours - 1, -1, -1)]


def resolve_profile(
    req: CheckRequest, variant: str, policy: DriftPolicy, store: Store, models: Models
) -> tuple[Profile | None, str | None, str]:
    """(profile, its URI, why not) from the request, the policy, or the model package."""
    uri, package = req.baseline_uri or policy.baseline_uri, None
    if uri is None:
        uri, package = models.baseline_for(req.endpoint, variant)
    if uri is None:
        where = f"model package {package}" if package else f"variant {variant}'s model"
        return (
            None,
            None,
            (
                f"no baseline profile: none in the request or policy, and {where} records none "
                "(release-guard baseline build --model-package ... records one)"
            ),
        )
    blob = store.read_bytes(uri)
    if blob is None:
        return None, uri, f"baseline profile {uri} does not exist"
    try:
        return load_profile(blob), uri, ""
    except ValueError as err:
        raise InvalidReleaseRequest(
            "baseline_uri", "a release-guard profile", f"{uri}: {err}"
        ) from None


def run_check(
    req: CheckRequest,
    policy: DriftPolicy,
    places: Places,
    store: Store,
    models: Models,
    outputs: Outputs,
    jobs: Jobs,
    now: datetime,
) -> CheckOutcome:
    if req.variant is None:
        raise ValueError("run_check takes one variant")
    variant = req.variant
    at = req.at or now
    hours = window(at, policy.window_hours)
    end = hours[-1] + timedelta(hours=1)
    base = {
        "endpoint": req.endpoint,
        "variant": variant,
        "window_start": hours[0].isoformat(),
        "window_end": min(end, at).isoformat(),
    }
    profile, uri, why = resolve_profile(req, variant, policy, store, models)
    if profile is None:
        return CheckOutcome(**base, status="no_baseline", baseline_uri=uri, reason=why)
    handoff = _running_job(req, variant, places, store, jobs)
    if handoff:
        return CheckOutcome(**base, status="job_running", baseline_uri=uri, reason=handoff)

    states: list[HourState] = []
    todo: list[tuple[HourState, list[tuple[str, int]]]] = []
    for hour in hours:
        blob = store.read_bytes(places.state(req.endpoint, variant, hour))
        state = HourState.load(blob, hour) if blob else None
        if state is None or state.profile_id != profile.profile_id:
            state = HourState(hour, profile.profile_id)  # a new baseline re-reads the hour
        states.append(state)
        if not state.closed:
            listed = store.list_objects(places.hour_prefix(req.endpoint, variant, hour))
            new = [(k, size) for k, size in listed if k not in state.keys]
            todo.append((state, new))
    pending = sum(size for _, new in todo for _, size in new)
    budget = None if req.in_job else policy.max_new_bytes
    partial = ""
    if budget is not None and pending > budget:
        job = _hand_off(req, variant, at, places, store, jobs)
        if job:
            reason = (
                f"{pending / 1e6:.0f} MB of new capture exceeds the Lambda budget of "
                f"{budget / 1e6:.0f} MB: handed to Processing job {job}"
            )
            return CheckOutcome(**base, status="handed_off", baseline_uri=uri, reason=reason)
        partial = (
            f"{pending / 1e6:.0f} MB of new capture exceeds the budget of {budget / 1e6:.0f} MB "
            "and no Processing job is configured: read the oldest part, the next run goes on"
        )

    read_objects = read_bytes = 0
    for state, new in todo:
        before = (len(state.keys), state.closed)
        for key, size in sorted(new):
            if budget is not None and read_bytes + size > budget and read_objects:
                break
            blob = store.read_bytes(key)
            quality = Quality()
            records = parse_lines(blob or b"", quality)
            columns = extract(records, profile.payload)
            columns.quality.merge(quality)
            times = [r.time for r in records if r.time]
            part = summarise(
                columns,
                profile,
                first=min(times, default=None),
                last=max(times, default=None),
                embedding_sample=policy.embedding_sample,
            )
            if state.summary is None:
                state.summary = part
            else:
                state.summary.merge(part)
            state.keys[key] = size
            read_objects += 1
            read_bytes += size
        settled = state.hour + timedelta(hours=1, minutes=policy.settle_minutes)
        state.closed = at >= settled and all(k in state.keys for k, _ in new)
        if (len(state.keys), state.closed) != before:
            state_uri = places.state(req.endpoint, variant, state.hour)
            store.write_bytes(state_uri, state.dump(), "application/gzip")

    total = Summary(profile_id=profile.profile_id)
    for state in states:
        if state.summary is not None:
            total.merge(state.summary)
    report = decide(profile, total, policy)
    if partial:
        report.findings.insert(0, partial)
    status: Status = "partial" if partial else report.status
    outcome = CheckOutcome(
        **base,
        status=status,
        severity=report.severity,
        objects_read=read_objects,
        bytes_read=read_bytes,
        baseline_uri=uri,
        reason=report.reason,
        top=[_brief(f) for f in report.features if f.drifted][:10],
        report=report,
    )
    _publish(outcome, report, policy, places, end, store, outputs)
    return outcome


def _brief(f: Any) -> dict[str, Any]:
    return {
        "feature": f.name,
        "severity": f.severity,
        "psi": None if f.psi is None else round(f.psi, 4),
        "js": None if f.js is None else round(f.js, 4),
        "ks": None if f.ks is None else round(f.ks, 4),
        "q_value": None if f.q_value is None else float(f"{f.q_value:.3g}"),
        "reasons": f.reasons[:3],
    }


def _running_job(req: CheckRequest, variant: str, places: Places, store: Store, jobs: Jobs) -> str:
    if req.in_job:
        return ""
    blob = store.read_bytes(places.handoff(req.endpoint, variant))
    if not blob:
        return ""
    try:
        name = str(json.loads(blob)["job"])
    except (ValueError, KeyError, TypeError):
        return ""
    status = jobs.status(name)
    if status in ("InProgress", "Stopping"):
        return f"Processing job {name} is reading this window ({status}); this run waits"
    return ""


def _hand_off(
    req: CheckRequest, variant: str, at: datetime, places: Places, store: Store, jobs: Jobs
) -> str | None:
    name = f"rg-drift-{req.endpoint[:30]}-{at:%Y%m%d%H%M%S}"[:63]
    args = ["--endpoint", req.endpoint, "--variant", variant, "--at", at.isoformat()]
    if req.baseline_uri:
        args += ["--baseline-uri", req.baseline_uri]
    started = jobs.start(name, args)
    if started:
        body = json.dumps({"job": started, "at": at.isoformat()}).encode()
        store.write_bytes(places.handoff(req.endpoint, variant), body, "application/json")
    return started


def _publish(
    outcome: CheckOutcome,
    report: DriftReport,
    policy: DriftPolicy,
    places: Places,
    end: datetime,
    store: Store,
    outputs: Outputs,
) -> None:
    """Metrics every run; the report under the window's end hour; the event and SNS
    message once per window-end hour and severity (a repeated run does not re-alert)."""
    endpoint, variant = outcome.endpoint, outcome.variant
    json_uri = places.report(endpoint, variant, end, "json")
    previous = store.read_bytes(json_uri)
    already = ""
    if previous:
        try:
            already = str(json.loads(previous).get("notified_severity") or "")
        except ValueError:
            already = ""
    alert = report.status == "checked" and RANK[report.severity] >= RANK[policy.notify_at]
    notify = alert and RANK[report.severity] > RANK.get(already, 0)
    outcome.report_uri = json_uri
    detail = _event_detail(outcome, report)
    if notify:
        outputs.put_event("Model Drift Detected", detail)
        outputs.notify(
            f"Model drift ({report.severity}) on {endpoint}/{variant}",
            detail,
        )
        outcome.notified = True
    body = outcome.model_dump(mode="json")
    body["notified_severity"] = report.severity if notify else already or None
    store.write_bytes(json_uri, json.dumps(body, indent=1).encode(), "application/json")
    store.write_bytes(
        places.report(endpoint, variant, end, "md"),
        markdown(outcome, report).encode(),
        "text/markdown",
    )
    outputs.put_metrics(NAMESPACE, _metrics(outcome, report))


def _event_detail(outcome: CheckOutcome, report: DriftReport) -> dict[str, Any]:
    return {
        "endpoint": outcome.endpoint,
        "variant": outcome.variant,
        "severity": report.severity,
        "window": {"start": outcome.window_start, "end": outcome.window_end},
        "rows": report.rows,
        "profile_id": report.profile_id,
        "baseline_uri": outcome.baseline_uri,
        "report_uri": outcome.report_uri,
        "reason": report.reason,
        "top_features": outcome.top[:5],
    }


def _metrics(outcome: CheckOutcome, report: DriftReport) -> list[dict[str, Any]]:
    dims = [
        {"Name": "EndpointName", "Value": outcome.endpoint},
        {"Name": "VariantName", "Value": outcome.variant},
    ]
    rows = sum(report.rows.values())
    data = [
        {"MetricName": "DriftSeverity", "Dimensions": dims, "Value": RANK[report.severity]},
        {
            "MetricName": "DriftedFeatures",
            "Dimensions": dims,
            "Value": sum(f.drifted for f in report.features),
            "Unit": "Count",
        },
        {"MetricName": "RowsChecked", "Dimensions": dims, "Value": rows, "Unit": "Count"},
        {
            "MetricName": "UnparsableRecords",
            "Dimensions": dims,
            "Value": int(report.quality.get("unparsable", 0) or 0),  # type: ignore[call-overload]
            "Unit": "Count",
        },
    ]
    for f in report.features:
        fdims = [*dims, {"Name": "Feature", "Value": f.name}]
        for metric, value in (("PSI", f.psi), ("JSDistance", f.js), ("KSDistance", f.ks)):
            if value is not None:
                data.append({"MetricName": metric, "Dimensions": fdims, "Value": value})
        data.append({"MetricName": "Drifted", "Dimensions": fdims, "Value": float(f.drifted)})
    return data
