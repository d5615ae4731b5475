"""Every reason a drift check gives agrees with its own numbers, whatever the data:
continuous, discrete, constant, zero-inflated, tiny or large samples, and profiles built
before point masses had bins of their own.

A reason is read back by the pattern of its kind (a reason of no known kind fails): the
direction word must match the sign of the change, no reason states a move between equal
values, and where a reason is exact (shares of a point mass, values outside the
reference's range) it is checked against the raw data too."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from release_guard.drift.columns import Columns
from release_guard.drift.decide import FeatureResult, decide
from release_guard.drift.profile import NumericProfile, build_profile, value_bins
from release_guard.drift.summary import summarise
from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema

SCHEMA = PayloadSchema(features=[FeatureSpec(name="x")])
POLICY = DriftPolicy(payload=SCHEMA)
NUM = r"(-?[\d.]+(?:e[+-]?\d+)?|-?inf)"
PCT = r"([\d.]+) %"

QUANTILE = re.compile(rf"^p(\d+) moved (up|down): {NUM} -> {NUM} \(the reference's p(\d+)\)$")
POINT = re.compile(rf"^{NUM} in {PCT} of values \(reference {PCT}\)$")
STUCK = re.compile(
    rf"^stuck value: {NUM} in {PCT} of values "
    rf"\((?:reference {PCT}|reference at most {PCT}|the reference never had it)\)$"
)
BELOW = re.compile(rf"^{PCT} of values below the reference's minimum {NUM} \(down to {NUM}\)$")
ABOVE = re.compile(rf"^{PCT} of values above the reference's maximum {NUM} \(up to {NUM}\)$")
BETWEEN = re.compile(rf"^{PCT} of values between {NUM} and {NUM}, where the reference has none$")
BURST = re.compile(
    rf"^outlier burst: {PCT} of values (above|below) the reference p[\d.]+ \({NUM}\); "
    rf"expected {PCT}$"
)
SPREAD = re.compile(rf"^spread x([\d.]+) \(sd {NUM} -> {NUM}\)$")
MISSING = re.compile(rf"^missing values {PCT} \(reference {PCT}\)$")
FLOOR = re.compile(r"^significant but below the effect floor ")


def share_close(stated: str, actual: float) -> bool:
    """A percentage printed with one decimal against the exact share."""
    return abs(float(stated) - 100 * actual) <= 0.05 + 1e-9


def check_reason(reason: str, ref: NDArray[np.float64], cur: NDArray[np.float64]) -> None:
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if m := QUANTILE.match(reason):
        label, way, was, now, rank = m.groups()
        assert was != now, reason
        # the raw data never says the opposite (the bins' numbers are estimates
        # inside a bin, but the move is at least one bin wide)
        raw_ref, raw_cur = (
            np.quantile(x, int(label) / 100, method="inverted_cdf") for x in (ref, cur)
        )
        if way == "up":
            assert float(now) > float(was) and int(rank) > int(label), reason
            assert raw_cur >= raw_ref, reason
        else:
            assert float(now) < float(was) and int(rank) < int(label), reason
            assert raw_cur <= raw_ref, reason
    elif m := POINT.match(reason):
        _, now, was = m.groups()
        assert now != was, reason
    elif m := STUCK.match(reason):
        _, now, was, at_most = m.groups()
        base = was or at_most
        assert base is None or float(now) > float(base), reason
    elif m := BELOW.match(reason):
        share, edge, low = m.groups()
        assert float(low) < float(edge), reason
        assert np.isclose(float(edge), ref.min(), rtol=1e-3, atol=1e-12), reason
        assert share_close(share, float((cur < ref.min()).mean())), reason
        assert np.isclose(float(low), cur.min(), rtol=1e-3, atol=1e-12), reason
    elif m := ABOVE.match(reason):
        share, edge, high = m.groups()
        assert float(high) > float(edge), reason
        assert np.isclose(float(edge), ref.max(), rtol=1e-3, atol=1e-12), reason
        assert share_close(share, float((cur > ref.max()).mean())), reason
        assert np.isclose(float(high), cur.max(), rtol=1e-3, atol=1e-12), reason
    elif m := BETWEEN.match(reason):
        share, a, z = m.groups()
        assert float(a) < float(z) and float(share) > 0, reason
    elif m := BURST.match(reason):
        now, _, _, expected = m.groups()
        assert float(now) > float(expected), reason
    elif m := SPREAD.match(reason):
        ratio, was, now = m.groups()
        assert ratio != "1.00" and was != now, reason
        assert (float(ratio) > 1) == (float(now) > float(was)), reason
    elif m := MISSING.match(reason):
        now, was = m.groups()
        assert now != was, reason
    else:
        assert FLOOR.match(reason), f"a reason of no known kind: {reason!r}"


KINDS = ["normal", "integers", "binary", "constant", "zero_inflated", "pool"]


def draw(rng: np.random.Generator, kind: str, n: int, shift: float) -> NDArray[np.float64]:
    if kind == "normal":
        return rng.normal(shift, 1 + abs(shift) / 2, n)
    if kind == "integers":
        return rng.poisson(3 + abs(shift) * 2, n).astype(float) + round(shift)
    if kind == "binary":
        return (rng.random(n) < min(0.95, max(0.05, 0.5 + shift / 4))).astype(float)
    if kind == "constant":
        return np.full(n, 256.0 + round(shift))
    if kind == "zero_inflated":
        x = rng.lognormal(shift, 1, n)
        x[rng.random(n) < min(0.9, max(0.1, 0.6 - shift / 4))] = 0.0
        return x
    return rng.choice([-1.5, 0.0, 0.25, 2.0, 7.0], n, p=[0.1, 0.4, 0.2, 0.2, 0.1]) + shift


def columns(x: NDArray[np.float64]) -> Columns:
    return Columns(rows={"input": x.size}, numeric={"x": x}, source={"x": "input"})


def legacy(profile: NumericProfile) -> NumericProfile:
    """The same profile as built before point masses had bins of their own."""
    edges, counts = value_bins(profile.edges, profile.counts)
    return profile.model_copy(update={"edges": edges, "counts": counts})


def feature(ref: NDArray[np.float64], cur: NDArray[np.float64], old: bool) -> FeatureResult:
    profile = build_profile(columns(ref), SCHEMA, datetime(2026, 1, 1, tzinfo=UTC))
    if old:
        p = profile.features["x"]
        assert isinstance(p, NumericProfile)
        profile = profile.model_copy(update={"features": {"x": legacy(p)}})
    report = decide(profile, summarise(columns(cur), profile), POLICY)
    return report.features[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ref_kind=st.sampled_from(KINDS),
    cur_kind=st.sampled_from(KINDS),
    same_kind=st.booleans(),
    n_ref=st.integers(1, 3000),
    n_cur=st.integers(1, 3000),
    shift=st.floats(-3, 3),
    missing=st.floats(0, 0.3),
    old=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_reason_agrees_with_its_numbers(
    ref_kind: str,
    cur_kind: str,
    same_kind: bool,
    n_ref: int,
    n_cur: int,
    shift: float,
    missing: float,
    old: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    ref = draw(rng, ref_kind, n_ref, 0.0)
    cur = draw(rng, ref_kind if same_kind else cur_kind, n_cur, shift)
    cur[rng.random(n_cur) < missing] = np.nan
    result = feature(ref, cur, old)
    for reason in result.reasons:
        check_reason(reason, ref, cur)


@settings(max_examples=100, deadline=None)
@given(
    ref=st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 10.0, -4.0]), min_size=1, max_size=300),
    cur=st.lists(
        st.sampled_from([0.0, 1.0, 2.0, 2.5, 10.0, -4.0, 3.0, 1e6]) | st.floats(-10, 10),
        min_size=1,
        max_size=300,
    ),
    old=st.booleans(),
)
def test_reasons_about_discrete_values_are_exact(
    ref: list[float], cur: list[float], old: bool
) -> None:
    r, c = np.asarray(ref), np.asarray(cur)
    result = feature(r, c, old)
    for reason in result.reasons:
        check_reason(reason, r, c)
        if not old and (m := POINT.match(reason)):
            value, now, was = (float(g) for g in m.groups())
            assert share_close(f"{now}", float((c == value).mean())), reason
            assert share_close(f"{was}", float((r == value).mean())), reason
