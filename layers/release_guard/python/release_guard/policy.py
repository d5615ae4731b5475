"""Release policies: versioned, validated once, recorded with every decision.

Policies are JSON (or YAML, converted by the CLI) validated with ``extra="forbid"``
so a typo is an error, never a silently ignored setting.
"""

from __future__ import annotations

import itertools
import json
from importlib import resources
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from release_guard import limits
from release_guard.errors import InvalidReleaseRequest


class Strict(BaseModel):
    # defer_build: a handler builds only the models it uses, at first use, not at import.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# Policies travel as JSON through Step Functions and into DynamoDB: neither stores
# Infinity or NaN, and an integer past 2**53 is no longer exact in JSON readers nor
# usable in the float arithmetic of limits.py. (Results, such as a finding's interval,
# may hold an infinite end: they stay on Strict.)
MAX_INT = 2**53


class Settable(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _exact_int(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT} in magnitude")
        return value


class MetricRule(Settable):
    """One comparison of candidate with champion, and what a conclusive failure does."""

    metric: str = Field(description="a name from release_guard.canary.metrics.CATALOG")
    statistic: Literal["p50", "p90", "p95", "p99"] = "p95"
    max_ratio: float | None = Field(
        None, gt=0, description="allowed candidate / champion (same window)"
    )
    max_absolute: float | None = Field(
        None, gt=0, le=1, description="rates only: ceiling on the candidate's own rate"
    )
    action: Literal["rollback", "hold"] = "rollback"
    critical: bool = Field(
        True, description="a step is left only with evidence on it; non-critical: act on failure"
    )
    min_sample: int = Field(100, ge=1, description="candidate requests before it is judged")
    detect_ratio: float | None = Field(
        None, gt=1, description="rate rules: the regression a step must be able to catch"
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str) -> str:
        from release_guard.canary.metrics import CATALOG

        if name not in CATALOG:
            raise ValueError(f"one of {sorted(CATALOG)}, got {name!r}")
        return name

    @model_validator(mode="after")
    def _thresholds(self) -> MetricRule:
        from release_guard.canary.metrics import CATALOG

        kind = CATALOG[self.metric].kind
        if self.max_ratio is None and self.max_absolute is None:
            raise ValueError("max_ratio or max_absolute (or both)")
        if self.max_absolute is not None and kind != "rate":
            raise ValueError(f"max_absolute applies to rate metrics; {self.metric} is {kind}")
        if self.max_ratio is not None and kind != "rate" and self.max_ratio < 1:
            raise ValueError(f"max_ratio >= 1 for {kind} metrics, got {self.max_ratio}")
        return self

    @property
    def label(self) -> str:
        parts = []
        if self.max_absolute is not None:
            parts.append(f"<= {self.max_absolute:.2%} absolute")
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:g}x champion")
        stat = (
            f" {self.statistic}"
            if self.metric.endswith("latency") or "token" in self.metric
            else ""
        )
        return f"{self.metric}{stat} {' and '.join(parts)}"


def _default_rules() -> list[MetricRule]:
    """Common practice: 5XX over 5 % absolute rolls back at once; p95 over 2x the
    champion rolls back; guardrail triggers over 3x roll back; negative feedback or
    cost per request over 2x hold for an operator; a p95 regression over 10 % rolls
    back once conclusive. GenAI metrics are not critical: an endpoint that does not
    publish them is not held up, but their failures still act."""
    return [
        MetricRule(metric="5xx_rate", max_absolute=0.05, max_ratio=1.25, detect_ratio=3.0),
        MetricRule(metric="model_latency", statistic="p95", max_ratio=2.0),
        MetricRule(metric="model_latency", statistic="p95", max_ratio=1.1, critical=False),
        MetricRule(metric="guardrail_rate", max_ratio=3.0, critical=False),
        MetricRule(metric="negative_feedback_rate", max_ratio=2.0, action="hold", critical=False),
        MetricRule(metric="cost_per_request", max_ratio=2.0, action="hold", critical=False),
    ]


class CanaryPolicy(Settable):
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    min_bake_seconds: int = Field(600, ge=1)
    check_interval_seconds: int = Field(60, ge=1)
    max_bake_seconds: int = Field(3600, ge=1)
    on_insufficient_data: Literal["hold", "rollback", "advance"] = Field(
        "hold",
        description="when a step cannot gather its evidence in max_bake_seconds: hold for an "
        "operator, roll back, or advance to the next step (more traffic), never promoting",
    )
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="release-wide false-rollback rate, all looks, all steps"
    )
    power: float = Field(0.8, ge=0.5, lt=1, description="for the evidence a step must gather")
    app_namespace: str = Field("ReleaseGuard/App", min_length=1)
    min_period_samples: int = Field(
        10, ge=1, description="latency/mean periods with fewer samples per variant are skipped"
    )
    metric_period_seconds: int = Field(60, ge=1)
    metric_delay_seconds: int = Field(
        120, ge=0, description="how far CloudWatch lags; the judged window ends this long ago"
    )
    post_promotion_watch_seconds: int = Field(600, ge=0)
    max_looks_per_step: int = Field(
        240,
        ge=2,
        le=2000,
        description="looks of one step at most: check_interval_seconds apart for the first "
        "half, the rest of max_bake spread over the other half (docs/policies.md, Limits)",
    )
    metrics: list[MetricRule] = Field(default_factory=_default_rules)

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[float]) -> list[float]:
        if not steps:
            raise ValueError("at least one step, ending at 100")
        for pct in steps:
            if not 0 < pct <= 100:
                raise ValueError(f"each step is a percentage in (0, 100], got {pct}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100, got {steps[-1]}")
        return steps

    @field_validator("metrics")
    @classmethod
    def _some_critical(cls, rules: list[MetricRule]) -> list[MetricRule]:
        if not any(r.critical for r in rules):
            raise ValueError("at least one critical rule: nothing would be required to promote")
        return rules

    @model_validator(mode="after")
    def _bakes(self) -> CanaryPolicy:
        if self.max_bake_seconds < self.min_bake_seconds:
            raise ValueError(
                f"max_bake_seconds ({self.max_bake_seconds}) >= min_bake_seconds "
                f"({self.min_bake_seconds})"
            )
        return self

    @field_validator("metric_period_seconds")
    @classmethod
    def _period(cls, period: int) -> int:
        # CloudWatch accepts 1, 5, 10, 30 (high resolution) or a multiple of 60.
        if period not in (1, 5, 10, 30) and period % 60:
            raise ValueError(f"1, 5, 10, 30 or a multiple of 60, got {period}")
        return period


class DeploymentPolicy(Settable):
    in_service_timeout_seconds: int = Field(3600, ge=1)
    poll_seconds: int = Field(30, ge=1)
    data_capture_sampling_percent: int = Field(100, ge=0, le=100)


class GateMetric(Settable):
    """One offline comparison of candidate with champion on the same examples."""

    metric: str = Field(
        min_length=1, description="a score name in the records, or latency_ms / cost_usd"
    )
    statistic: Literal["mean", "p50", "p90", "p95", "p99"] = "mean"
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    floor: float | None = Field(None, description="absolute bound the candidate must meet")
    margin: float | None = Field(
        None, ge=0, description="non-inferiority margin: how much worse than the champion"
    )
    margin_kind: Literal["absolute", "relative"] = "absolute"
    hard: bool = Field(False, description="safety gate: no regression allowed at all")
    min_improvement: float | None = Field(
        None, gt=0, description="relative: the candidate must beat the champion by this"
    )

    @model_validator(mode="after")
    def _shape(self) -> GateMetric:
        if self.floor is None and self.margin is None and not self.hard:
            raise ValueError("floor, margin or hard (or several)")
        if self.statistic != "mean":
            if self.margin is None or self.margin_kind != "relative":
                raise ValueError("percentile metrics compare as ratios: a relative margin")
            if self.floor is not None or self.hard or self.min_improvement is not None:
                raise ValueError("percentile metrics take a relative margin only")
        return self


def _default_gate_metrics() -> list[GateMetric]:
    """Floors from common practice (format validity >= 0.95, relevance >= 0.80, safety
    >= 0.99 and no regression) and margins an eval set of about 1,000 examples resolves:
    accuracy at most 5 points below the champion, p95 latency at most 25 % above, cost
    per request at most 2x. The 2 % relative accuracy margin these replace needs some
    5,000 examples, and 1,000 resolve a 10 % p95 ratio only when latencies vary little;
    with every slice row required too, an equally good candidate passed none of the
    1,000-example gates (bench/gate_calibration.py). Live latency is the canary's to
    judge again, on far more requests (docs/eval-gate.md)."""
    return [
        GateMetric(metric="format_validity", floor=0.95),
        GateMetric(metric="relevance", floor=0.80),
        GateMetric(metric="safety", floor=0.99, hard=True),
        GateMetric(metric="accuracy", margin=0.05),
        GateMetric(
            metric="latency_ms",
            statistic="p95",
            direction="lower_is_better",
            margin=0.25,
            margin_kind="relative",
        ),
        GateMetric(
            metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
        ),
    ]


class PromptfooProviders(Settable):
    """One promptfoo run comparing both systems (``providers: [candidate, champion]``):
    which of its columns is which. A name is a provider label, a provider id, a prompt
    label or a prompt id, as the file writes them (docs/eval-formats.md)."""

    candidate_provider: str = Field(min_length=1, description="the candidate's rows")
    champion_provider: str = Field(min_length=1, description="the champion's rows")
    ignore_providers: list[str] = Field(
        default_factory=list, description="other columns of the file, left out on purpose"
    )

    @model_validator(mode="after")
    def _distinct(self) -> PromptfooProviders:
        if self.candidate_provider == self.champion_provider:
            raise ValueError(
                "candidate_provider and champion_provider name the same provider "
                f"{self.candidate_provider!r}: each system needs its own column"
            )
        for name in ("candidate_provider", "champion_provider"):
            if getattr(self, name) in self.ignore_providers:
                raise ValueError(f"{name} {getattr(self, name)!r} is also in ignore_providers")
        return self


class GatePolicy(Settable):
    """The eval gate: offline evidence before the candidate sees traffic."""

    candidate_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+$")
    champion_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+$")
    format: Literal["records", "promptfoo", "fmeval", "deepeval"] = Field(
        "records", description="who wrote the record files (docs/eval-formats.md)"
    )
    mapping: dict[str, str] | None = Field(
        None, description="JMESPath per record field for any other JSON Lines output"
    )
    promptfoo: PromptfooProviders | None = Field(
        None,
        description="format promptfoo, one run comparing both systems: which provider is "
        "which (candidate_uri and champion_uri then usually name the same file)",
    )
    dataset_uri: str | None = Field(
        None,
        pattern=r"^s3://[^/]+/.+$",
        description="no records yet: run this dataset on both variants (Run Eval) first",
    )
    scorers: dict[str, Any] = Field(
        default_factory=dict, description="Run Eval's scorer config (docs/eval-runner.md)"
    )
    repeats: int = Field(1, ge=1, le=20)
    metrics: list[GateMetric] = Field(default_factory=_default_gate_metrics)
    alpha: float = Field(0.05, gt=0, lt=0.5, description="one-sided, Holm across the table")
    power: float = Field(0.8, ge=0.5, lt=1)
    min_slice_size: int = Field(30, ge=1)
    slices: bool = True
    slices_must_pass: bool = Field(
        False,
        description="slice rows must each show non-inferiority (else they only fail the "
        "gate on a shown regression)",
    )
    max_problem_fraction: float = Field(
        0.02, ge=0, le=1, description="missing pairs, duplicates, bad lines: above this, fail"
    )
    bootstrap_resamples: int = Field(1000, ge=100, le=20000)
    seed: int = 0
    on_inconclusive: Literal["fail", "hold"] = "hold"
    reject_package_on_fail: bool = True

    @model_validator(mode="after")
    def _source(self) -> GatePolicy:
        records = self.candidate_uri is not None and self.champion_uri is not None
        if not records and self.dataset_uri is None:
            raise ValueError("candidate_uri and champion_uri (eval records), or dataset_uri")
        if (self.candidate_uri is None) != (self.champion_uri is None):
            raise ValueError("candidate_uri and champion_uri together")
        return self

    @field_validator("promptfoo")
    @classmethod
    def _promptfoo_format(
        cls, value: PromptfooProviders | None, info: ValidationInfo
    ) -> PromptfooProviders | None:
        # format and mapping come first in the class, so they are validated already.
        fmt, mapping = info.data.get("format"), info.data.get("mapping")
        if value is not None and (fmt != "promptfoo" or mapping):
            raise ValueError(
                "gate.format 'promptfoo' without a mapping (it names promptfoo providers), "
                f"got format {fmt!r}" + (" with a mapping" if mapping else "")
            )
        return value


class FeatureSpec(Settable):
    """One feature read from a captured request (input) or response (output)."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")
    source: Literal["input", "output"] = "input"
    kind: Literal["numeric", "categorical", "text", "embedding"] = "numeric"
    path: str | None = Field(
        None, min_length=1, description="JMESPath into one JSON row; CSV: none (column order)"
    )
    # The baseline build excludes a feature no check can support (docs/drift.md): one
    # monotone in row order (a timestamp), an id, one that alarms on its own baseline
    # data. A dataset sorted by a real feature looks monotone, so the owner can say so.
    keep: bool = Field(
        False,
        description="check it even when the baseline build would exclude it (the build's "
        "notes still say what it found)",
    )


class PayloadSchema(Settable):
    """How captured payloads become features (configured per endpoint).

    CSV: the features of a source are its columns, in order; a body may hold several
    rows. JSON: ``rows`` (JMESPath) selects the rows of one body, default the body
    itself; each feature's ``path`` is evaluated on one row.
    """

    input_format: Literal["csv", "json"] = "csv"
    output_format: Literal["csv", "json"] = "csv"
    input_rows: str | None = Field(None, min_length=1)
    output_rows: str | None = Field(None, min_length=1)
    features: list[FeatureSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _paths(self) -> PayloadSchema:
        import jmespath  # boto3's own dependency: there in every Lambda runtime

        for where, expr in [
            ("input_rows", self.input_rows),
            ("output_rows", self.output_rows),
            *((f"feature {f.name!r} path", f.path) for f in self.features),
        ]:
            if expr is not None:
                try:
                    jmespath.compile(expr)
                except Exception as err:
                    raise ValueError(f"{where}: not a JMESPath expression: {err}") from None
        names = [f.name for f in self.features]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feature names must be unique, repeated: {dup}")
        for f in self.features:
            fmt = self.input_format if f.source == "input" else self.output_format
            if fmt == "json" and f.path is None:
                raise ValueError(f"feature {f.name!r}: a JSON {f.source} needs a path")
            if fmt == "csv" and f.path is not None:
                raise ValueError(f"feature {f.name!r}: CSV columns go by order, not path")
            if f.kind == "embedding" and fmt != "json":
                raise ValueError(f"feature {f.name!r}: embeddings come from JSON payloads")
        return self

    def of(self, source: str) -> list[FeatureSpec]:
        return [f for f in self.features if f.source == source]


class Levels(Settable):
    """A distance's seed thresholds: investigate, then act."""

    investigate: float = Field(gt=0)
    act: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> Levels:
        if self.act < self.investigate:
            raise ValueError("act >= investigate")
        return self


class DriftPolicy(Settable):
    """Scheduled drift checks of live traffic against a baseline profile (docs/drift.md)."""

    payload: PayloadSchema
    window_hours: int = Field(24, ge=1, le=168)
    alpha: float = Field(0.05, gt=0, lt=0.5, description="per check, BH across features")
    psi: Levels = Field(default_factory=lambda: Levels(investigate=0.1, act=0.25))
    js: Levels = Field(default_factory=lambda: Levels(investigate=0.1, act=0.3))
    prediction_psi_act: float = Field(0.2, gt=0, description="outputs: PSI that acts")
    min_effect: float = Field(
        0.02,
        ge=0,
        le=1,
        description="effect-size floor: KS distance, total variation or missing-share "
        "change, net of sampling noise",
    )
    # A 0.1 sd mean shift is KS 0.04: worth a look, yet PSI 0.01, far below PSI's
    # investigate level. Graded by PSI alone it stayed "minor" at any sample size.
    investigate_effect: float = Field(
        0.025,
        ge=0,
        le=1,
        description="an effect (net of noise) this large grades a drifted feature at least "
        "investigate: 0.025 is a 0.06 sd mean shift, or 2.5 points of share moving",
    )
    notify_at: Literal["minor", "investigate", "act"] = Field(
        "investigate",
        description="the severity floor: a check this severe or more sends the EventBridge "
        "event and the SNS message",
    )
    settle_minutes: int = Field(
        20, ge=0, le=180, description="an hour is re-listed until this long after it ends"
    )
    max_new_bytes: int = Field(
        512 * 1024**2, ge=1024**2, description="more new capture than this: a Processing job"
    )
    embedding_sample: int = Field(256, ge=32, le=4096)
    baseline_uri: str | None = Field(
        None,
        pattern=r"^s3://[^/]+/.+$",
        description="else the baseline recorded on the variant's model package",
    )

    @model_validator(mode="after")
    def _effect_order(self) -> DriftPolicy:
        if self.investigate_effect < self.min_effect:
            raise ValueError("investigate_effect >= min_effect")
        return self


class ReleasePolicy(Settable):
    version: str = Field(min_length=1, max_length=64)
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy)
    deployment: DeploymentPolicy = Field(default_factory=DeploymentPolicy)
    gate: GatePolicy | None = Field(None, description="no gate when absent")
    drift: DriftPolicy | None = Field(None, description="no drift checks when absent")
    operator_timeout_seconds: int = Field(86400, ge=60)
    rollback_poll_seconds: int = Field(15, ge=1)
    rollback_max_attempts: int = Field(240, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> ReleasePolicy:
        """Refuse a policy whose worst case Step Functions cannot run (limits.py)."""
        found = limits.problems(self, self.model_dump_json())
        if found:
            raise ValueError("; ".join(f"{field}: {what}" for field, what in found))
        return self


# The built-in policy, used when neither the request nor the stack (ReleasePolicyUri)
# names one: this package's default_policy.json, shipped in the layer. policies/
# default.json is the same file for manifests and readers (tests/unit/test_policy.py
# keeps them identical), and each field's default above is its value there.
DEFAULT_POLICY_FILE = "default_policy.json"


def _load_default() -> ReleasePolicy:
    text = resources.files("release_guard").joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")
    return ReleasePolicy.model_validate(json.loads(text))


DEFAULT_POLICY = _load_default()


def describe_validation(err: ValidationError, prefix: str) -> tuple[str, str]:
    """The first failing field as a dotted path and what was expected of it."""
    first = err.errors()[0]
    path = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    expected = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        expected = "no such field (unknown fields are rejected)"
    return path, expected


def parse_policy(data: Any, field: str = "policy") -> ReleasePolicy:
    """Validate a policy document, raising an error that names the field."""
    if not isinstance(data, dict):
        raise InvalidReleaseRequest(field, "a JSON object", type(data).__name__)
    try:
        return ReleasePolicy.model_validate(data)
    except ValidationError as err:
        path, expected = describe_validation(err, field)
        raise InvalidReleaseRequest(path, expected) from None
