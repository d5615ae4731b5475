"""Build Baseline records the profile's address on the model package, where the drift
check reads it back: an address SageMaker would refuse as metadata is refused before
anything is read or written (never stored altered)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from release_guard.drift.baseline import build_baseline
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import BaselineRequest
from release_guard.policy import PayloadSchema

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
