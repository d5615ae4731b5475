"""Percentiles from moto's CloudWatch after cloudwatch_percentiles.install().

Reference: numpy's default percentile (linear interpolation between closest ranks) over
every raw sample, a Counts entry of k being k samples: the method the module documents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.cloudwatch import models as cw_models
from moto.core import DEFAULT_ACCOUNT_ID
from release_guard_cli.emulator import cloudwatch_percentiles

from tests.emulator.support import REGION

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
DIMS = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "A"}]
STATS = ["p50", "p90", "p95", "p99", "p99.9", "p0", "p100"]


@pytest.fixture(autouse=True)
def _installed(aws: None) -> None:
    cloudwatch_percentiles.install()


def _cw() -> Any:
    return boto3.client("cloudwatch", region_name=REGION)


def _put(**member: Any) -> None:
    _cw().put_metric_data(
        Namespace="Test",
        MetricData=[
            {"MetricName": "Latency", "Dimensions": DIMS, "Unit": "Microseconds", **member}
        ],
    )


def _data(stats: list[str], period: int = 3600, minutes: int = 30) -> dict[str, list[float]]:
    resp = _cw().get_metric_data(
        MetricDataQueries=[
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {"Namespace": "Test", "MetricName": "Latency", "Dimensions": DIMS},
                    "Period": period,
                    "Stat": stat,
                },
            }
            for i, stat in enumerate(stats)
        ],
        StartTime=T0 - dt.timedelta(minutes=minutes),
        EndTime=T0 + dt.timedelta(minutes=minutes),
        ScanBy="TimestampAscending",
    )
    by_id = {r["Id"]: r["Values"] for r in resp["MetricDataResults"]}
    return {stat: by_id[f"q{i}"] for i, stat in enumerate(stats)}


def _statistics(**kwargs: Any) -> list[dict[str, Any]]:
    resp = _cw().get_metric_statistics(
        Namespace="Test",
        MetricName="Latency",
        Dimensions=DIMS,
        StartTime=T0 - dt.timedelta(minutes=30),
        EndTime=T0 + dt.timedelta(minutes=30),
        Period=3600,
        **kwargs,
    )
    points: list[dict[str, Any]] = resp["Datapoints"]
    return points


def _expected(samples: np.ndarray, stats: list[str]) -> dict[str, float]:
    return {s: float(np.percentile(samples, float(s[1:]))) for s in stats}


def test_percentiles_from_values_counts_and_single_values_match_numpy() -> None:
    rng = np.random.default_rng(3)
    latencies = rng.lognormal(mean=9.5, sigma=0.6, size=1050)
    # As the data plane publishes: several members a minute, Values with Counts.
    for i in range(0, 1000, 100):
        values, counts = np.unique(np.round(latencies[i : i + 100]), return_counts=True)
        _put(Timestamp=T0, Values=values.tolist(), Counts=counts.astype(float).tolist())
    for v in latencies[1000:]:
        _put(Timestamp=T0 + dt.timedelta(seconds=5), Value=float(np.round(v)))
    samples = np.round(latencies)

    got = _data([*STATS, "SampleCount", "Sum", "Minimum", "Maximum"])
    for stat, want in _expected(samples, STATS).items():
        assert got[stat] == [pytest.approx(want, rel=1e-12)], stat
    assert got["SampleCount"] == [1050.0]
    assert got["Sum"] == [pytest.approx(float(samples.sum()))]
    assert got["Minimum"] == [samples.min()]
    assert got["Maximum"] == [samples.max()]


def test_counts_weight_the_samples() -> None:
    _put(Timestamp=T0, Values=[10.0, 20.0, 40.0], Counts=[3.0, 1.0, 1.0])
    got = _data(["p50", "p75", "p90", "Average"])
    samples = np.array([10, 10, 10, 20, 40], dtype=float)
    assert got["p50"] == [np.percentile(samples, 50)]
    assert got["p75"] == [np.percentile(samples, 75)]
    assert got["p90"] == [pytest.approx(np.percentile(samples, 90))]
    assert got["Average"] == [pytest.approx(samples.mean())]


def test_each_period_has_its_own_percentile() -> None:
    first = np.arange(1.0, 101.0)
    second = np.arange(1000.0, 1010.0)
    _put(Timestamp=T0 - dt.timedelta(minutes=10), Values=first.tolist())
    _put(Timestamp=T0 + dt.timedelta(minutes=10), Values=second.tolist())
    got = _data(["p95"], period=900)  # periods start at T0-30m: [-30,-15) [-15,0) [0,15)
    assert got["p95"] == [np.percentile(first, 95), np.percentile(second, 95)]


def test_get_metric_statistics_extended_statistics_match_numpy() -> None:
    rng = np.random.default_rng(5)
    samples = np.round(rng.gamma(2.0, 3000.0, size=500))
    values, counts = np.unique(samples, return_counts=True)
    _put(Timestamp=T0, Values=values.tolist(), Counts=counts.astype(float).tolist())

    points = _statistics(ExtendedStatistics=["p50", "p95", "p99.5"])
    assert len(points) == 1
    ext = points[0]["ExtendedStatistics"]
    for stat, want in _expected(samples, ["p50", "p95", "p99.5"]).items():
        assert ext[stat] == pytest.approx(want, rel=1e-12)
    assert "Sum" not in points[0]

    plain = _statistics(Statistics=["SampleCount", "Average"])
    assert plain[0]["SampleCount"] == 500
    assert plain[0]["Average"] == pytest.approx(samples.mean())
    assert "ExtendedStatistics" not in plain[0]


def test_statistic_sets_count_only_when_they_are_raw_values() -> None:
    # SampleCount 1, and Min == Max: both are raw values (GetMetricStatistics reference).
    _put(Timestamp=T0, StatisticValues={"SampleCount": 1, "Sum": 7, "Minimum": 7, "Maximum": 7})
    _put(Timestamp=T0, StatisticValues={"SampleCount": 4, "Sum": 12, "Minimum": 3, "Maximum": 3})
    assert _data(["p50", "p100"]) == {"p50": [3.0], "p100": [7.0]}

    # A true aggregate hides its samples: that period has no percentile, Sum still works.
    _put(Timestamp=T0, StatisticValues={"SampleCount": 3, "Sum": 30, "Minimum": 5, "Maximum": 15})
    got = _data(["p50", "Sum"])
    assert got == {"p50": [], "Sum": [49.0]}
    assert _statistics(ExtendedStatistics=["p50"]) == []


def test_negative_values_make_percentiles_unavailable() -> None:
    _put(Timestamp=T0, Values=[5.0, -1.0, 9.0])
    assert _data(["p50", "Minimum"]) == {"p50": [], "Minimum": [-1.0]}


def test_get_metric_statistics_validates_extended_statistics() -> None:
    _put(Timestamp=T0, Value=1.0)
    with pytest.raises(ClientError) as err:
        _statistics(ExtendedStatistics=["p101"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        _statistics(Statistics=["Sum"], ExtendedStatistics=["p50"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_values_counts_are_stored_as_one_datum() -> None:
    _put(Timestamp=T0, Values=[1.0, 2.0], Counts=[5000.0, 5000.0])
    backend = cw_models.cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION]
    stored = [md for md in backend.metric_data if md.namespace == "Test"]
    assert len(stored) == 1  # moto alone stores 10,000 objects
    assert _data(["SampleCount", "p50"]) == {"SampleCount": [10000.0], "p50": [1.5]}


def test_install_is_idempotent() -> None:
    put = cw_models.CloudWatchBackend.put_metric_data
    cloudwatch_percentiles.install()
    assert cw_models.CloudWatchBackend.put_metric_data is put
    _put(Timestamp=T0, Values=[4.0])
    assert _data(["SampleCount"]) == {"SampleCount": [1.0]}


@pytest.mark.parametrize(
    ("stat", "q"),
    [("p95", 95.0), ("p99.9", 99.9), ("p0", 0.0), ("p100", 100.0), ("p100.5", None), ("P95", None)],
)
def test_parse_percentile(stat: str, q: float | None) -> None:
    assert cloudwatch_percentiles.parse_percentile(stat) == q


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 5)), min_size=1, max_size=40),
    q=st.floats(0, 100),
)
def test_weighted_percentile_equals_numpy_on_expanded_samples(
    pairs: list[tuple[int, int]], q: float
) -> None:
    expanded = np.repeat([float(v) for v, _ in pairs], [c for _, c in pairs])
    got = cloudwatch_percentiles.weighted_percentile([(float(v), float(c)) for v, c in pairs], q)
    assert got == pytest.approx(float(np.percentile(expanded, q)), rel=1e-9, abs=1e-9)
