"""The drift decision: calibrated with no drift at every sample size, catches each
kind of drift with a reason a person can read, and never calls an empty window clean."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from release_guard.drift.columns import Columns, Quality
from release_guard.drift.decide import decide
from release_guard.drift.profile import build_profile, load_profile, top_runs
from release_guard.drift.summary import Summary, summarise
from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema

NUMERIC = ["normal", "lognormal", "counts", "bimodal"]
SCHEMA = PayloadSchema(
    features=[FeatureSpec(name=n) for n in NUMERIC]
    + [FeatureSpec(name="channel", kind="categorical")]
)
POLICY = DriftPolicy(payload=SCHEMA)
LEVELS = ["web", "app", "api", "batch"]
SHARES = [0.5, 0.3, 0.15, 0.05]


def sample(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    normal = rng.normal(10, 2, n)
    normal[rng.random(n) < 0.02] = np.nan
    return {
        "normal": normal,
        "lognormal": rng.lognormal(0, 0.8, n),
        "counts": rng.poisson(4, n).astype(float),
        "bimodal": np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(2, 1, n)),
        "channel": rng.choice(LEVELS, n, p=SHARES),
    }


def columns(data: dict[str, np.ndarray]) -> Columns:
    n = len(data["normal"])
    numeric = {k: data[k] for k in NUMERIC}
    cats: dict[str, list[str | None]] = {"channel": [str(v) for v in data["channel"]]}
    source = dict.fromkeys([*NUMERIC, "channel"], "input")
    return Columns(rows={"input": n}, numeric=numeric, categorical=cats, source=source)


@pytest.fixture(scope="module")
def profile():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(42)
    return build_profile(columns(sample(rng, 100_000)), SCHEMA, datetime(2026, 11, 1, tzinfo=UTC))


def check(profile, data):  # type: ignore[no-untyped-def]
    return decide(profile, summarise(columns(data), profile), POLICY)


@pytest.mark.parametrize(("n", "runs"), [(100, 200), (2_000, 100), (200_000, 20)])
def test_no_drift_alarms_at_most_alpha_at_every_sample_size(profile, n: int, runs: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(n)
    alarms = sum(check(profile, sample(rng, n)).severity != "none" for _ in range(runs))
    # alpha = 0.05 per check; with this many runs, 10 % bounds chance excursions.
    assert alarms / runs <= 0.10


def test_a_fixed_psi_threshold_alone_would_alarm_at_100_rows(profile) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    reports = [check(profile, sample(rng, 100)) for _ in range(50)]
    naive = np.mean([any((f.psi or 0) > 0.1 for f in r.features) for r in reports])
    ours = np.mean([r.severity != "none" for r in reports])
    assert naive > 0.5 and ours <= 0.1


def drifted(profile, data):  # type: ignore[no-untyped-def]
    report = check(profile, data)
    return {f.name: f for f in report.features if f.drifted}, report


def test_mean_shift_is_caught_with_the_quantiles_that_moved(profile) -> None:  # type: ignore[no-untyped-def]
    data = sample(np.random.default_rng(1), 20_000)
    data["normal"] = data["normal"] + 1.0  # half a standard deviation
    found, report = drifted(profile, data)
    assert list(found) == ["normal"]
    assert report.top == ["normal"] and report.severity in ("investigate", "act")
    assert any(r.startswith("p50 moved up") for r in found["normal"].reasons)


def test_stuck_value_outliers_and_missing_values_are_named(profile) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    data = sample(rng, 20_000)
    data["lognormal"][:2000] = 1.2345  # 10 % stuck on one value
    data["bimodal"][:600] = 1e4  # 3 % far above the reference's p99.9
    data["normal"][:1600] = np.nan  # missing 2 % -> 10 %
    found, _ = drifted(profile, data)
    assert set(found) == {"lognormal", "bimodal", "normal"}
    assert any("stuck value: 1.234" in r for r in found["lognormal"].reasons)
    assert any("outlier burst: 3.1 %" in r for r in found["bimodal"].reasons)
    assert any(r.startswith("missing values 9.") for r in found["normal"].reasons)
    assert found["normal"].missing_share == pytest.approx(0.02 + 0.08 * 0.98, abs=0.005)


def test_categorical_shift_new_and_vanished_categories(profile) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    data = sample(rng, 20_000)
    channel = data["channel"].astype(object)
    channel[channel == "batch"] = "web"  # 'batch' vanishes
    channel[:1000] = "kiosk"  # a new category in 5 %
    data["channel"] = channel
    found, _ = drifted(profile, data)
    reasons = " | ".join(found["channel"].reasons)
    assert "new: 'kiosk' 5.0 %" in reasons
    assert "vanished: 'batch'" in reasons


def test_a_trivial_shift_at_a_huge_sample_is_significant_but_not_drift(profile) -> None:  # type: ignore[no-untyped-def]
    data = sample(np.random.default_rng(4), 1_000_000)
    data["normal"] = data["normal"] + 0.06  # 0.03 sd: real but trivial
    report = check(profile, data)
    normal = next(f for f in report.features if f.name == "normal")
    assert normal.significant and not normal.drifted
    assert normal.effect is not None and normal.effect < POLICY.min_effect
    assert "below the effect floor" in normal.reasons[0]


def test_empty_window_is_no_data_not_no_drift(profile) -> None:  # type: ignore[no-untyped-def]
    report = decide(profile, Summary(profile_id=profile.profile_id), POLICY)
    assert report.status == "no_data" and report.severity == "none"
    assert "not a 'no drift' result" in report.reason


def test_unparsable_window_says_so(profile) -> None:  # type: ignore[no-untyped-def]
    quality = Quality(records=40, unparsable=40)
    report = decide(profile, Summary(profile_id=profile.profile_id, quality=quality), POLICY)
    assert report.status == "no_data"
    assert "40 read, none parsed" in report.reason
    assert "40 of 40 capture lines could not be parsed (skipped)" in report.findings


def test_summaries_merge_to_the_summary_of_the_whole(profile) -> None:  # type: ignore[no-untyped-def]
    data = sample(np.random.default_rng(5), 9_000)
    whole = summarise(columns(data), profile)
    parts = [
        summarise(columns({k: v[i : i + 3000] for k, v in data.items()}), profile)
        for i in (0, 3000, 6000)
    ]
    merged = Summary(profile_id=profile.profile_id)
    for p in parts:
        merged.merge(Summary.from_dict(p.to_dict()))  # through the stored form, too
    a, b = decide(profile, whole, POLICY), decide(profile, merged, POLICY)
    assert [f.model_dump() for f in a.features] == [f.model_dump() for f in b.features]


def test_profile_round_trips_and_is_small(profile) -> None:  # type: ignore[no-untyped-def]
    text = profile.to_json()
    assert load_profile(text) == profile
    assert len(text) / len(profile.features) < 20_000  # 100 features < 2 MB


def test_a_baseline_missing_a_feature_is_a_finding(profile) -> None:  # type: ignore[no-untyped-def]
    policy = DriftPolicy(
        payload=PayloadSchema(features=[*SCHEMA.features, FeatureSpec(name="region")])
    )
    report = decide(
        profile, summarise(columns(sample(np.random.default_rng(6), 500)), profile), policy
    )
    assert "region: the baseline has no profile for this feature (not checked)" in report.findings


@pytest.mark.parametrize("seed", range(20))
def test_top_values_are_exactly_the_values_holding_one_percent(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 5000))
    x = np.sort(np.concatenate([rng.normal(size=n), rng.integers(0, 30, size=n // 2) / 2]))
    values, counts = np.unique(x, return_counts=True)
    need = max(2, int(x.size * 0.01))
    expected = sorted(
        ((float(v), int(c)) for v, c in zip(values, counts, strict=True) if c >= need),
        key=lambda vc: -vc[1],
    )
    got = top_runs(x, 1000)
    assert sorted(got) == sorted(expected)
    assert [c for _, c in got] == sorted((c for _, c in got), reverse=True)


@pytest.mark.parametrize(
    ("ref_shares", "cur_shares"),
    [
        ({"a": 0.8, "b": 0.1, "c": 0.1}, {"a": 0.65, "b": 0.25, "c": 0.1}),  # TV 0.15
        ({"a": 0.5, "b": 0.25, "c": 0.25}, {"a": 0.5, "b": 0.35, "c": 0.15}),
    ],
)
def test_a_shift_among_few_categories_keeps_its_cells_and_agrees_with_scipy(
    ref_shares: dict[str, float], cur_shares: dict[str, float]
) -> None:
    # One dominant category once merged every cell into one: chi2 0, df 0, p 1.
    from collections import Counter

    from release_guard.drift.decide import _categorical
    from release_guard.drift.profile import CategoricalProfile
    from release_guard.drift.summary import CategoricalSummary
    from scipy.stats import chi2_contingency

    n_ref, n = 20_000, 5_000
    ref = {k: round(v * n_ref) for k, v in ref_shares.items()}
    cur = {k: round(v * n) for k, v in cur_shares.items()}
    p = CategoricalProfile(count=n_ref, missing=0, categories=ref)
    res = _categorical("channel", p, CategoricalSummary(counts=Counter(cur)))
    expected = chi2_contingency([list(ref.values()), list(cur.values())], correction=False)
    assert res.chi2_df == len(ref) - 1
    assert res.chi2 == pytest.approx(expected.statistic, rel=1e-9)
    assert res.chi2_p is not None and res.chi2_p < 1e-6
    # Through the public path too: the feature is flagged, with the move in its reasons.
    only = PayloadSchema(features=[FeatureSpec(name="channel", kind="categorical")])

    def cols(counts: dict[str, int]) -> Columns:
        values: list[str | None] = [k for k, v in counts.items() for _ in range(v)]
        return Columns(
            rows={"input": len(values)},
            numeric={},
            categorical={"channel": values},
            source={"channel": "input"},
        )

    base = build_profile(cols(ref), only, datetime(2026, 11, 1, tzinfo=UTC))
    report = decide(base, summarise(cols(cur), base), DriftPolicy(payload=only))
    found = report.features[0]
    assert found.severity != "none", found
    assert "'b'" in " ".join(found.reasons)
