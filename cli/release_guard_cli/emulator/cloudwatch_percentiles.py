"""Percentile statistics for moto's CloudWatch (moto 5.2.5 answers ``p95`` with nothing).

``install()`` patches moto in place, idempotently:

- ``PutMetricData`` members with ``Values``/``Counts`` are stored as one datum that keeps
  the arrays. moto stores one object per count (``Counts=[5000]`` becomes 5000 objects),
  which makes every GetMetricData scan slow once an endpoint has served a few thousand
  requests. The datum is a ``MetricAggregatedDatum``, so Sum, SampleCount, Average,
  Minimum and Maximum keep working through moto's own code.
- ``GetMetricData`` answers ``Stat: "pNN"`` / ``"pNN.NN"`` and ``GetMetricStatistics``
  answers ``ExtendedStatistics``, from every raw sample in the period.

CloudWatch semantics kept (GetMetricStatistics API reference):

- percentiles need raw values: single values and Values/Counts arrays count; a statistic
  set counts only if its SampleCount is 1 or its Minimum equals its Maximum. A period with
  any other statistic set has no percentile (no datapoint), as has a period with a
  negative value ("not available when any of the metric values are negative");
- ``ExtendedStatistics`` takes p0.0 to p100, and not together with ``Statistics``.

CloudWatch does not document its interpolation. We use linear interpolation between the
closest ranks over all samples (numpy's default, Hyndman & Fan type 7); a ``Counts``
entry of k is k samples of that value.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, SupportsFloat

from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue
from moto.core.responses import ActionResult

_PERCENTILE = re.compile(r"p(\d{1,3}(?:\.\d+)?)")
_MARK = "_release_guard_percentiles"


def parse_percentile(stat: str) -> float | None:
    """``"p95"`` -> 95.0, ``"p99.9"`` -> 99.9; None when ``stat`` is not a percentile."""
    match = _PERCENTILE.fullmatch(stat)
    if not match:
        return None
    q = float(match.group(1))
    return q if 0.0 <= q <= 100.0 else None


class ValuesDatum(cw_models.MetricAggregatedDatum):
    """One PutMetricData member with Values/Counts, arrays kept (see module docstring)."""

    def __init__(
        self,
        namespace: str,
        name: str,
        values: list[float],
        counts: list[float],
        dimensions: list[dict[str, str]],
        timestamp: datetime | None,
        unit: Any = None,
    ) -> None:
        super().__init__(
            namespace=namespace,
            name=name,
            min_stat=min(values),
            max_stat=max(values),
            sample_count=sum(counts),
            sum_stat=sum(v * c for v, c in zip(values, counts, strict=True)),
            dimensions=dimensions,
            timestamp=timestamp,
            unit=unit,
        )
        self.values = values
        self.counts = counts


def samples(data: Iterable[cw_models.MetricDatumBase]) -> list[tuple[float, float]] | None:
    """(value, count) pairs of every raw sample, or None if a statistic set hides them."""
    pairs: list[tuple[float, float]] = []
    for md in data:
        if isinstance(md, ValuesDatum):
            pairs.extend(zip(md.values, md.counts, strict=True))
        elif isinstance(md, cw_models.MetricAggregatedDatum):
            if md.sample_count == 1:
                pairs.append((md.sum, 1.0))
            elif md.min == md.max:
                pairs.append((md.min, md.sample_count))
            else:
                return None
        elif isinstance(md, cw_models.MetricDatum):
            pairs.append((float(md.value), 1.0))
    return pairs


def weighted_percentile(pairs: list[tuple[float, float]], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy "linear") over counted samples."""
    pairs = [(v, c) for v, c in pairs if c > 0]
    if not pairs or any(v < 0 for v, _ in pairs):
        return None
    pairs.sort()
    cum: list[float] = []
    total = 0.0
    for _, c in pairs:
        total += c
        cum.append(total)

    def at_rank(rank: int) -> float:
        # 0-based rank in the expanded sample: the first value whose cumulative count > rank
        i = bisect.bisect_right(cum, rank)
        return pairs[min(i, len(pairs) - 1)][0]

    h = (total - 1.0) * q / 100.0
    if h <= 0:
        return pairs[0][0]
    lo = math.floor(h)
    frac = h - lo
    low = at_rank(lo)
    return low if frac == 0 else low + (at_rank(lo + 1) - low) * frac


def percentile_of(data: Iterable[cw_models.MetricDatumBase], q: float) -> float | None:
    pairs = samples(data)
    return None if pairs is None else weighted_percentile(pairs, q)


def install() -> None:
    """Patch moto's CloudWatch in this process (idempotent; safe before or after mock start)."""
    if getattr(cw_models.CloudWatchBackend, _MARK, False):
        return
    _patch_put_metric_data()
    _patch_statistics()
    _patch_get_metric_data()
    _patch_get_metric_statistics()
    setattr(cw_models.CloudWatchBackend, _MARK, True)


def _patch_put_metric_data() -> None:
    original = cw_models.CloudWatchBackend.put_metric_data

    def put_metric_data(
        self: cw_models.CloudWatchBackend, namespace: str, metric_data: list[dict[str, Any]]
    ) -> None:
        # Validate every member first, as moto does, so nothing is stored on a bad request.
        for i, member in enumerate(metric_data):
            self._validate_parameters_put_metric_data(member, i + 1)
        rest = []
        for member in metric_data:
            if not member.get("Values"):
                rest.append(member)
                continue
            values = [float(v) for v in member["Values"]]
            counts = [float(c) for c in (member.get("Counts") or [1.0] * len(values))]
            kept = [(v, c) for v, c in zip(values, counts, strict=True) if c > 0]
            if not kept:
                continue
            self.metric_data.append(
                ValuesDatum(
                    namespace=namespace,
                    name=member["MetricName"],
                    values=[v for v, _ in kept],
                    counts=[c for _, c in kept],
                    dimensions=member.get("Dimensions", []),
                    timestamp=member.get("Timestamp"),
                    unit=member.get("Unit"),
                )
            )
        if rest:
            original(self, namespace, rest)

    cw_models.CloudWatchBackend.put_metric_data = put_metric_data  # type: ignore[method-assign]


def _patch_statistics() -> None:
    stats_cls = cw_models.Statistics
    original = stats_cls.get_statistics_for_type

    def get_statistics_for_type(self: cw_models.Statistics, stat: str) -> SupportsFloat | None:
        q = parse_percentile(stat)
        if q is None:
            return original(self, stat)
        return percentile_of(self.metric_data, q)

    def extended_statistics(self: cw_models.Statistics) -> dict[str, float] | None:
        # Serialised as Datapoint.ExtendedStatistics by moto's attribute picker.
        out: dict[str, float] = {}
        for stat in self.stats:
            q = parse_percentile(stat)
            if q is not None and (value := percentile_of(self.metric_data, q)) is not None:
                out[stat] = value
        return out or None

    stats_cls.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
    stats_cls.extended_statistics = property(extended_statistics)  # type: ignore[attr-defined]


def _patch_get_metric_data() -> None:
    original = cw_models.CloudWatchBackend.get_metric_data

    def get_metric_data(
        self: cw_models.CloudWatchBackend,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        results = original(self, queries, start_time, end_time, scan_by)
        # A period whose percentile is unavailable has no datapoint (moto would put None).
        for result in results:
            pairs = [
                (v, t)
                for v, t in zip(result["values"], result["timestamps"], strict=True)
                if v is not None
            ]
            result["values"] = [v for v, _ in pairs]
            result["timestamps"] = [t for _, t in pairs]
        return results

    cw_models.CloudWatchBackend.get_metric_data = get_metric_data  # type: ignore[method-assign]


def _patch_get_metric_statistics() -> None:
    def get_metric_statistics(self: cw_responses.CloudWatchResponse) -> ActionResult:
        statistics = self._get_param("Statistics", [])
        extended = self._get_param("ExtendedStatistics", []) or []
        if not statistics and not extended:
            raise InvalidParameterCombination(
                "Must specify either Statistics or ExtendedStatistics"
            )
        if statistics and extended:
            raise InvalidParameterCombination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive "
                "and you have specified both."
            )
        for stat in extended:
            if parse_percentile(stat) is None:
                raise InvalidParameterValue(
                    f"The value {stat} for parameter ExtendedStatistics is not supported: "
                    "specify a percentile between p0.0 and p100."
                )
        datapoints = self.cloudwatch_backend.get_metric_statistics(
            self._get_param("Namespace"),
            self._get_param("MetricName"),
            self._get_param("StartTime"),
            self._get_param("EndTime"),
            self._get_int_param("Period"),
            list(statistics) + list(extended),
            unit=self._get_param("Unit"),
            dimensions=self._get_param("Dimensions", []),
        )
        if extended:
            # A period whose percentiles are all unavailable has no datapoint.
            datapoints = [d for d in datapoints if d.extended_statistics]  # type: ignore[attr-defined]
        return ActionResult({"Label": self._get_param("MetricName"), "Datapoints": datapoints})

    cw_responses.CloudWatchResponse.get_metric_statistics = (  # type: ignore[method-assign]
        get_metric_statistics
    )
