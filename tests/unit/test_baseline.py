"""Build Baseline records the profile's address on the model package, where the drift
check reads it back: an address SageMaker would refuse as metadata is refused before
anything is read or written (never stored altered)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from release_guard.drift.baseline import build_baseline, screened_profile
from release_guard.drift.columns import Columns
from release_guard.drift.dataset import read_dataset
from release_guard.drift.decide import DriftReport, decide
from release_guard.drift.profile import CategoricalProfile, Profile, id_like, monotone
from release_guard.drift.report import markdown
from release_guard.drift.summary import summarise
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import BaselineRequest
from release_guard.policy import DriftPolicy, PayloadSchema

from tests.unit.sagemaker_shapes import metadata_problems

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/demo-models/2"
DATASET = "s3://release-guard-bucket/datasets/train.csv"
SCHEMA = PayloadSchema(features=[{"name": "f0"}, {"name": "f1"}])


class Store:
    def __init__(self) -> None:
        rows = "\n".join(f"{i % 7},{i % 3}" for i in range(200))
        self.objects = {DATASET: f"f0,f1\n{rows}\n".encode()}
        self.reads: list[str] = []

    def list_objects(self, prefix_uri: str) -> list[tuple[str, int]]:
        return [(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix_uri)]

    def read_bytes(self, uri: str) -> bytes | None:
        self.reads.append(uri)
        return self.objects.get(uri)

    def write_bytes(self, uri: str, body: bytes, content_type: str) -> None:
        self.objects[uri] = body


def test_the_recorded_baseline_address_is_metadata_sagemaker_accepts() -> None:
    store, recorded = Store(), []
    req = BaselineRequest(dataset_uri=DATASET, model_package_arn=PACKAGE)
    _, summary = build_baseline(
        req,
        SCHEMA,
        store,
        lambda arn, uri: recorded.append((arn, uri)),
        "s3://release-guard-bucket/baselines",
        NOW,
    )
    [(arn, uri)] = recorded
    assert arn == PACKAGE and uri == summary["baseline_uri"] and uri in store.objects
    assert uri.startswith("s3://release-guard-bucket/baselines/demo-models/2/")
    assert metadata_problems({"release-guard:baseline": uri}) == []


@pytest.mark.parametrize(
    "output_uri",
    [
        "s3://release-guard-bucket/baselines/v2 (retrained).json",
        "s3://release-guard-bucket/baselines/~ops/v2.json",
        "s3://release-guard-bucket/" + "b" * 240 + ".json",
    ],
)
def test_an_address_sagemaker_would_refuse_is_refused_before_any_work(output_uri: str) -> None:
    store, recorded = Store(), []
    req = BaselineRequest(dataset_uri=DATASET, model_package_arn=PACKAGE, output_uri=output_uri)
    assert metadata_problems({"release-guard:baseline": output_uri})  # SageMaker would
    with pytest.raises(InvalidReleaseRequest) as info:
        build_baseline(
            req,
            SCHEMA,
            store,
            lambda arn, uri: recorded.append((arn, uri)),
            "s3://release-guard-bucket/baselines",
            NOW,
        )
    assert str(info.value).startswith("output_uri: expected an S3 URI SageMaker stores")
    assert recorded == [] and store.reads == [] and output_uri not in store.objects


def test_without_a_package_any_s3_address_will_do() -> None:
    store = Store()
    uri = "s3://release-guard-bucket/baselines/v2 (retrained).json"
    req = BaselineRequest(dataset_uri=DATASET, output_uri=uri)
    build_baseline(req, SCHEMA, store, None, "s3://release-guard-bucket/baselines", NOW)
    assert uri in store.objects


# -- data that cannot support a check is refused before anything is written -------------

CAPTURE = "s3://release-guard-bucket/datacapture/ep/v1/2026/11/20/"


def capture_line(i: int, body: str, encoding: str = "JSON") -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": body,
                    "encoding": encoding,
                }
            },
            "eventMetadata": {"eventId": f"e{i}", "inferenceTime": "2026-11-20T10:00:00Z"},
            "eventVersion": "0",
        }
    )


def refused(store: Store, req: BaselineRequest, schema: PayloadSchema) -> str:
    recorded: list[tuple[str, str]] = []
    before = dict(store.objects)
    with pytest.raises(InvalidReleaseRequest) as info:
        build_baseline(
            req,
            schema,
            store,
            lambda arn, uri: recorded.append((arn, uri)),
            "s3://release-guard-bucket/baselines",
            NOW,
        )
    assert store.objects == before and recorded == []  # nothing written, nothing recorded
    return str(info.value)


def test_a_capture_window_that_does_not_parse_is_refused() -> None:
    # Before: a profile of 0 rows, written and recorded with exit 0.
    store = Store()
    store.objects[f"{CAPTURE}10/a.jsonl"] = b'not json\n{"half": \n' * 6
    req = BaselineRequest(dataset_uri=CAPTURE, format="capture", model_package_arn=PACKAGE)
    message = refused(store, req, SCHEMA)
    assert message == (
        "dataset_uri: expected reference data with a value for at least one payload schema "
        "feature (f0, f1), got 'no value for any: 12 records read; 12 unparsable; rows "
        "parsed: 0 input'"
    )


def test_a_schema_that_matches_nothing_is_refused() -> None:
    # Before: every feature profiled as all missing ("features": 2), exit 0.
    store = Store()
    lines = [capture_line(i, json.dumps({"a": i, "b": "x"})) for i in range(30)]
    store.objects[f"{CAPTURE}10/a.jsonl"] = "\n".join(lines).encode()
    schema = PayloadSchema(
        input_format="json",
        features=[{"name": "f0", "path": "x"}, {"name": "f1", "path": "y.z"}],
    )
    req = BaselineRequest(dataset_uri=CAPTURE, format="capture")
    message = refused(store, req, schema)
    assert "(f0, f1)" in message
    assert "30 records read; 0 unparsable; rows parsed: 30 input" in message
    assert "paths that matched nothing: 60" in message


def test_a_dataset_whose_columns_hold_no_values_is_refused() -> None:
    store = Store()
    store.objects[DATASET] = b"f0,f1\n,\nx,\n ,y\n"
    message = refused(store, BaselineRequest(dataset_uri=DATASET), SCHEMA)
    assert "got 'no value for any: 3 records read; 0 unparsable; rows parsed: 3 input" in message
    assert "values of the wrong type: 2" in message


def test_a_feature_without_values_beside_others_is_a_note() -> None:
    store = Store()
    store.objects[DATASET] = b"f0,f1\n1,\n2,\n3,\n"
    profile, summary = build_baseline(
        BaselineRequest(dataset_uri=DATASET), SCHEMA, store, None, "s3://b/baselines", NOW
    )
    assert summary["notes"] == [
        "f1: no values in the reference data (all missing or unparsable); a check cannot compare it"
    ]
    assert profile.features["f0"].count == 3


# -- features no check can support are excluded, with a note every report shows ---------

SCREEN = PayloadSchema(
    features=[
        {"name": "amount"},
        {"name": "created_at"},
        {"name": "request_id", "kind": "categorical"},
        {"name": "channel", "kind": "categorical"},
    ]
)


def screened_dataset(rows: int, start: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, rows)
    channel = rng.choice(["web", "app", "api"], rows, p=[0.5, 0.3, 0.2])
    lines = [
        f"{a:.4f},{1.7e9 + 60 * (start + i):.0f},req-{start + i:08d},{c}"
        for i, (a, c) in enumerate(zip(amount, channel, strict=True))
    ]
    return ("amount,created_at,request_id,channel\n" + "\n".join(lines) + "\n").encode()


def build_screened(schema: PayloadSchema) -> tuple[Profile, dict[str, Any]]:
    store = Store()
    store.objects[DATASET] = screened_dataset(5000, 0, 1)
    return build_baseline(
        BaselineRequest(dataset_uri=DATASET), schema, store, None, "s3://b/baselines", NOW
    )


def check_against(profile: Profile, schema: PayloadSchema) -> DriftReport:
    columns, _ = read_dataset(screened_dataset(3000, 5000, 2), "csv", schema)
    return decide(profile, summarise(columns, profile), DriftPolicy(payload=schema))


def test_a_timestamp_and_an_id_are_excluded_with_a_note_every_report_shows() -> None:
    profile, summary = build_screened(SCREEN)
    excluded = {n: f.excluded for n, f in profile.features.items() if f.excluded}
    assert set(excluded) == {"created_at", "request_id"}
    assert excluded["created_at"].startswith("monotone: it rises with row order (Spearman")
    assert excluded["request_id"].startswith("id-like: 100% of its values occur once")
    assert [n.split(":")[0] for n in summary["notes"]] == ["created_at", "request_id"]
    assert all('Set "keep": true' in n for n in summary["notes"])
    # Live timestamps lie beyond the baseline's range: kept, every check would alarm.
    report = check_against(profile, SCREEN)
    assert report.severity == "none", report.reason
    assert "(2 not checked: see findings)" in report.reason
    assert f"created_at: not checked: {excluded['created_at']}" in report.findings
    shown = {f.name: f for f in report.features}
    assert shown["created_at"].note == f"not checked: {excluded['created_at']}"
    assert shown["created_at"].p_value is None and shown["created_at"].q_value is None
    text = markdown(
        SimpleNamespace(
            endpoint="e", variant="v", window_start="s", window_end="t", baseline_uri="u"
        ),
        report,
    )
    assert "| created_at | none |" in text and "not checked: monotone" in text


def test_keep_checks_a_feature_the_build_would_exclude() -> None:
    keep = PayloadSchema(
        features=[
            {"name": "amount"},
            {"name": "created_at", "keep": True},
            {"name": "request_id", "kind": "categorical"},
            {"name": "channel", "kind": "categorical"},
        ]
    )
    profile, summary = build_screened(keep)
    assert profile.features["created_at"].excluded is None
    assert profile.features["request_id"].excluded is not None
    assert summary["notes"][0].startswith('created_at: checked ("keep": true), although monotone')
    report = check_against(profile, keep)
    assert report.top == ["created_at"] and report.severity == "act"


def test_the_self_check_excludes_a_feature_that_alarms_on_its_own_baseline_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Profiles once kept a long tail's 100 most frequent categories chosen and counted on
    # the same rows: of 400 equally common ones, those counted high by chance. Built that
    # way, the feature fails against parts of its own data, and the build says so.
    from release_guard.drift import profile as profiles

    def chosen_and_counted_alike(values: list[str | None], source: str) -> CategoricalProfile:
        counts = Counter(v for v in values if v is not None)
        kept = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:100])
        return CategoricalProfile(
            source=source,  # type: ignore[arg-type]
            count=len(values),
            missing=0,
            categories=kept,
            other=sum(counts.values()) - sum(kept.values()),
        )

    rng = np.random.default_rng(3)
    levels = np.array([f"v{i}" for i in range(400)], dtype=object)
    columns = Columns(
        rows={"input": 20_000},
        numeric={"x": rng.normal(size=20_000)},
        categorical={"c400": levels[rng.integers(0, 400, 20_000)].tolist()},
        source={"x": "input", "c400": "input"},
    )
    schema = PayloadSchema(features=[{"name": "x"}, {"name": "c400", "kind": "categorical"}])
    profile, notes = screened_profile(columns, schema, NOW)
    assert notes == [] and not any(f.excluded for f in profile.features.values())
    monkeypatch.setattr(profiles, "categorical_profile", chosen_and_counted_alike)
    profile, notes = screened_profile(columns, schema, NOW)
    why = profile.features["c400"].excluded
    assert why is not None and why.startswith(
        "its test failed on its own baseline data: significant in 4 of 4"
    )
    assert profile.features["x"].excluded is None
    assert notes == [
        f'c400: not checked: {why}. Set "keep": true on the feature to check it anyway'
    ]


def test_screening_leaves_sorted_labels_constants_and_periodic_features_alone() -> None:
    n = 2000
    x = {
        "label": np.r_[np.zeros(n // 2), np.ones(n // 2)],  # data sorted by a binary label
        "constant": np.full(n, 3.0),
        "weekday": np.arange(n) % 7 * 1.0,
    }
    for values in x.values():
        assert monotone(values) is None
    assert monotone(np.arange(n) * 1.0) is not None
    assert monotone(-np.arange(n) + np.random.default_rng(0).normal(0, 5, n)) is not None
    assert id_like([f"zip{i % 900}" for i in range(n)]) is None  # repeats: a category
    assert id_like([f"u{i}" for i in range(99)]) is None  # too few to tell
