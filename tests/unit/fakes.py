"""In-memory fakes of the release's ports (release_guard.canary.ports).

They model the AWS behaviour the release relies on, not just what it calls:

- FakeEndpoints: a SageMaker endpoint is InService or Updating; UpdateEndpoint and
  UpdateEndpointWeightsAndCapacities put it into Updating, and DescribeEndpoint keeps
  showing the *current* config and CurrentWeight (the change is pending, as in
  PendingDeploymentSummary / DesiredWeight) until ``settle()`` applies it. Calls on an
  endpoint that is not InService raise EndpointBusy, as the adapter maps SageMaker's
  "in-progress" ValidationException. Names, models and weights are validated as
  SageMaker would, and so is a package's CustomerMetadataProperties (botocore's
  shapes, tests/unit/sagemaker_shapes.py). Every call is recorded.
- FakeLedger: record_once is a conditional put (first write wins; a duplicate gets
  the stored item back, as DynamoDB returns it); the lock is the conditional write of
  aws/ledger.py (free, expired, ours, or held by ``replace_owner``); a package's
  outcome is a plain put (the last one wins).
- FakeMetrics: CloudWatch's per-variant, per-period series (GetMetricData through
  aws/cloudwatch.variant_series), scripted per period with ``period`` / ``steady``;
  ``series`` builds the judge's input from the same scripts.
- FakeWorkflow: canned answers, recorded calls.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from release_guard.aws import ledger as ledger_io
from release_guard.canary.evidence import Series
from release_guard.canary.metrics import SAGEMAKER, series_key
from release_guard.errors import EndpointBusy
from release_guard.events import EndpointView, VariantView

from tests.unit.sagemaker_shapes import metadata_problems

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MUTATING = frozenset(
    {
        "create_model",
        "create_endpoint_config",
        "update_endpoint",
        "update_weights",
        "record_on_package",
    }
)


class FakeValidationError(ValueError):
    """What SageMaker's ValidationException would be for a call the real API rejects."""


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]


def _check_name(kind: str, name: str) -> None:
    if len(name) > 63 or not NAME.match(name):
        raise FakeValidationError(f"{kind} name {name!r} is not a valid SageMaker name")


@dataclass
class _Endpoint:
    name: str
    config_name: str
    weights: dict[str, float]  # CurrentWeight per variant, in config order
    counts: dict[str, int]
    status: str = "InService"
    failure_reason: str | None = None
    desired: dict[str, float] = field(default_factory=dict)
    pending: tuple[str, Any] | None = None  # ("config", name) | ("weights", {variant: w})


class FakeEndpoints:
    def __init__(self) -> None:
        self.endpoints: dict[str, _Endpoint] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self.package_metadata: dict[str, dict[str, str]] = {}
        self.calls: list[Call] = []

    # --- set-up ---------------------------------------------------------------------

    def add_package(
        self,
        arn: str,
        status: str = "Approved",
        version: int | None = 7,
        group: str | None = "churn",
    ) -> None:
        package: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
        if version is not None:
            package["ModelPackageVersion"] = version
        if group is not None:
            package["ModelPackageGroupName"] = group
        self.packages[arn] = package

    def add_endpoint(
        self,
        name: str,
        config_name: str,
        variants: list[dict[str, Any]],
        data_capture: dict[str, Any] | None = None,
        live_weights: dict[str, float] | None = None,
    ) -> None:
        """An InService endpoint on a new config. ``live_weights`` are CurrentWeights
        changed since the config was applied (UpdateEndpointWeightsAndCapacities)."""
        for v in variants:
            self.models.setdefault(v["ModelName"], {"ModelName": v["ModelName"]})
        self._store_config(config_name, variants, data_capture)
        endpoint = _Endpoint(name=name, config_name=config_name, weights={}, counts={})
        self._apply_config(endpoint, config_name)
        if live_weights:
            endpoint.weights.update(live_weights)
            endpoint.desired = dict(endpoint.weights)
        self.endpoints[name] = endpoint

    # --- the control plane the release drives -----------------------------------------

    def describe_endpoint(self, name: str) -> EndpointView | None:
        self.calls.append(Call("describe_endpoint", {"name": name}))
        endpoint = self.endpoints.get(name)
        return None if endpoint is None else self._view(endpoint)

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        self.calls.append(Call("describe_endpoint_config", {"name": name}))
        if name not in self.configs:
            raise FakeValidationError(f"Could not find endpoint configuration {name!r}")
        return copy.deepcopy(self.configs[name])

    def describe_model_package(self, arn: str) -> dict[str, Any] | None:
        self.calls.append(Call("describe_model_package", {"arn": arn}))
        package = self.packages.get(arn)
        return None if package is None else copy.deepcopy(package)

    def create_model(
        self, name: str, container: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> None:
        self.calls.append(
            Call(
                "create_model",
                {"name": name, "container": container, "role_arn": role_arn, "tags": tags},
            )
        )
        _check_name("model", name)
        package_arn = container.get("ModelPackageName")
        if package_arn is None and not container.get("Image"):
            raise FakeValidationError("a container needs ModelPackageName or Image")
        if package_arn is not None and package_arn not in self.packages:
            raise FakeValidationError(f"Could not find model package {package_arn!r}")
        if not role_arn:
            raise FakeValidationError("ExecutionRoleArn is required")
        # The adapter treats "already exists" as success: the first model is kept.
        self.models.setdefault(
            name, {"ModelName": name, "Containers": [copy.deepcopy(container)], "Role": role_arn}
        )

    def create_endpoint_config(
        self, name: str, variants: list[dict[str, Any]], data_capture: dict[str, Any] | None
    ) -> None:
        self.calls.append(
            Call(
                "create_endpoint_config",
                {
                    "name": name,
                    "variants": copy.deepcopy(variants),
                    "data_capture": copy.deepcopy(data_capture),
                },
            )
        )
        if name in self.configs:  # the adapter treats "already exists" as success
            return
        self._store_config(name, variants, data_capture)

    def update_endpoint(self, endpoint: str, config_name: str) -> None:
        self.calls.append(
            Call("update_endpoint", {"endpoint": endpoint, "config_name": config_name})
        )
        ep = self._ready(endpoint)
        if config_name not in self.configs:
            raise FakeValidationError(f"Could not find endpoint configuration {config_name!r}")
        ep.status = "Updating"
        ep.pending = ("config", config_name)

    def update_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        self.calls.append(Call("update_weights", {"endpoint": endpoint, "weights": dict(weights)}))
        ep = self._ready(endpoint)
        unknown = sorted(set(weights) - set(ep.weights))
        if unknown:
            raise FakeValidationError(f"The variant(s) {unknown} are not present on {endpoint}")
        if any(w < 0 for w in weights.values()):
            raise FakeValidationError(f"weights must be >= 0, got {weights}")
        ep.status = "Updating"
        ep.desired = {**ep.weights, **weights}
        ep.pending = ("weights", dict(weights))

    def record_on_package(self, arn: str, properties: dict[str, str]) -> None:
        self.calls.append(Call("record_on_package", {"arn": arn, "properties": dict(properties)}))
        if arn not in self.packages:
            raise FakeValidationError(f"Could not find model package {arn!r}")
        # UpdateModelPackage's constraints (botocore's shapes): one bad value fails it all.
        problems = metadata_problems(properties)
        if problems:
            raise FakeValidationError(f"CustomerMetadataProperties: {'; '.join(problems)}")
        self.package_metadata.setdefault(arn, {}).update(properties)

    # --- what SageMaker does in the background ----------------------------------------

    def settle(self, name: str | None = None, fail_reason: str | None = None) -> EndpointView:
        """Finish the pending update. With ``fail_reason`` SageMaker could not apply it:
        the endpoint returns to InService on what it had before, with a FailureReason."""
        ep = self._one(name)
        if ep.pending is not None:
            kind, change = ep.pending
            if fail_reason is not None:
                ep.failure_reason = fail_reason
            elif kind == "config":
                self._apply_config(ep, change)
                ep.failure_reason = None
            else:
                ep.weights.update(change)
                ep.failure_reason = None
            ep.desired = dict(ep.weights)
            ep.pending = None
        ep.status = "InService"
        return self._view(ep)

    def fail(self, name: str | None = None, reason: str = "failed") -> None:
        ep = self._one(name)
        ep.status, ep.failure_reason, ep.pending = "Failed", reason, None

    def set_status(self, name: str | None, status: str) -> None:
        self._one(name).status = status

    # --- what tests read --------------------------------------------------------------

    def mutating_calls(self) -> list[Call]:
        return [c for c in self.calls if c.name in MUTATING]

    def calls_named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def view(self, name: str | None = None) -> EndpointView:
        return self._view(self._one(name))

    def traffic(self, name: str | None = None) -> dict[str, float]:
        """Share of requests per variant, as SageMaker splits by relative weight."""
        weights = self._one(name).weights
        total = sum(weights.values())
        return {v: (w / total if total else 0.0) for v, w in weights.items()}

    # --- internals --------------------------------------------------------------------

    def _one(self, name: str | None) -> _Endpoint:
        if name is None:
            (only,) = self.endpoints.values()
            return only
        return self.endpoints[name]

    def _ready(self, name: str) -> _Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise FakeValidationError(f"Could not find endpoint {name!r}")
        if ep.status != "InService":
            raise EndpointBusy(f"Cannot update in-progress endpoint {name} ({ep.status})")
        return ep

    def _store_config(
        self, name: str, variants: list[dict[str, Any]], data_capture: dict[str, Any] | None
    ) -> None:
        _check_name("endpoint config", name)
        if not variants:
            raise FakeValidationError("ProductionVariants needs at least one variant")
        names = [v["VariantName"] for v in variants]
        if len(set(names)) != len(names):
            raise FakeValidationError(f"duplicate variant names {names}")
        for v in variants:
            _check_name("variant", v["VariantName"])
            if v["ModelName"] not in self.models:
                raise FakeValidationError(f"Could not find model {v['ModelName']!r}")
            if float(v.get("InitialVariantWeight", 1.0)) < 0:
                raise FakeValidationError(f"negative InitialVariantWeight in {v}")
        if data_capture is not None:
            uri = str(data_capture.get("DestinationS3Uri", ""))
            modes = {o.get("CaptureMode") for o in data_capture.get("CaptureOptions", [])}
            sampling = data_capture.get("InitialSamplingPercentage")
            if not uri.startswith("s3://") or not modes or not modes <= {"Input", "Output"}:
                raise FakeValidationError(f"invalid DataCaptureConfig {data_capture}")
            if not isinstance(sampling, int) or not 0 <= sampling <= 100:
                raise FakeValidationError(f"invalid InitialSamplingPercentage {sampling!r}")
        config: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": copy.deepcopy(variants),
        }
        if data_capture is not None:
            config["DataCaptureConfig"] = copy.deepcopy(data_capture)
        self.configs[name] = config

    def _apply_config(self, ep: _Endpoint, config_name: str) -> None:
        variants = self.configs[config_name]["ProductionVariants"]
        ep.config_name = config_name
        ep.weights = {v["VariantName"]: float(v.get("InitialVariantWeight", 1.0)) for v in variants}
        ep.counts = {v["VariantName"]: int(v.get("InitialInstanceCount", 1)) for v in variants}
        ep.desired = dict(ep.weights)

    def _view(self, ep: _Endpoint) -> EndpointView:
        return EndpointView(
            name=ep.name,
            status=ep.status,
            config_name=ep.config_name,
            failure_reason=ep.failure_reason,
            variants=[
                VariantView(
                    name=v,
                    current_weight=w,
                    desired_weight=ep.desired.get(v, w),
                    current_instance_count=ep.counts.get(v),
                )
                for v, w in ep.weights.items()
            ],
        )


def stored(item: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB gives it back through aws/ledger.py (its own round trip)."""
    return ledger_io._from_ddb(ledger_io._to_ddb(item))


class FakeLedger:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self.locks: dict[str, dict[str, Any]] = {}
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        self.package_outcomes: dict[tuple[str, str | None], dict[str, Any]] = {}
        self.calls: list[Call] = []

    def record_once(
        self, release_id: str, key: str, item: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        self.calls.append(Call("record_once", {"release_id": release_id, "key": key}))
        if (release_id, key) in self.records:
            return False, copy.deepcopy(self.records[(release_id, key)])
        self.records[(release_id, key)] = stored(item)
        return True, item

    def put_summary(self, release_id: str, summary: dict[str, Any]) -> None:
        self.calls.append(Call("put_summary", {"release_id": release_id}))
        self.summaries[release_id] = stored(summary)

    def summary(self, release_id: str) -> dict[str, Any] | None:
        found = self.summaries.get(release_id)
        return None if found is None else copy.deepcopy(found)

    def recent_releases(self, endpoint: str, limit: int = 50) -> list[dict[str, Any]]:
        mine = [
            copy.deepcopy(m) for m in self.summaries.values() if m.get("endpoint_name") == endpoint
        ]
        return sorted(mine, key=lambda m: str(m.get("started_at", "")), reverse=True)[:limit]

    def update_summary(self, release_id: str, fields: dict[str, Any]) -> None:
        # UpdateItem creates the item when it does not exist.
        self.calls.append(Call("update_summary", {"release_id": release_id}))
        self.summaries.setdefault(release_id, {}).update(stored(fields))

    def acquire_lock(
        self,
        endpoint: str,
        owner: str,
        execution_arn: str,
        now: int,
        lease: int,
        replace_owner: str | None = None,
    ) -> bool:
        self.calls.append(
            Call("acquire_lock", {"endpoint": endpoint, "owner": owner, "replace": replace_owner})
        )
        held = self.locks.get(endpoint)
        free = (
            held is None
            or held["owner"] == owner
            or (replace_owner is not None and held["owner"] == replace_owner)
        )
        if not free:
            return False
        self.locks[endpoint] = {
            "owner": owner,
            "execution_arn": execution_arn,
            "acquired_at": now,
            "expires_at": now + lease,
        }
        return True

    def put_pending(self, endpoint: str, group: str, item: dict[str, Any]) -> dict[str, Any] | None:
        old = self.pending.get((endpoint, group))
        self.pending[(endpoint, group)] = {"sk": f"GROUP#{group}", **stored(item)}
        return old

    def pending_approvals(self, endpoint: str) -> list[dict[str, Any]]:
        mine = [copy.deepcopy(v) for (e, _), v in self.pending.items() if e == endpoint]
        return sorted(mine, key=lambda i: str(i.get("recorded_at", "")))

    def take_pending(self, endpoint: str, group: str, release_id: str) -> bool:
        held = self.pending.get((endpoint, group))
        if held is None or held.get("release_id") != release_id:
            return False
        del self.pending[(endpoint, group)]
        return True

    def lock_holder(self, endpoint: str) -> dict[str, Any] | None:
        held = self.locks.get(endpoint)
        if held is None:
            return None
        # The adapter returns DynamoDB's raw attribute values: numbers as strings.
        return {"pk": f"LOCK#{endpoint}", "sk": "LOCK", **{k: str(v) for k, v in held.items()}}

    def release_lock(self, endpoint: str, owner: str) -> bool:
        self.calls.append(Call("release_lock", {"endpoint": endpoint, "owner": owner}))
        held = self.locks.get(endpoint)
        if held is None:
            return True
        if held["owner"] != owner:
            return False
        del self.locks[endpoint]
        return True

    def put_package_outcome(
        self, package_arn: str, prompt: str | None, item: dict[str, Any]
    ) -> None:
        self.calls.append(Call("put_package_outcome", {"package": package_arn, "prompt": prompt}))
        self.package_outcomes[(package_arn, prompt)] = stored(item)

    def package_outcome(self, package_arn: str, prompt: str | None) -> dict[str, Any] | None:
        found = self.package_outcomes.get((package_arn, prompt))
        return None if found is None else copy.deepcopy(found)

    def keys(self, release_id: str) -> list[str]:
        return sorted(k for r, k in self.records if r == release_id)

    def record(self, release_id: str, key: str) -> dict[str, Any]:
        return self.records[(release_id, key)]


# --- CloudWatch: per-variant, per-period series ------------------------------------------

Period = dict[str, float | None]  # series key (canary.metrics.series_key) -> that period's value
Script = list[Period] | Callable[[int], Period]

INVOCATIONS = series_key(SAGEMAKER, "Invocations", "Sum")
ERRORS_5XX = series_key(SAGEMAKER, "Invocation5XXErrors", "Sum")
ERRORS_4XX = series_key(SAGEMAKER, "Invocation4XXErrors", "Sum")
LATENCY_SAMPLES = series_key(SAGEMAKER, "ModelLatency", "SampleCount")


def latency_key(stat: str = "p95") -> str:
    return series_key(SAGEMAKER, "ModelLatency", stat)


def app_key(metric: str) -> str:
    """Sum of an application metric (any app namespace maps to the same key)."""
    return series_key("ReleaseGuard/App", metric, "Sum")


def period(
    requests: float | None = 1000,
    errors_5xx: float | None = 0,
    p95_us: float | None = 100_000.0,
    *,
    errors_4xx: float | None = 0,
    latency_samples: float | None = None,
    latencies: dict[str, float | None] | None = None,
    app: dict[str, float | None] | None = None,
) -> Period:
    """One CloudWatch period of a variant: SageMaker's Invocations, 4XX/5XX Sums and
    ModelLatency (p95 in microseconds, SampleCount = requests unless given), plus
    application Sums by metric name (``app={"Requests": 60, "GuardrailTriggers": 2}``).
    ``None`` is "no datapoint"; zero requests publish no latency."""
    out: Period = {INVOCATIONS: requests, ERRORS_5XX: errors_5xx, ERRORS_4XX: errors_4xx}
    samples = requests if latency_samples is None else latency_samples
    out[LATENCY_SAMPLES] = samples
    out[latency_key("p95")] = p95_us if samples else None
    for stat, value in (latencies or {}).items():
        out[latency_key(stat)] = value
    for metric, value in (app or {}).items():
        out[app_key(metric)] = value
    return out


def spread(total_rate: float, requests: float, n: int) -> list[float]:
    """Whole bad-event counts per period whose running total tracks ``total_rate`` of the
    requests exactly (2 % of 60 a period: 1, 1, 2, 1, 1, 1, 1, 2, ...)."""
    marks = [round(i * total_rate * requests) for i in range(n + 1)]
    return [float(b - a) for a, b in itertools.pairwise(marks)]


def steady(
    n: int,
    requests: float = 1000,
    error_rate: float = 0.0,
    p95_us: float | None = 100_000.0,
    *,
    app_rates: dict[str, float] | None = None,
    app_means: dict[str, float] | None = None,
    latency_samples: float | None = None,
) -> list[Period]:
    """``n`` periods of the same traffic: ``requests`` a period, 5XX errors at
    ``error_rate`` (whole counts, see ``spread``), p95 ``p95_us``. ``app_rates`` add
    application counts as a rate over app ``Requests`` (= requests), ``app_means`` a
    per-request mean summed over them (``{"CostUSD": 0.002}``).

    "The candidate has 2 % errors at 60 requests a period for 30 periods":
    ``steady(30, requests=60, error_rate=0.02)``."""
    errors = spread(error_rate, requests, n)
    app_counts = {m: spread(r, requests, n) for m, r in (app_rates or {}).items()}
    out = []
    for i in range(n):
        app: dict[str, float | None] = {}
        if app_counts or app_means:
            app["Requests"] = requests
        for m, counts in app_counts.items():
            app[m] = counts[i]
        for m, mean in (app_means or {}).items():
            app[m] = mean * requests
        out.append(period(requests, errors[i], p95_us, latency_samples=latency_samples, app=app))
    return out


class FakeMetrics:
    """CloudWatch GetMetricData as aws/cloudwatch.variant_series answers it: for every
    wanted key one value per whole period from ``start`` (a period boundary) to ``end``,
    None where the variant published no datapoint. A variant's script gives the period
    dicts by index from ``start``: a list (periods past its end have no data) or a
    function of the index. Unknown variants have no data at all."""

    def __init__(self, by_variant: dict[str, Script] | None = None) -> None:
        self.by_variant = dict(by_variant or {})
        self.calls: list[Call] = []

    def variant_series(
        self,
        endpoint: str,
        variant: str,
        start: datetime,
        end: datetime,
        period: int,
        wanted: dict[str, tuple[str, str, str]],
    ) -> dict[str, list[float | None]]:
        self.calls.append(
            Call(
                "variant_series",
                {
                    "endpoint": endpoint,
                    "variant": variant,
                    "start": start,
                    "end": end,
                    "period": period,
                    "wanted": dict(wanted),
                },
            )
        )
        # Not an AWS rule: the adapter numbers periods from ``start``, so the release
        # must hand it a period boundary (canary.metrics.align).
        assert start.timestamp() % period == 0, f"start {start} is not on a {period} s boundary"
        count = max(0, int((end - start).total_seconds() // period))
        script = self.by_variant.get(variant, [])
        rows: list[Period] = []
        for i in range(count):
            if callable(script):
                rows.append(script(i))
            else:
                rows.append(script[i] if i < len(script) else {})
        return {key: [row.get(key) for row in rows] for key in wanted}


def series(
    candidate: list[Period],
    champion: list[Period],
    step_from: int = 0,
    period_seconds: int = 60,
) -> Series:
    """The judge's input from per-period scripts of equal length; the current step
    is the periods from index ``step_from`` on. Keys absent from every period are
    left out (as if the judge had not asked for them)."""
    assert len(candidate) == len(champion), (len(candidate), len(champion))

    def arrays(rows: list[Period]) -> dict[str, np.ndarray]:
        names = {k for row in rows for k in row}
        return {
            k: np.array([np.nan if row.get(k) is None else row[k] for row in rows], dtype=float)
            for k in names
        }

    step = np.arange(len(candidate)) >= step_from
    return Series(
        candidate=arrays(candidate),
        champion=arrays(champion),
        step=step,
        period_seconds=period_seconds,
    )


class FakeWorkflow:
    def __init__(self, statuses: dict[str, str] | None = None) -> None:
        self.statuses = dict(statuses or {})
        self.notifications: list[tuple[str, dict[str, Any]]] = []

    def execution_status(self, arn: str) -> str | None:
        return self.statuses.get(arn)

    def notify(self, subject: str, body: dict[str, Any]) -> None:
        self.notifications.append((subject, copy.deepcopy(body)))
