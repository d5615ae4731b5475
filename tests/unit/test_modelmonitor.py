"""Model Monitor statistics.json / constraints.json <-> profiles (drift.modelmonitor)."""

from __future__ import annotations

import copy
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from release_guard.drift.columns import Columns
from release_guard.drift.modelmonitor import (
    export_notes,
    from_statistics,
    load_json,
    profile_model,
    to_constraints,
    to_statistics,
)
from release_guard.drift.profile import (
    NAMED,
    CategoricalProfile,
    EmbeddingProfile,
    NumericProfile,
    Profile,
    build_profile,
    fingerprint,
    value_bins,
)
from release_guard.policy import FeatureSpec, PayloadSchema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "modelmonitor"
CREATED = datetime(2024, 6, 1, tzinfo=UTC)
N = 20_000


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def sample_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_sample", FIXTURES / "make_sample.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feature(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in doc["features"] if f["name"] == name)


def ranks(values: np.ndarray, q: float) -> tuple[float, float]:
    """Share of values below q and at most q."""
    return float((values < q).mean()), float((values <= q).mean())


# -- round trip ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    x = rng.normal(3.0, 2.0, N)
    x[:50] = np.nan  # missing
    k = rng.poisson(4.0, N).astype(float)  # integer counts
    cats: list[str | None] = [str(c) for c in rng.choice(["a", "b", "c"], N, p=[0.5, 0.3, 0.2])]
    cats[:10] = [None] * 10
    return {"x": x, "k": k, "c": cats}


SCHEMA = PayloadSchema(
    features=[
        FeatureSpec(name="x"),
        FeatureSpec(name="k"),
        FeatureSpec(name="c", kind="categorical"),
    ]
)


@pytest.fixture(scope="module")
def profile(data: dict[str, Any]) -> Profile:
    columns = Columns(
        rows={"input": N},
        numeric={"x": data["x"], "k": data["k"]},
        categorical={"c": data["c"]},
        source={"x": "input", "k": "input", "c": "input"},
    )
    return build_profile(columns, SCHEMA, created=CREATED)


def test_round_trip_keeps_bins_exactly(profile: Profile, data: dict[str, Any]) -> None:
    stats = json.loads(json.dumps(to_statistics(profile), allow_nan=False))
    constraints = json.loads(json.dumps(to_constraints(profile), allow_nan=False))
    back, notes = from_statistics(stats, constraints, SCHEMA, CREATED)

    assert set(back.features) == {"x", "k", "c"}
    for name in ("x", "k"):
        a, b = profile.features[name], back.features[name]
        assert isinstance(a, NumericProfile) and isinstance(b, NumericProfile)
        # the sketch is written exact at every edge (kll_sketch), so edges and counts
        # come back unchanged, not merely close
        assert b.edges == a.edges
        assert b.counts == a.counts
        assert (b.count, b.missing, b.min, b.max) == (a.count, a.missing, a.min, a.max)
        assert b.mean == pytest.approx(a.mean, rel=1e-12)
        assert b.std == pytest.approx(a.std, rel=1e-12)  # sample -> population -> sample
        values = data[name][np.isfinite(data[name])]
        for key, p in NAMED.items():
            # Every named probability is on the PROBS grid, whose edges came back
            # exactly, so the imported quantile is the data's inverted-CDF quantile.
            # build_profile's named quantiles use numpy's "linear" method instead; the
            # two differ by at most the gap between adjacent order statistics, i.e.
            # both are p-quantiles with rank error <= 1/n:
            assert b.quantiles[key] == np.quantile(values, p, method="inverted_cdf")
            for q in (a.quantiles[key], b.quantiles[key]):
                below, at_most = ranks(values, q)
                assert below <= p + 1 / values.size and at_most >= p - 1 / values.size
    k_before, k_after = profile.features["k"], back.features["k"]
    assert isinstance(k_before, NumericProfile) and isinstance(k_after, NumericProfile)
    assert (k_after.top_value, k_after.top_share) == (k_before.top_value, k_before.top_share)
    x_after = back.features["x"]
    assert isinstance(x_after, NumericProfile)
    # continuous: the heaviest sketch item is a whole 1 % bin, an over-estimate
    assert x_after.top_share == max(x_after.counts) / sum(x_after.counts)
    assert back.features["c"] == profile.features["c"]
    assert back.payload == SCHEMA
    assert back.rows == {"input": N}
    assert back.profile_id == fingerprint(back)
    # (profile_id differs from the original's: named quantiles use another method and
    # top_value/top_share are the sketch's estimates after an import)
    assert not [n for n in notes if not n.startswith("Model Monitor drift threshold")]


def test_exported_sketch_has_deequ_weights(profile: Profile) -> None:
    stats = to_statistics(profile)
    for name in ("x", "k"):
        p = profile.features[name]
        assert isinstance(p, NumericProfile)
        ns = feature(stats, name)["numerical_statistics"]
        sketch = ns["distribution"]["kll"]["sketch"]
        assert sketch["parameters"] == {"c": 0.64, "k": 2048}
        items = [(x, 2**h) for h, level in enumerate(sketch["data"]) for x in level]
        present = p.count - p.missing
        assert sum(w for _, w in items) == present == ns["common"]["num_present"]
        # Deequ's getRank (values <= x) at each edge is the profile's cumulative count
        cum = np.cumsum(p.counts)
        for e, c in zip(p.edges, cum[:-1], strict=True):
            assert sum(w for x, w in items if x <= e) == c
        assert len(items) <= (len(p.edges) + 1) * (int(np.log2(present)) + 1)


def test_exported_statistics_shape(profile: Profile, data: dict[str, Any]) -> None:
    stats = to_statistics(profile)
    assert stats["version"] == 0.0
    assert stats["dataset"] == {"item_count": N}
    x = feature(stats, "x")
    assert x["inferred_type"] == "Fractional"
    assert feature(stats, "k")["inferred_type"] == "Integral"
    ns = x["numerical_statistics"]
    values = data["x"][np.isfinite(data["x"])]
    assert ns["common"] == {"num_present": N - 50, "num_missing": 50}
    assert ns["sum"] == pytest.approx(values.sum(), rel=1e-9)
    assert ns["std_dev"] == pytest.approx(values.std(ddof=0), rel=1e-9)  # population
    assert (ns["min"], ns["max"]) == (values.min(), values.max())
    buckets = ns["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10
    width = (values.max() - values.min()) / 10
    for i, b in enumerate(buckets):
        assert b["lower_bound"] == pytest.approx(values.min() + i * width)
        assert b["upper_bound"] == pytest.approx(values.min() + (i + 1) * width)
    assert sum(b["count"] for b in buckets) == N - 50
    # estimated from 1 % bins: each bucket count is off by at most the mass of the two
    # bins its bounds cut (about 2 % of the values) plus rounding
    for i, b in enumerate(buckets):
        upper = values <= b["upper_bound"] if i == 9 else values < b["upper_bound"]
        true = int(((values >= b["lower_bound"]) & upper).sum())
        assert abs(b["count"] - true) <= 0.021 * values.size
    c = feature(stats, "c")
    assert c["inferred_type"] == "String"
    ss = c["string_statistics"]
    assert ss["common"] == {"num_present": N - 10, "num_missing": 10}
    assert ss["distinct_count"] == 3.0
    got = {b["value"]: b["count"] for b in ss["distribution"]["categorical"]["buckets"]}
    assert got == {v: data["c"].count(v) for v in "abc"}


def test_buckets_exact_for_integers_with_one_value_per_bin() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, 5000).astype(float)  # 0..5: every edge is one value
    p = build_profile(
        Columns(rows={"input": 5000}, numeric={"v": values}, source={"v": "input"}),
        PayloadSchema(features=[FeatureSpec(name="v")]),
        created=CREATED,
    )
    buckets = feature(to_statistics(p), "v")["numerical_statistics"]["distribution"]["kll"][
        "buckets"
    ]
    for i, b in enumerate(buckets):
        upper = values <= b["upper_bound"] if i == 9 else values < b["upper_bound"]
        assert b["count"] == int(((values >= b["lower_bound"]) & upper).sum())


def test_import_from_buckets_alone(profile: Profile) -> None:
    stats = to_statistics(profile)
    for f in stats["features"]:
        if "numerical_statistics" in f:
            del f["numerical_statistics"]["distribution"]["kll"]["sketch"]
    back, notes = from_statistics(stats, None, SCHEMA, CREATED)
    assert "x: no KLL sketch data; bins interpolated from the 10 buckets" in notes
    for name in ("x", "k"):
        b = back.features[name]
        assert isinstance(b, NumericProfile)
        present = b.count - b.missing
        assert sum(b.counts) == present and len(b.counts) == len(b.edges) + 1
        assert b.edges == sorted(set(b.edges))
        if name == "k":
            # Integral: integer bins (point masses have a bin of their own, which starts
            # at the float just below the integer: not a value of the feature)
            assert all(float(e).is_integer() for e in value_bins(b.edges, b.counts)[0])
        # The profile's CDF at every bucket bound matches the bucket counts: the bins'
        # edges lie on the buckets' CDF (linear, or even over the integers, inside a
        # bucket), so the only error is where a bin straddles a bucket bound: at most
        # one bin's mass (1 %), plus rounding.
        model = profile_model(b)
        assert model is not None
        buckets = feature(stats, name)["numerical_statistics"]["distribution"]["kll"]["buckets"]
        run = 0
        for bucket in buckets[:-1]:
            run += bucket["count"]
            assert abs(model.below(bucket["upper_bound"]) - run) <= 0.011 * present + 1


# -- the real-format sample ------------------------------------------------------------


FIXTURE_SCHEMA = PayloadSchema(
    features=[
        FeatureSpec(name="age"),
        FeatureSpec(name="income"),
        FeatureSpec(name="clicks"),
        FeatureSpec(name="segment", kind="categorical"),
        FeatureSpec(name="score", source="output"),
    ]
)


def sketch_error(sketch: dict[str, Any], values: np.ndarray) -> float:
    """The sketch's own worst CDF error against the data (values <= x and < x) at its
    items, with KLL weights: an item at level h stands for 2**h values."""
    items = np.array([x for level in sketch["data"] for x in level])
    weights = np.array([2**h for h, level in enumerate(sketch["data"]) for _ in level])
    total = weights.sum()
    worst = 0.0
    for x in np.unique(items):
        at_most = weights[items <= x].sum() / total - float((values <= x).mean())
        below = weights[items < x].sum() / total - float((values < x).mean())
        worst = max(worst, abs(at_most), abs(below))
    return worst


def test_import_sample_files() -> None:
    stats, constraints = load("statistics.json"), load("constraints.json")
    raw = sample_module().raw_data()
    profile, notes = from_statistics(
        stats, constraints, FIXTURE_SCHEMA, CREATED, dataset="s3://b/k"
    )

    assert notes == [
        "channel: not in the payload schema; skipped",
        "score: in the payload schema, not in statistics.json",
        "clicks: per-feature monitoring overrides {'evaluate_constraints': 'Disabled'} "
        "not carried over",
        "Model Monitor drift threshold 0.1 (Robust, L-infinity distance of CDFs) is not "
        "part of a profile; set drift thresholds in the release policy",
    ]
    assert set(profile.features) == {"age", "income", "clicks", "segment"}
    assert Profile.model_validate_json(profile.to_json()) == profile
    assert profile.profile_id == fingerprint(profile)
    assert profile.rows == {"input": 5000}
    assert profile.dataset == "s3://b/k"

    for name in ("age", "income", "clicks"):
        p = profile.features[name]
        assert isinstance(p, NumericProfile)
        values = np.array([v for v in raw[name] if v is not None])
        ns = feature(stats, name)["numerical_statistics"]
        assert (p.count, p.missing) == (len(raw[name]), len(raw[name]) - values.size)
        assert sum(p.counts) == values.size and len(p.counts) == len(p.edges) + 1
        assert (p.min, p.max, p.mean) == (values.min(), values.max(), ns["mean"])
        assert p.std == pytest.approx(values.std(ddof=1), rel=1e-9)
        # Edges and counts are read off the sketch, so their CDF error against the data
        # is the sketch's own (a KLL sketch keeps a sample of the values), nothing more.
        eps = sketch_error(ns["distribution"]["kll"]["sketch"], values) + 1e-9
        assert eps < 0.02  # sanity: 0.004 to 0.009 here (k = 256, 5000 values)
        cum = np.cumsum(p.counts) / values.size
        for e, c in zip(p.edges, cum[:-1], strict=True):
            assert abs(c - float((values <= e).mean())) <= eps
        for key, prob in NAMED.items():
            below, at_most = ranks(values, p.quantiles[key])
            assert below <= prob + eps and at_most >= prob - eps, (name, key)

    clicks = profile.features["clicks"]
    assert isinstance(clicks, NumericProfile)
    zeros = float(np.mean(np.array(raw["clicks"]) == 0))
    assert clicks.top_value == 0.0 and abs(clicks.top_share - zeros) < 0.02  # a point mass
    segment = profile.features["segment"]
    assert isinstance(segment, CategoricalProfile)
    assert segment.categories == {v: raw["segment"].count(v) for v in set(raw["segment"])}
    assert segment.other == 0 and segment.missing == 0


def test_import_rename_and_kind_mismatch() -> None:
    schema = PayloadSchema(
        features=[FeatureSpec(name="salary"), FeatureSpec(name="age", kind="categorical")]
    )
    profile, notes = from_statistics(
        load("statistics.json"), None, schema, CREATED, rename={"income": "salary"}
    )
    assert set(profile.features) == {"salary"}
    assert (
        "age: the schema says categorical, Model Monitor has numerical statistics (Integral); "
        "skipped"
    ) in notes
    assert "income: not in the payload schema; skipped" not in notes


def test_import_buckets_only_sample_and_integral_bins() -> None:
    stats = load("statistics.json")
    for f in stats["features"]:
        f.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).pop("sketch", 0)
    profile, _ = from_statistics(stats, None, FIXTURE_SCHEMA, CREATED)
    age = profile.features["age"]
    assert isinstance(age, NumericProfile)
    assert all(float(e).is_integer() for e in value_bins(age.edges, age.counts)[0])
    assert sum(age.counts) == 4900
    # from buckets, top_share is the largest bucket's share: no single age has more
    raw = sample_module().raw_data()
    ages = [a for a in raw["age"] if a is not None]
    assert age.top_value is None  # the largest bucket spans several ages
    assert age.top_share >= max(ages.count(a) for a in set(ages)) / len(ages)


def test_missing_and_constant_features() -> None:
    columns = Columns(
        rows={"input": 4},
        numeric={"empty": np.full(4, np.nan), "const": np.full(4, 7.0)},
        source={"empty": "input", "const": "input"},
    )
    schema = PayloadSchema(features=[FeatureSpec(name="empty"), FeatureSpec(name="const")])
    profile = build_profile(columns, schema, created=CREATED)
    stats = to_statistics(profile)
    empty = feature(stats, "empty")["numerical_statistics"]
    assert empty == {"common": {"num_present": 0, "num_missing": 4}}
    const = feature(stats, "const")["numerical_statistics"]
    assert [b["count"] for b in const["distribution"]["kll"]["buckets"]] == [0] * 9 + [4]
    back, _ = from_statistics(stats, to_constraints(profile), schema, CREATED)
    assert back.features["empty"] == profile.features["empty"]
    a, b = profile.features["const"], back.features["const"]
    assert isinstance(a, NumericProfile) and isinstance(b, NumericProfile)
    # the constant has a bin of its own, so live values below it and above it each
    # have one too
    below = float(np.nextafter(7.0, -np.inf))
    assert (b.edges, b.counts, b.min, b.max, b.mean, b.std) == (
        [below, 7.0],
        [0, 4, 0],
        7.0,
        7.0,
        7.0,
        0.0,
    )
    assert (b.edges, b.counts) == (a.edges, a.counts)
    const_back = back.features["const"]
    assert isinstance(const_back, NumericProfile)
    assert set(const_back.quantiles.values()) == {7.0}
    assert const_back.top_value == 7.0 and const_back.top_share == 1.0


# -- constraints and notes -----------------------------------------------------------------


def test_constraints(profile: Profile) -> None:
    doc = to_constraints(profile, comparison_threshold=0.2)
    byname = {f["name"]: f for f in doc["features"]}
    assert byname["x"] == {
        "name": "x",
        "inferred_type": "Fractional",
        "completeness": 1 - 50 / N,
        "num_constraints": {"is_non_negative": False},
    }
    assert byname["k"]["num_constraints"] == {"is_non_negative": True}
    assert byname["c"] == {
        "name": "c",
        "inferred_type": "String",
        "completeness": 1 - 10 / N,
        "string_constraints": {"domains": ["a", "b", "c"]},
    }
    assert doc["monitoring_config"] == {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 0.1,
        "domain_content_threshold": 0.1,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.2,
            "comparison_method": "Robust",
        },
    }
    with pytest.raises(ValueError, match="comparison_threshold"):
        to_constraints(profile, comparison_threshold=0)


def test_long_tail_and_embeddings_in_notes() -> None:
    schema = PayloadSchema(
        input_format="json",
        features=[
            FeatureSpec(name="c", kind="categorical", path="c"),
            FeatureSpec(name="v", kind="embedding", path="v"),
        ],
    )
    profile = Profile(
        payload=schema,
        features={
            "c": CategoricalProfile(count=300, missing=0, categories={"a": 200}, other=100),
            "v": EmbeddingProfile(count=3, missing=0, dim=2, sample=[[0.0, 1.0]]),
        },
    )
    stats, constraints = to_statistics(profile), to_constraints(profile)
    assert [f["name"] for f in stats["features"]] == ["c"]
    assert feature(stats, "c")["string_statistics"]["distinct_count"] == 2.0  # a lower bound
    assert "string_constraints" not in feature(constraints, "c")
    assert export_notes(profile) == [
        "c: 100 values outside the top 100 categories have no bucket; distinct_count is a "
        "lower bound; no domains constraint",
        "v: embedding feature not exported (no Model Monitor equivalent)",
    ]
    back, notes = from_statistics(stats, None, schema, CREATED)
    assert "v: in the payload schema, not in statistics.json" in notes
    assert back.features["c"] == profile.features["c"]


# -- malformed input ------------------------------------------------------------------------


def broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load("statistics.json"))
    change(doc)
    return doc


def kll(doc: dict[str, Any], i: int = 0) -> dict[str, Any]:
    kll_doc: dict[str, Any] = doc["features"][i]["numerical_statistics"]["distribution"]["kll"]
    return kll_doc


BAD_STATISTICS = [
    ([], "statistics.json: expected an object, got a list"),
    ({"version": 0.0}, "statistics.json features: expected a list, got null"),
    (
        broken(lambda d: d["features"][1].pop("name")),
        "statistics.json features[1].name: expected a non-empty string, got null",
    ),
    (
        broken(lambda d: d["features"].append("age")),
        "statistics.json features[5]: expected an object, got a string",
    ),
    (
        broken(lambda d: d["features"].append(copy.deepcopy(d["features"][0]))),
        "statistics.json features[5].name: 'age' repeats features[0]",
    ),
    (
        broken(lambda d: kll(d).update(buckets={"count": 3}, sketch=None)),
        "statistics.json features[0].numerical_statistics.distribution.kll.buckets: "
        "expected a list, got an object",
    ),
    (
        broken(lambda d: kll(d, 1).update(sketch=None) or kll(d, 1)["buckets"][2].update(count=-3)),
        "statistics.json features[1].numerical_statistics.distribution.kll.buckets[2].count: "
        "expected a non-negative count, got -3",
    ),
    (
        broken(lambda d: kll(d)["sketch"]["data"].append(7)),
        "statistics.json features[0].numerical_statistics.distribution.kll.sketch.data[6]: "
        "expected a list, got a number",
    ),
    (
        broken(lambda d: kll(d)["sketch"]["data"][1].__setitem__(3, "12")),
        "statistics.json features[0].numerical_statistics.distribution.kll.sketch.data[1][3]: "
        "expected a number, got a string",
    ),
    (
        broken(lambda d: d["features"][2]["numerical_statistics"]["common"].update(num_present=-1)),
        "statistics.json features[2].numerical_statistics.common.num_present: "
        "expected a non-negative count, got -1",
    ),
    (
        broken(lambda d: d["features"][2]["numerical_statistics"].pop("min")),
        "statistics.json features[2].numerical_statistics.min: expected a number, got null",
    ),
    (
        broken(
            lambda d: d["features"][3]["string_statistics"]["distribution"]["categorical"][
                "buckets"
            ][0].update(count=True)
        ),
        "statistics.json features[3].string_statistics.distribution.categorical.buckets[0]"
        ".count: expected a number, got a boolean",
    ),
    (
        broken(lambda d: d.update(dataset={"item_count": "many"})),
        "statistics.json dataset.item_count: expected a number, got a string",
    ),
]


@pytest.mark.parametrize(("doc", "message"), BAD_STATISTICS)
def test_bad_statistics_name_the_path(doc: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        from_statistics(doc, None, FIXTURE_SCHEMA, CREATED)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["features"][0].update(completeness=1.5),
            "features[0].completeness: expected 0..1",
        ),
        (lambda d: d["features"][2].pop("name"), "features[2].name: expected a non-empty string"),
        (
            lambda d: d["monitoring_config"]["distribution_constraints"].update(
                comparison_threshold="high"
            ),
            "monitoring_config.distribution_constraints.comparison_threshold: expected a number",
        ),
        (lambda d: d.update(features="all"), "features: expected a list, got a string"),
    ],
)
def test_bad_constraints_name_the_path(change: Any, message: str) -> None:
    doc = load("constraints.json")
    change(doc)
    with pytest.raises(ValueError, match=r"^constraints\.json ") as info:
        from_statistics(load("statistics.json"), doc, FIXTURE_SCHEMA, CREATED)
    assert message in str(info.value)


NUMBERS_REFUSED = [
    (
        broken(lambda d: d["features"][0]["numerical_statistics"].update(mean=10**400)),
        "statistics.json features[0].numerical_statistics.mean: expected a finite number, "
        "got an integer too large",
    ),
    (
        broken(lambda d: d["features"][1]["numerical_statistics"].update(max=float("inf"))),
        "statistics.json features[1].numerical_statistics.max: expected a finite number, got inf",
    ),
    (
        broken(lambda d: kll(d)["sketch"]["data"][0].__setitem__(0, float("nan"))),
        "statistics.json features[0].numerical_statistics.distribution.kll.sketch.data[0][0]: "
        "expected a finite number, got nan",
    ),
    (
        broken(lambda d: d["dataset"].update(item_count=10**20)),
        "statistics.json dataset.item_count: expected a count of at most 2^53, got 1e+20",
    ),
    (
        broken(lambda d: kll(d)["sketch"].update(data=[[1.0]] * 65)),
        "statistics.json features[0].numerical_statistics.distribution.kll.sketch.data: "
        "expected at most 64 levels, got 65",
    ),
    (
        broken(
            lambda d: d["features"][3]["string_statistics"]["distribution"]["categorical"][
                "buckets"
            ][0].update(value=float("nan"))
        ),
        "statistics.json features[3].string_statistics.distribution.categorical.buckets[0]"
        ".value: expected a string, got nan",
    ),
]


@pytest.mark.parametrize(("doc", "message"), NUMBERS_REFUSED)
def test_numbers_a_float_cannot_hold_are_refused_by_name(doc: Any, message: str) -> None:
    # Before: OverflowError for the 400-digit integer; NaN and inf as bins.
    with pytest.raises(ValueError) as info:
        from_statistics(doc, None, FIXTURE_SCHEMA, CREATED)
    assert str(info.value) == message


def test_the_number_tokens_of_the_text_are_refused_by_name() -> None:
    text = (FIXTURES / "statistics.json").read_text()
    for token in ("NaN", "Infinity", "-Infinity", "1" + "0" * 400):
        changed = text.replace('"mean": 40.92632653061224', f'"mean": {token}', 1)
        assert changed != text
        with pytest.raises(ValueError, match=r"features\[0\]\.numerical_statistics\.mean: "):
            from_statistics(
                load_json(changed.encode(), "statistics.json"), None, FIXTURE_SCHEMA, CREATED
            )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("model_quality_regression_statistics.json", "regression_metrics"),
        ("model_quality_binary_statistics.json", "binary_classification_metrics"),
        ("model_quality_multiclass_statistics.json", "multiclass_classification_metrics"),
    ],
)
def test_a_model_quality_statistics_file_is_refused_by_name(name: str, key: str) -> None:
    with pytest.raises(ValueError) as info:
        from_statistics(load(name), None, FIXTURE_SCHEMA, CREATED)
    message = str(info.value)
    assert message.startswith(f"statistics.json: this is a model-quality statistics.json ({key}")
    assert "baseline import reads a data-quality baseline" in message


def test_a_model_quality_constraints_file_and_swapped_files_are_refused() -> None:
    quality = {
        "version": 0.0,
        "regression_constraints": {
            "mae": {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"}
        },
    }
    with pytest.raises(ValueError, match=r"^constraints\.json: this is a model-quality"):
        from_statistics(load("statistics.json"), quality, FIXTURE_SCHEMA, CREATED)
    with pytest.raises(ValueError, match=r"^statistics\.json: this is a constraints\.json"):
        from_statistics(load("constraints.json"), None, FIXTURE_SCHEMA, CREATED)


def test_statistics_with_nothing_for_the_schema_are_refused() -> None:
    # Before: a profile of 0 features, written and recorded, that no check could use.
    other = PayloadSchema(features=[FeatureSpec(name="height"), FeatureSpec(name="weight")])
    with pytest.raises(ValueError) as info:
        from_statistics(load("statistics.json"), None, other, CREATED)
    assert str(info.value).startswith(
        "statistics.json: no values for any payload schema feature (height, weight): "
        "age: not in the payload schema; skipped"
    )
    empty = broken(lambda d: d.update(features=[]))
    with pytest.raises(ValueError, match="no values for any payload schema feature"):
        from_statistics(empty, None, FIXTURE_SCHEMA, CREATED)
