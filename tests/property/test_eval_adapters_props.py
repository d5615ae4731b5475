"""Property tests of the eval adapters' contract (gate/adapters.py, gate/records.py):
nothing in a file makes them raise. Whatever the text — arbitrary bytes, JSON of any
shape, numbers beyond a float, NaN, control characters, nesting far beyond the
recursion limit — each returns ``(records, problems)``, every record is a valid
EvalRecord with finite numbers, and a file that gives nothing says why. The one
documented error is from_promptfoo's ValueError when it is given both or neither of
``system`` and ``system_for_provider``, a caller's mistake and never the file's."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard.gate.adapters import (
    detect_format,
    from_deepeval,
    from_fmeval,
    from_mapping,
    from_promptfoo,
    parser_for,
)
from release_guard.gate.records import LIMIT, EvalRecord, Problems, parse_lines

Result = tuple[list[EvalRecord], Problems]
PROPS = settings(max_examples=200, deadline=None)

ADAPTERS: dict[str, Callable[[str], Result]] = {
    "promptfoo": lambda t: from_promptfoo(t, "f", "candidate"),
    "promptfoo both": lambda t: from_promptfoo(
        t, "f", system_for_provider={"a": "candidate", "b": "champion"}
    ),
    "fmeval": lambda t: from_fmeval(t, "f", "candidate"),
    "deepeval": lambda t: from_deepeval(t, "f", "candidate"),
    "mapping jsonl": lambda t: from_mapping(
        t, "f", "candidate", {"id": "id", "latency_ms": "ms", "scores": "s", "category": "c"}
    ),
    "mapping json": lambda t: from_mapping(
        t, "f", "candidate", {"rows": "rows", "id": "id", "scores.x": "x"}, fmt="json"
    ),
    "records": lambda t: parse_lines(t, "f"),
    "gate reader": lambda t: (
        parser_for("promptfoo", system_for_provider={"a": "candidate", "b": "champion"}).read_both(
            t, "f"
        )  # type: ignore[misc]
        or ([], Problems())
    ),
}


def check(result: Result) -> None:
    """The contract of every adapter's result."""
    records, problems = result
    assert isinstance(problems, Problems)
    for record in records:
        assert isinstance(record, EvalRecord)
        for value in (*record.scores.values(), record.latency_ms, record.cost_usd):
            assert value is None or (math.isfinite(value) and abs(value) <= LIMIT)
        for count in (record.input_tokens, record.output_tokens, record.sample_index):
            assert count is None or 0 <= count <= LIMIT
    for kind, n in problems.counts.items():
        assert n >= 1 and problems.examples[kind]


def run_all(text: str) -> None:
    for name, adapter in ADAPTERS.items():
        try:
            check(adapter(text))
        except Exception as err:  # pragma: no cover - the failure message
            raise AssertionError(f"{name} raised {type(err).__name__}: {err}") from err
    detect_format(text)


# ---------------------------------------------------------------- strategies

# Numbers JSON can hold that a float cannot, or only as inf/NaN, next to ordinary ones.
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**420),
    st.integers(min_value=-(10**420), max_value=-(10**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 1e308, -0.0, 5e-324]),
)
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)  # control characters too
KEYS = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "id",
            "system",
            "scores",
            "value",
            "name",
            "latency_ms",
            "ms",
            "s",
            "x",
            "rows",
            "testIdx",
            "promptIdx",
            "provider",
            "vars",
            "success",
            "namedScores",
            "latencyMs",
            "cost",
            "testCases",
            "metricsData",
            "score",
            "completionTime",
            "results",
            "model_input",
            "sample_index",
        ]
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity: Python's json reads them


# ---------------------------------------------------------------- properties


@PROPS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    run_all(data.decode("utf-8", errors="replace"))
    run_all(data.decode("latin-1"))


@PROPS
@given(JSON)
def test_arbitrary_json_documents_never_raise(doc: Any) -> None:
    run_all(dumps(doc))
    run_all(json.dumps(doc, indent=2, allow_nan=True))


@PROPS
@given(
    st.lists(st.dictionaries(KEYS, JSON, max_size=6), max_size=6), st.sampled_from(["\n", "", " "])
)
def test_arbitrary_json_lines_never_raise(rows: list[dict[str, Any]], sep: str) -> None:
    run_all(sep.join(dumps(r) for r in rows))


# Rows shaped like each tool's, with any value in any field: wrong types, huge numbers.
PROMPTFOO_ROW = st.fixed_dictionaries(
    {"testIdx": JSON, "promptIdx": JSON},
    optional={
        "provider": st.one_of(JSON, st.fixed_dictionaries({"id": JSON, "label": JSON})),
        "vars": JSON,
        "testCase": st.fixed_dictionaries({}, optional={"vars": JSON, "assert": JSON}),
        "success": JSON,
        "score": NUMBERS,
        "namedScores": st.dictionaries(TEXT, JSON, max_size=3),
        "latencyMs": NUMBERS,
        "cost": NUMBERS,
        "response": st.fixed_dictionaries(
            {}, optional={"tokenUsage": JSON, "cached": JSON, "latencyMs": NUMBERS}
        ),
        "gradingResult": JSON,
        "failureReason": JSON,
        "metadata": JSON,
    },
)
FMEVAL_ROW = st.fixed_dictionaries(
    {"scores": st.one_of(JSON, st.lists(st.fixed_dictionaries({"name": JSON, "value": NUMBERS})))},
    optional={"model_input": JSON, "target_output": JSON, "category": JSON, "error": JSON},
)
DEEPEVAL_CASE = st.fixed_dictionaries(
    {"name": JSON},
    optional={
        "metricsData": st.lists(
            st.fixed_dictionaries({"name": JSON, "score": NUMBERS}, optional={"error": JSON})
        ),
        "success": JSON,
        "completionTime": NUMBERS,
        "tokenCost": NUMBERS,
        "inputTokenCount": NUMBERS,
        "outputTokenCount": NUMBERS,
        "metadata": JSON,
    },
)
RECORD = st.fixed_dictionaries(
    {"id": JSON, "system": st.sampled_from(["candidate", "champion", "x"])},
    optional={
        "scores": st.dictionaries(TEXT, NUMBERS | JSON, max_size=3),
        "latency_ms": NUMBERS,
        "cost_usd": NUMBERS,
        "input_tokens": NUMBERS,
        "sample_index": NUMBERS,
    },
)


@PROPS
@given(st.lists(PROMPTFOO_ROW, max_size=5), st.booleans())
def test_promptfoo_shaped_files_never_raise(rows: list[dict[str, Any]], as_lines: bool) -> None:
    if as_lines:
        run_all("\n".join(dumps(r) for r in rows))
    else:
        run_all(dumps({"results": {"version": 3, "results": rows}, "config": {}}))


@PROPS
@given(st.lists(FMEVAL_ROW, max_size=6), st.sampled_from(["\n", ""]))
def test_fmeval_shaped_files_never_raise(rows: list[dict[str, Any]], sep: str) -> None:
    run_all(sep.join(dumps(r) for r in rows))


@PROPS
@given(st.lists(DEEPEVAL_CASE, max_size=5), st.booleans())
def test_deepeval_shaped_files_never_raise(cases: list[dict[str, Any]], wrapped: bool) -> None:
    doc: dict[str, Any] = {"testCases": cases}
    run_all(dumps({"testRunData": doc} if wrapped else doc))


@PROPS
@given(st.lists(RECORD, max_size=6))
def test_release_guard_records_never_raise(rows: list[dict[str, Any]]) -> None:
    run_all("\n".join(dumps(r) for r in rows))


@PROPS
@given(st.lists(NUMBERS, min_size=1, max_size=4))
def test_out_of_range_numbers_are_refused_with_the_field_named(values: list[Any]) -> None:
    """A number a float cannot hold, or beyond records.LIMIT, or non-finite, never
    becomes a record's value: the record or the score is refused, naming the field."""
    for value in values:
        # Compared as a float, as the records are (2**53 + 1 is 2**53 as a float).
        try:
            bad = not abs(float(value)) <= LIMIT  # NaN and inf too
        except OverflowError:
            bad = True
        text = dumps({"id": "a", "system": "champion", "latency_ms": value})
        records, problems = parse_lines(text, "r")
        if bad or value < 0:
            assert records == [] and problems.counts["invalid latency_ms"] == 1
        else:
            assert [r.latency_ms for r in records] == [float(value)]
        row = {"model_input": "q", "scores": [{"name": "f1", "value": value}]}
        records, problems = from_fmeval(dumps(row), "f", "champion")
        if bad:
            assert records[0].scores == {} and problems.counts["non-numeric score"] == 1
            assert problems.examples["non-numeric score"][0].startswith("f:1: $.scores[0]: f1: ")
        else:
            assert records[0].scores == {"f1": float(value)}


@pytest.mark.parametrize("depth", [10_000])
@pytest.mark.parametrize("bracket", ["[", '{"a": '])
def test_nesting_ten_thousand_deep_is_invalid_json_not_a_recursion_error(
    depth: int, bracket: str
) -> None:
    closing = "]" if bracket == "[" else "}"
    deep = bracket * depth + "1" + closing * depth
    documents = {
        "alone": deep,
        "promptfoo vars": f'{{"results": {{"results": [{{"testIdx": 0, "promptIdx": 0, '
        f'"success": true, "vars": {deep}}}]}}}}',
        "fmeval line": f'{{"model_input": {deep}, "scores": []}}\n',
        "deepeval case": f'{{"testCases": [{{"name": "t", "input": {deep}}}]}}',
        "record line": f'{{"id": "a", "system": "champion", "model_input": {deep}}}\n',
    }
    for where, text in documents.items():
        for name, adapter in ADAPTERS.items():
            records, problems = adapter(text)
            assert records == [], (where, name)
            assert problems.counts, (where, name)
            kinds = set(problems.counts)
            assert kinds & {"invalid JSON", "wrong format"}, (where, name, kinds)


@PROPS
@given(st.integers(min_value=900, max_value=1100), st.sampled_from(["[", '{"a": ']))
def test_nesting_near_the_recursion_limit_never_raises(depth: int, bracket: str) -> None:
    closing = "]" if bracket == "[" else "}"
    deep = bracket * depth + "1" + closing * depth
    run_all(f'{{"id": "a", "system": "champion", "model_input": {deep}, "ms": 1}}\n')
    run_all(
        f'{{"results": {{"results": [{{"testIdx": 0, "promptIdx": 0, "success": true, '
        f'"provider": "a", "vars": {{"id": "x", "v": {deep}}}}}]}}}}'
    )


def test_the_documented_error_is_the_callers_not_the_files() -> None:
    with pytest.raises(ValueError, match="exactly one of system and system_for_provider"):
        from_promptfoo("{}", "f")
    with pytest.raises(ValueError, match="exactly one of system and system_for_provider"):
        from_promptfoo("{}", "f", "champion", system_for_provider={"a": "candidate"})
