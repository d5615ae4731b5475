"""The emulated SageMaker data plane: routing, AWS/SageMaker metrics and Data Capture."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from release_guard_cli.emulator.dataplane import DataPlane, ModelServerError

from tests.emulator.support import FAST, REGION, capture_objects, metric

EP = "churn-endpoint"
BUCKET = "capture-bucket"


def _capture(
    percent: int = 100,
    modes: tuple[str, ...] = ("Input", "Output"),
    header: dict[str, list[str]] | None = None,
    enable: bool = True,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "EnableCapture": enable,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": f"s3://{BUCKET}/datacapture",
        "CaptureOptions": [{"CaptureMode": m} for m in modes],
    }
    if header is not None:
        config["CaptureContentTypeHeader"] = header
    return config


CSV_JSON = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}


@pytest.fixture
def bucket(aws: None) -> str:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return BUCKET


def _binomial_ok(k: int, n: int, p: float, sds: float = 5.0) -> bool:
    return abs(k - n * p) <= sds * math.sqrt(n * p * (1 - p))


# -- routing -------------------------------------------------------------------------------


def test_weights_are_honoured_statistically(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "champion", FAST)
    dataplane.start_variant(EP, "candidate", FAST)
    assert dataplane.running(EP) == ["candidate", "champion"]
    served = Counter(
        dataplane.invoke(
            EP, {"champion": 0.9, "candidate": 0.1}, b"1,2,3", "text/csv", None, None, None
        ).variant
        for _ in range(1000)
    )
    assert served["champion"] + served["candidate"] == 1000
    assert _binomial_ok(served["candidate"], 1000, 0.1)

    dataplane.flush()
    # Invocations is published per request, so Sum is the request count per variant.
    assert metric(EP, "champion", "Invocations", "Sum") == [served["champion"]]
    assert metric(EP, "candidate", "Invocations", "Sum") == [served["candidate"]]
    assert metric(EP, "candidate", "ModelLatency", "SampleCount") == [served["candidate"]]


def test_target_variant_overrides_weights(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "champion", FAST)
    dataplane.start_variant(EP, "candidate", FAST)
    weights = {"champion": 1.0, "candidate": 0.0}
    served = {
        dataplane.invoke(EP, weights, b"1", "text/csv", None, "candidate", None).variant
        for _ in range(50)
    }
    assert served == {"candidate"}  # even at weight 0, as SageMaker's TargetVariant
    with pytest.raises(ValueError, match="TargetVariant 'shadow' is not a running variant"):
        dataplane.invoke(EP, weights, b"1", "text/csv", None, "shadow", None)
    dataplane.stop_variant(EP, "candidate")
    with pytest.raises(ValueError, match="'candidate'"):
        dataplane.invoke(EP, weights, b"1", "text/csv", None, "candidate", None)


def test_no_running_variant_with_weight_raises(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "champion", FAST)
    with pytest.raises(ValueError, match="no running variant with weight > 0"):
        dataplane.invoke(EP, {"champion": 0.0}, b"1", "text/csv", None, None, None)
    with pytest.raises(ValueError, match="no running variant with weight > 0"):
        dataplane.invoke(EP, {"gone": 1.0}, b"1", "text/csv", None, None, None)
    with pytest.raises(ValueError, match="'other-endpoint'"):
        dataplane.invoke("other-endpoint", {"champion": 1.0}, b"1", "text/csv", None, None, None)


# -- metrics -------------------------------------------------------------------------------


def test_error_rate_half_publishes_5xx_with_zeros_for_successes(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "flaky", {**FAST, "RG_EMU_ERROR_RATE": "0.5", "RG_EMU_SEED": "3"})
    results = [
        dataplane.invoke(EP, {"flaky": 1.0}, b"1,2", "text/csv", None, None, None)
        for _ in range(400)
    ]
    failed = sum(r.status == 500 for r in results)
    assert {r.status for r in results} == {200, 500}
    assert _binomial_ok(failed, 400, 0.5)

    dataplane.flush()
    assert metric(EP, "flaky", "Invocation5XXErrors", "Sum") == [failed]
    # One datum per request, 0 for a success: SampleCount is every request, Average the rate.
    assert metric(EP, "flaky", "Invocation5XXErrors", "SampleCount") == [400]
    assert metric(EP, "flaky", "Invocation5XXErrors", "Average") == [pytest.approx(failed / 400)]
    assert metric(EP, "flaky", "Invocation4XXErrors", "Sum") == [0]
    assert metric(EP, "flaky", "Invocation4XXErrors", "SampleCount") == [400]


def test_a_4xx_from_the_model_is_counted(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST)
    bad = dataplane.invoke(EP, {"A": 1.0}, b"1,oops", "text/csv", None, None, None)
    good = dataplane.invoke(EP, {"A": 1.0}, b"1,2", "text/csv", None, None, None)
    assert bad.status == 400 and b"column 2" in bad.body
    assert good.status == 200 and good.content_type == "application/json"
    dataplane.flush()
    assert metric(EP, "A", "Invocation4XXErrors", "Sum") == [1]
    assert metric(EP, "A", "Invocations", "Sum") == [2]


def test_latency_percentiles_are_those_of_the_requests(dataplane: DataPlane) -> None:
    env = {"RG_EMU_LATENCY_MS": "1", "RG_EMU_LATENCY_SIGMA": "0.8", "RG_EMU_SEED": "5"}
    dataplane.start_variant(EP, "A", env)
    latencies = np.array(
        [
            dataplane.invoke(EP, {"A": 1.0}, b"1,2", "text/csv", None, None, None).model_latency_us
            for _ in range(300)
        ],
        dtype=float,
    )
    dataplane.flush()
    for stat in ("p50", "p90", "p95", "p99", "p99.9"):
        want = np.percentile(latencies, float(stat[1:]))
        assert metric(EP, "A", "ModelLatency", stat) == [pytest.approx(want, rel=1e-12)], stat
    assert metric(EP, "A", "ModelLatency", "Maximum") == [latencies.max()]

    now = dt.datetime.now(dt.UTC)
    points = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=[
            {"Name": "EndpointName", "Value": EP},
            {"Name": "VariantName", "Value": "A"},
        ],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=10),
        Period=1200,
        ExtendedStatistics=["p95"],
    )["Datapoints"]
    assert [p["ExtendedStatistics"]["p95"] for p in points] == [
        pytest.approx(np.percentile(latencies, 95), rel=1e-12)
    ]
    assert points[0]["Unit"] == "Microseconds"


def test_metrics_have_sagemaker_names_dimensions_and_units(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST, instances=2)
    for _ in range(10):
        dataplane.invoke(EP, {"A": 1.0}, b"1", "text/csv", None, None, None)
    dataplane.flush()
    listed = boto3.client("cloudwatch", region_name=REGION).list_metrics(Namespace="AWS/SageMaker")[
        "Metrics"
    ]
    assert {m["MetricName"] for m in listed} == {
        "Invocations",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "ModelLatency",
        "OverheadLatency",
        "InvocationsPerInstance",
    }
    for m in listed:
        assert m["Dimensions"] == [
            {"Name": "EndpointName", "Value": EP},
            {"Name": "VariantName", "Value": "A"},
        ]
    # 1/InstanceCount per request.
    assert metric(EP, "A", "InvocationsPerInstance", "Sum") == [5.0]
    assert metric(EP, "A", "OverheadLatency", "SampleCount") == [10]


# -- Data Capture --------------------------------------------------------------------------

KEY = re.compile(
    r"datacapture/(?P<ep>[^/]+)/(?P<variant>[^/]+)/(?P<hour>\d{4}/\d{2}/\d{2}/\d{2})/"
    r"(?P<mm>\d{2})-(?P<ss>\d{2})-\d{3}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"[0-9a-f]{12}\.jsonl"
)


def test_capture_objects_have_sagemaker_layout_and_records(
    dataplane: DataPlane, bucket: str
) -> None:
    dataplane.start_variant(EP, "champion", FAST)
    dataplane.start_variant(EP, "candidate", FAST)
    sent: dict[str, list[bytes]] = {"champion": [], "candidate": []}
    for i in range(40):
        body = f"{i},{i * 0.5}".encode()
        r = dataplane.invoke(
            EP,
            {"champion": 0.5, "candidate": 0.5},
            body,
            "text/csv",
            None,
            None,
            _capture(header=CSV_JSON),
            inference_id=f"req-{i}" if i % 2 else None,
        )
        sent[r.variant].append(body)
    dataplane.flush()

    objects = capture_objects(bucket)
    records_by_variant: dict[str, list[dict[str, Any]]] = {"champion": [], "candidate": []}
    for key, records in objects.items():
        m = KEY.fullmatch(key)
        assert m, key
        assert m["ep"] == EP
        hours = {r["eventMetadata"]["inferenceTime"][:13] for r in records}
        assert hours == {m["hour"].replace("/", "-", 2).replace("/", "T")}
        first = dt.datetime.strptime(
            records[0]["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ"
        )
        assert (m["mm"], m["ss"]) == (f"{first:%M}", f"{first:%S}")
        records_by_variant[m["variant"]].extend(records)
    # One object per variant per flush (two only if the run crossed an hour).
    assert len(objects) == len({(k.split("/")[2], KEY.fullmatch(k)["hour"]) for k in objects})  # type: ignore[index]

    for variant, records in records_by_variant.items():
        assert [r["captureData"]["endpointInput"]["data"].encode() for r in records] == sent[
            variant
        ]
        for r in records:
            assert set(r) == {"captureData", "eventMetadata", "eventVersion"}
            assert r["eventVersion"] == "0"
            assert r["captureData"]["endpointInput"] == {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": r["captureData"]["endpointInput"]["data"],
                "encoding": "CSV",
            }
            out = r["captureData"]["endpointOutput"]
            assert (out["observedContentType"], out["mode"], out["encoding"]) == (
                "application/json",
                "OUTPUT",
                "JSON",
            )
            assert len(json.loads(out["data"])["predictions"]) == 1
            meta = r["eventMetadata"]
            assert re.fullmatch(r"[0-9a-f-]{36}", meta["eventId"])
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["inferenceTime"])
            i = int(r["captureData"]["endpointInput"]["data"].split(",")[0])
            assert meta.get("inferenceId") == (f"req-{i}" if i % 2 else None)


def test_encoding_follows_the_content_type_header(dataplane: DataPlane, bucket: str) -> None:
    dataplane.start_variant(EP, "A", FAST)
    json_body = json.dumps({"instances": [[1, 2]]}).encode()
    # No CaptureContentTypeHeader: SageMaker base64-encodes everything.
    r = dataplane.invoke(EP, {"A": 1.0}, b"1,2", "text/csv", None, None, _capture())
    # JSON listed, CSV not: the CSV request is BASE64, the JSON response JSON.
    header = {"JsonContentTypes": ["application/json"]}
    dataplane.invoke(EP, {"A": 1.0}, b"3,4", "text/csv", None, None, _capture(header=header))
    dataplane.invoke(
        EP, {"A": 1.0}, json_body, "application/json", None, None, _capture(header=header)
    )
    dataplane.flush()

    records = [rec for recs in capture_objects(bucket).values() for rec in recs]
    by_input = {
        base64.b64decode(rec["captureData"]["endpointInput"]["data"])
        if rec["captureData"]["endpointInput"]["encoding"] == "BASE64"
        else rec["captureData"]["endpointInput"]["data"].encode(): rec["captureData"]
        for rec in records
    }
    plain = by_input[b"1,2"]
    assert plain["endpointInput"]["encoding"] == plain["endpointOutput"]["encoding"] == "BASE64"
    assert base64.b64decode(plain["endpointOutput"]["data"]) == r.body
    assert by_input[b"3,4"]["endpointInput"]["encoding"] == "BASE64"
    assert by_input[b"3,4"]["endpointOutput"]["encoding"] == "JSON"
    assert by_input[json_body]["endpointInput"]["encoding"] == "JSON"
    assert by_input[json_body]["endpointInput"]["observedContentType"] == "application/json"


def test_output_only_capture_writes_no_input(dataplane: DataPlane, bucket: str) -> None:
    dataplane.start_variant(EP, "A", FAST)
    for _ in range(5):
        dataplane.invoke(
            EP, {"A": 1.0}, b"1,2", "text/csv", None, None, _capture(modes=("Output",))
        )
    dataplane.flush()
    records = [rec for recs in capture_objects(bucket).values() for rec in recs]
    assert len(records) == 5
    assert all(set(r["captureData"]) == {"endpointOutput"} for r in records)


def test_sampling_percentage_and_disabled_capture(dataplane: DataPlane, bucket: str) -> None:
    dataplane.start_variant(EP, "A", FAST)
    for config in (_capture(percent=0), _capture(enable=False), None):
        for _ in range(20):
            dataplane.invoke(EP, {"A": 1.0}, b"1,2", "text/csv", None, None, config)
    dataplane.flush()
    assert capture_objects(bucket) == {}

    for _ in range(400):
        dataplane.invoke(EP, {"A": 1.0}, b"1,2", "text/csv", None, None, _capture(percent=30))
    dataplane.flush()
    captured = sum(len(recs) for recs in capture_objects(bucket).values())
    assert _binomial_ok(captured, 400, 0.3)


def test_errors_are_not_captured(dataplane: DataPlane, bucket: str) -> None:
    dataplane.start_variant(EP, "A", {**FAST, "RG_EMU_ERROR_RATE": "1"})
    assert dataplane.invoke(EP, {"A": 1.0}, b"1", "text/csv", None, None, _capture()).status == 500
    dataplane.flush()
    assert capture_objects(bucket) == {}


def test_bad_capture_config_is_a_value_error(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST)
    bad = {**_capture(), "DestinationS3Uri": "bucket/prefix"}
    with pytest.raises(ValueError, match="DestinationS3Uri"):
        dataplane.invoke(EP, {"A": 1.0}, b"1", "text/csv", None, None, bad)


# -- processes -----------------------------------------------------------------------------


def test_start_is_idempotent_and_a_new_environment_restarts(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", {**FAST, "RG_EMU_MODEL_VERSION": "v1"})
    first = dataplane._variants[EP]["A"].proc
    dataplane.start_variant(EP, "A", {**FAST, "RG_EMU_MODEL_VERSION": "v1"})
    assert dataplane._variants[EP]["A"].proc is first
    dataplane.start_variant(EP, "A", {**FAST, "RG_EMU_MODEL_VERSION": "v2"})
    assert first.poll() is not None
    out = dataplane.invoke(EP, {"A": 1.0}, b"1", "text/csv", None, None, None)
    assert json.loads(out.body)["model_version"] == "v2"


def test_stop_and_stop_all_end_the_processes(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST)
    dataplane.start_variant(EP, "B", FAST)
    dataplane.start_variant("other", "A", FAST)
    procs = [v.proc for by in dataplane._variants.values() for v in by.values()]
    dataplane.stop_variant(EP, "B")
    dataplane.stop_variant(EP, "B")  # idempotent
    assert dataplane.running(EP) == ["A"]
    dataplane.stop_all()
    assert all(p.poll() is not None for p in procs)
    assert dataplane.running(EP) == dataplane.running("other") == []


def test_a_dead_model_server_answers_502_and_counts_as_5xx(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST)
    assert dataplane.invoke(EP, {"A": 1.0}, b"1", "text/csv", None, None, None).status == 200
    proc = dataplane._variants[EP]["A"].proc
    proc.kill()
    proc.wait()
    r = dataplane.invoke(EP, {"A": 1.0}, b"1", "text/csv", None, None, None)
    assert r.status == 502 and b"unreachable" in r.body
    dataplane.flush()
    assert metric(EP, "A", "Invocation5XXErrors", "Sum") == [1]
    assert metric(EP, "A", "ModelLatency", "SampleCount") == [1]  # only the real answer


def test_a_model_server_that_cannot_start_is_a_clear_error(aws: None, tmp_path: Path) -> None:
    dp = DataPlane(DEFAULT_ACCOUNT_ID, REGION, tmp_path)
    try:
        with pytest.raises(
            ModelServerError, match=r"(?s)churn-endpoint/A exited.*RG_EMU_ERROR_RATE"
        ):
            dp.start_variant(EP, "A", {"RG_EMU_ERROR_RATE": "lots"})
        assert dp.running(EP) == []
    finally:
        dp.stop_all()
