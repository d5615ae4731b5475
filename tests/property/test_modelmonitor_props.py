"""Model Monitor import never raises anything but its documented ``ValueError``, whatever
the file holds: arbitrary JSON, huge integers, NaN and Infinity tokens, deep nesting,
wrong types in every place of a real baseline. And the work is linear in the file:
every sketch item is read once, nothing recurses on nesting depth."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from release_guard.drift import modelmonitor
from release_guard.drift.modelmonitor import from_statistics, load_json
from release_guard.policy import FeatureSpec, PayloadSchema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "modelmonitor"
STATS = json.loads((FIXTURES / "statistics.json").read_text())
CONSTRAINTS = json.loads((FIXTURES / "constraints.json").read_text())
SCHEMA = PayloadSchema(
    features=[
        FeatureSpec(name="age"),
        FeatureSpec(name="income"),
        FeatureSpec(name="clicks"),
        FeatureSpec(name="segment", kind="categorical"),
        FeatureSpec(name="score", source="output"),
    ]
)
CREATED = datetime(2024, 6, 1, tzinfo=UTC)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = (
    st.integers(-(10**400), 10**400)
    | st.integers(-5, 5)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 0.0, -0.0, 1e308, -1e308, 5e-324, 2**53, 2**63, 2**64 + 1])
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "dataset",
                    "item_count",
                    "features",
                    "name",
                    "inferred_type",
                    "numerical_statistics",
                    "string_statistics",
                    "common",
                    "num_present",
                    "num_missing",
                    "mean",
                    "std_dev",
                    "min",
                    "max",
                    "distribution",
                    "kll",
                    "buckets",
                    "sketch",
                    "data",
                    "parameters",
                    "lower_bound",
                    "upper_bound",
                    "count",
                    "categorical",
                    "value",
                    "completeness",
                    "monitoring_config",
                    "distribution_constraints",
                    "comparison_threshold",
                    "comparison_method",
                    "monitoring_config_overrides",
                    "regression_metrics",
                    "binary_classification_metrics",
                ]
            )
            | st.text(max_size=6),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


def parse(stats: Any, constraints: Any = None) -> None:
    """The import, on Python objects: only ValueError may come out."""
    try:
        from_statistics(stats, constraints, SCHEMA, CREATED)
    except ValueError:
        pass


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


STATS_PATHS = paths(STATS)
CONSTRAINT_PATHS = paths(CONSTRAINTS)


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@FAST
@given(stats=json_values, constraints=st.none() | json_values)
def test_arbitrary_json_raises_only_value_error(stats: Any, constraints: Any) -> None:
    parse(stats, constraints)
    parse({"version": 0.0, "features": [stats]}, constraints)


@FAST
@given(
    where=st.sampled_from(STATS_PATHS),
    value=json_values,
    in_constraints=st.booleans(),
    cwhere=st.sampled_from(CONSTRAINT_PATHS),
)
def test_a_real_baseline_with_any_field_replaced_raises_only_value_error(
    where: tuple[Any, ...], value: Any, in_constraints: bool, cwhere: tuple[Any, ...]
) -> None:
    if in_constraints:
        parse(STATS, replaced(CONSTRAINTS, cwhere, value))
    else:
        parse(replaced(STATS, where, value), CONSTRAINTS)


@FAST
@given(
    where=st.sampled_from([p for p in STATS_PATHS if p and isinstance(p[-1], str)]),
    token=st.sampled_from(["NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-" + "9" * 400]),
)
def test_non_finite_and_huge_numbers_in_the_text_are_refused_by_name(
    where: tuple[Any, ...], token: str
) -> None:
    marker = "__TOKEN__"
    text = json.dumps(replaced(STATS, where, marker)).replace(f'"{marker}"', token)
    doc = load_json(text.encode(), "statistics.json")
    try:
        from_statistics(doc, None, SCHEMA, CREATED)
    except ValueError as err:
        # a number the import reads names its field; one it ignores may pass
        assert str(err).startswith("statistics.json")


@FAST
@given(blob=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_any_bytes_load_or_raise_value_error(blob: bytes) -> None:
    try:
        doc = load_json(blob, "statistics.json")
    except ValueError:
        return
    parse(doc)


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deep_nesting_is_the_documented_error_not_recursion(depth: int) -> None:
    text = "[" * depth + "]" * depth
    with pytest.raises(ValueError, match=r"^statistics\.json"):
        from_statistics(load_json(text.encode(), "statistics.json"), None, SCHEMA, CREATED)
    nested: Any = []
    for _ in range(depth):
        nested = [nested]
    feature = {"name": "age", "inferred_type": nested, "numerical_statistics": nested}
    for doc in (
        nested,
        {"version": nested, "features": []},
        {"version": 0.0, "features": [feature]},
        {**STATS, "version": nested},  # read as version 0, with a note
    ):
        for constraints in (None, nested, {"features": [feature], "monitoring_config": nested}):
            parse(doc, constraints)  # a RecursionError would fail here


def sketch_doc(items: int) -> dict[str, Any]:
    """A numeric feature whose KLL sketch holds ``items`` items (level 0)."""
    data = [[float(i % 97) for i in range(items)]]
    return {
        "version": 0.0,
        "dataset": {"item_count": items},
        "features": [
            {
                "name": "income",
                "inferred_type": "Fractional",
                "numerical_statistics": {
                    "common": {"num_present": items, "num_missing": 0},
                    "mean": 48.0,
                    "std_dev": 28.0,
                    "min": 0.0,
                    "max": 96.0,
                    "distribution": {"kll": {"sketch": {"parameters": {}, "data": data}}},
                },
            }
        ],
    }


def test_the_work_is_linear_in_the_sketch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each number of the file is read once: a file 4 times as large takes 4 times the
    reads (counted, not timed)."""
    calls = {"num": 0}
    original = modelmonitor._Reader.num

    def counting(self: Any, value: Any, path: str) -> float:
        calls["num"] += 1
        return original(self, value, path)

    monkeypatch.setattr(modelmonitor._Reader, "num", counting)
    reads = []
    for n in (2_000, 8_000):
        calls["num"] = 0
        from_statistics(sketch_doc(n), None, SCHEMA, CREATED)
        reads.append(calls["num"])
    fixed = reads[0] - 2_000  # min, max, mean, counts ...: the same in both
    assert reads[1] - fixed == 4 * (reads[0] - fixed)
    assert fixed < 20


def test_huge_integer_is_named_not_an_overflow() -> None:
    doc = replaced(STATS, ("features", 0, "numerical_statistics", "mean"), 10**400)
    with pytest.raises(ValueError, match=r"features\[0\]\.numerical_statistics\.mean"):
        from_statistics(doc, None, SCHEMA, CREATED)
