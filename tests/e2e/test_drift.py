"""Scheduled drift checks end to end in the emulated account: a baseline built by the
BuildBaseline function and recorded on the champion's model package, Data Capture
written by the emulated data plane, the schedule fired as EventBridge Scheduler would,
and the drift event delivered to an SQS queue through an EventBridge rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from release_guard_cli import drift_demo
from release_guard_cli.emulator import scheduler

from tests.conftest import ENDPOINT

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated() as env:
        yield env


@pytest.fixture(scope="module")
def setup(env: Any) -> dict[str, Any]:
    bucket = env.info.bucket
    boto3.client("s3").put_object(
        Bucket=bucket, Key="datasets/train.csv", Body=drift_demo.training_csv(5000)
    )
    built = env.invoke(
        "BuildBaselineFunction",
        {
            "dataset_uri": f"s3://{bucket}/datasets/train.csv",
            "format": "csv",
            "model_package_arn": env.fx.champion_package,
        },
    )
    assert built.ok, built.payload
    _url, received = drift_demo.event_queue("drift-test-events")
    schedule = env.fx.stack.schedules["DriftCheckFunctionSchedule"]
    return {"built": built.payload, "received": received, "schedule": schedule}


def check(setup: dict[str, Any]) -> dict[str, Any]:
    return dict(scheduler.fire(setup["schedule"])["checks"][0])


def test_baseline_is_recorded_on_the_champions_model_package(env: Any, setup: dict[str, Any]):
    built = setup["built"]
    assert built["rows"] == {"input": 5000, "output": 5000}
    assert built["features"] == 9
    props = env.sm.describe_model_package(ModelPackageName=env.fx.champion_package)[
        "CustomerMetadataProperties"
    ]
    assert props["release-guard:baseline"] == built["baseline_uri"]


def test_schedule_targets_the_drift_function_with_the_templates_input(env: Any, setup: dict):
    schedule = setup["schedule"]
    assert schedule["input"] == {"endpoint": ENDPOINT}
    assert schedule["expression"] == "rate(1 hour)"
    assert schedule["function"] == env.functions["DriftCheckFunction"]


def test_matching_traffic_no_drift_then_shift_caught_and_announced(env: Any, setup: dict):
    drift_demo._traffic(env.account, ENDPOINT, 3, shift=0.0)
    first = check(setup)
    assert first["status"] == "checked", first
    # No drift: nothing at "investigate" or above (a "minor" flag happens in at most
    # alpha = 5 % of healthy checks, and never sends the event at this policy).
    assert first["severity"] in ("none", "minor"), first
    assert first["objects_read"] > 0

    again = check(setup)  # nothing new: nothing read, same window, same verdict
    assert again["objects_read"] == 0 and again["severity"] == first["severity"]

    drift_demo._traffic(env.account, ENDPOINT, 6, shift=1.5)
    shifted = check(setup)
    grade = {t["feature"]: t["severity"] for t in shifted["top"]}
    assert grade.get("f2") in ("investigate", "act"), shifted
    assert grade.get("f5") in ("investigate", "act"), shifted
    # Unshifted features may be flagged "minor" at the false discovery rate (BH at 5 %),
    # never more.
    untouched = {"f0", "f1", "f3", "f4", "f6", "f7"}
    assert all(grade[f] == "minor" for f in untouched & set(grade)), shifted
    assert shifted["baseline_uri"] == setup["built"]["baseline_uri"]
    assert shifted["notified"] is True
    f2 = next(t for t in shifted["top"] if t["feature"] == "f2")
    assert any(r.startswith("p50 moved up") for r in f2["reasons"])

    events = setup["received"]()
    assert len(events) == 1
    event = events[0]
    assert event["source"] == "release-guard"
    assert event["detail-type"] == "Model Drift Detected"
    detail = event["detail"]
    assert detail["endpoint"] == ENDPOINT and detail["severity"] == shifted["severity"]
    assert {"start", "end"} <= set(detail["window"])
    assert {t["feature"] for t in detail["top_features"]} >= {"f2", "f5"}

    repeat = check(setup)  # the schedule fires twice: no second alert
    assert repeat["objects_read"] == 0 and repeat["notified"] is False
    assert setup["received"]() == []

    bucket, key = shifted["report_uri"].removeprefix("s3://").split("/", 1)
    report = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert report["report"]["severity"] == shifted["severity"]
    md = key.removesuffix(".json") + ".md"
    text = boto3.client("s3").get_object(Bucket=bucket, Key=md)["Body"].read().decode()
    assert "| f2 |" in text
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="ReleaseGuard/Drift")["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert {"DriftSeverity", "PSI", "KSDistance", "Drifted"} <= names


def test_malformed_capture_lines_are_counted_not_fatal(env: Any, setup: dict[str, Any]):
    now = datetime.now(UTC)
    variant = env.describe()["ProductionVariants"][0]["VariantName"]
    key = f"datacapture/{ENDPOINT}/{variant}/{now:%Y/%m/%d/%H}/zz-broken.jsonl"
    boto3.client("s3").put_object(Bucket=env.info.bucket, Key=key, Body=b"not json\n{}\n")
    result = check(setup)
    assert result["status"] == "checked" and result["objects_read"] == 1
    bucket, rkey = result["report_uri"].removeprefix("s3://").split("/", 1)
    report = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=rkey)["Body"].read())
    assert report["report"]["quality"]["unparsable"] >= 2
    assert any("could not be parsed" in f for f in report["report"]["findings"])


def test_an_empty_window_is_no_data(env: Any, setup: dict[str, Any]) -> None:
    out = env.invoke("DriftCheckFunction", {"endpoint": ENDPOINT, "at": "2020-01-01T00:00:00Z"})
    assert out.ok, out.payload
    [result] = out.payload["checks"]
    assert result["status"] == "no_data" and result["severity"] == "none"
    assert "not a 'no drift' result" in result["reason"]


def test_bad_request_names_the_field(env: Any) -> None:
    out = env.invoke("DriftCheckFunction", {"endpoint": "Not_An_Endpoint"})
    assert out.error_type == "InvalidReleaseRequest"
    assert "event.endpoint" in str(out.error_message)
    out = env.invoke("DriftCheckFunction", {"endpoint": ENDPOINT, "variant": "nope"})
    assert out.error_type == "InvalidReleaseRequest"
    assert "variant" in str(out.error_message)
