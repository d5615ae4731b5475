"""Records -> feature columns by a PayloadSchema: values, row counts, and exact
data-quality counts."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import pytest
from release_guard.drift import extract as extract_module
from release_guard.drift.capture import Payload, Record, parse_lines
from release_guard.drift.columns import Columns, Quality
from release_guard.drift.extract import csv_category, extract, json_category, number
from release_guard.policy import FeatureSpec, PayloadSchema

NAN = math.nan


def csv_in(*bodies: str, out: list[str] | None = None) -> list[Record]:
    outs = out or [None] * len(bodies)  # type: ignore[list-item]
    return [
        Record(
            f"e{i}",
            None,
            Payload("text/csv", "CSV", b),
            None if o is None else Payload("text/csv", "CSV", o),
        )
        for i, (b, o) in enumerate(zip(bodies, outs, strict=True))
    ]


def json_rec(event_id: str, inp: Any = None, out: Any = None) -> Record:
    def payload(doc: Any) -> Payload | None:
        if doc is None:
            return None
        return Payload("application/json", "JSON", doc if isinstance(doc, str) else json.dumps(doc))

    return Record(event_id, None, payload(inp), payload(out))


def schema(*features: tuple[str, str] | tuple[str, str, str] | str, **kw: Any) -> PayloadSchema:
    specs = []
    for f in features:
        if isinstance(f, str):
            specs.append(FeatureSpec(name=f))
        else:
            name, kind, *path = f
            specs.append(FeatureSpec(name=name, kind=kind, path=path[0] if path else None))
    return PayloadSchema(features=specs, **kw)


def spec(name: str, source: str = "input", kind: str = "numeric", path: str | None = None):
    return FeatureSpec(name=name, source=source, kind=kind, path=path)  # type: ignore[arg-type]


def eq(values: np.ndarray, expected: list[float]) -> None:
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, expected)


# -- CSV ----------------------------------------------------------------------------------


def test_csv_multi_row_bodies_by_column_order() -> None:
    cols = extract(csv_in("1,2,3", "4,5,6\n7,8,9\n", "10,11,12\r\n"), schema("a", "b", "c"))
    eq(cols.numeric["a"], [1, 4, 7, 10])
    eq(cols.numeric["c"], [3, 6, 9, 12])
    assert cols.rows == {"input": 4}
    assert cols.source == {"a": "input", "b": "input", "c": "input"}
    assert cols.quality == Quality()


def test_csv_missing_extra_columns_and_type_mismatches_are_counted_exactly() -> None:
    cols = extract(
        csv_in(
            "1,2,3",
            "1,2",  # missing column: c is missing
            "1,2,3,4",  # extra column: ignored
            "1,x,3\n1,,3",  # b: a mismatch, then an empty field (missing, not a mismatch)
            "true,2,1e3",
            "1_000,nan,-inf",
        ),
        schema("a", "b", "c"),
    )
    eq(cols.numeric["a"], [1, 1, 1, 1, 1, NAN, NAN])
    eq(cols.numeric["b"], [2, 2, 2, NAN, NAN, 2, NAN])
    eq(cols.numeric["c"], [3, NAN, 3, 3, 3, 1000, -math.inf])
    q = cols.quality
    assert (q.missing_columns, q.extra_columns) == (1, 1)
    assert q.type_mismatch == {"a": 2, "b": 1}
    assert q.bad_payload == 0 and cols.rows == {"input": 7}


def test_every_row_one_column_off_is_still_counted_row_by_row() -> None:
    wide = extract(csv_in("1,2,3", "4,5,6\n7,8,9"), schema("a", "b"))
    eq(wide.numeric["b"], [2, 5, 8])
    assert wide.quality.extra_columns == 3 and wide.quality.missing_columns == 0
    narrow = extract(csv_in("1", "4\n7", " \n"), schema("a", "b"))
    eq(narrow.numeric["a"], [1, 4, 7])
    eq(narrow.numeric["b"], [NAN, NAN, NAN])
    assert narrow.quality.missing_columns == 3 and narrow.quality.bad_payload == 1


def test_bulk_and_row_by_row_csv_reading_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    bodies = [",".join(f"{v:.4f}" for v in row) for row in rng.normal(size=(40, 4))]
    bodies[5] = "1,2,3"  # missing column
    bodies[17] = "1,2,3,4,5\n" + bodies[17]  # extra column, and two rows
    bodies[30] = "1,abc,3,4"
    bodies[33] = ""  # no rows: a bad payload
    bodies[36] = '1,"2",3,4'  # quoted
    records = csv_in(*bodies)
    monkeypatch.setattr(extract_module, "CHUNK_BODIES", 4)
    taken: list[bool] = []
    bulk_numeric = extract_module._bulk_numeric

    def spy(chunk: Any, sink: Any) -> bool:
        taken.append(bulk_numeric(chunk, sink))
        return taken[-1]

    monkeypatch.setattr(extract_module, "_bulk_numeric", spy)
    bulk = extract(records, schema("a", "b", "c", "d"))
    assert taken == [True, False, True, True, False, True, True, False, False, False]
    monkeypatch.setattr(extract_module, "_bulk_numeric", lambda chunk, sink: False)
    rows = extract(records, schema("a", "b", "c", "d"))
    for name in "abcd":
        np.testing.assert_array_equal(bulk.numeric[name], rows.numeric[name])
    assert bulk.rows == rows.rows == {"input": 40}
    assert bulk.quality == rows.quality
    q = bulk.quality
    assert (q.missing_columns, q.extra_columns, q.bad_payload) == (1, 1, 1)
    assert q.type_mismatch == {"b": 1}
    assert bulk.numeric["b"][36] == 2.0  # body 36: one more row before it, one fewer


def test_csv_categorical_and_text_columns_with_quotes() -> None:
    cols = extract(
        csv_in('3," red, dark ",I am unable to do that', "4,,", "5", 'x,blue,"multi\nline"'),
        schema("n", ("colour", "categorical"), ("note", "text")),
    )
    eq(cols.numeric["n"], [3, 4, 5, NAN])
    assert cols.categorical["colour"] == ["red, dark", None, None, "blue"]
    eq(cols.numeric["note.chars"], [22, 0, NAN, 10])
    assert cols.categorical["note.empty"] == ["false", "true", None, "false"]
    assert cols.categorical["note.refusal"] == ["true", "false", None, "false"]
    assert cols.source["note.refusal"] == "input" and "note" not in cols.source
    assert cols.quality.missing_columns == 1 and cols.quality.type_mismatch == {"n": 1}


def test_base64_csv_body_reads_like_csv_and_binary_is_a_bad_payload() -> None:
    text = base64.b64encode(b"1,2\n3,4").decode()
    blob = "\n".join(
        json.dumps(
            {
                "captureData": {"endpointInput": {"data": data, "encoding": "BASE64"}},
                "eventMetadata": {"eventId": f"e{i}", "inferenceTime": "2026-11-22T10:00:00Z"},
                "eventVersion": "0",
            }
        )
        for i, data in enumerate([text, base64.b64encode(b"\xff\xfe").decode()])
    ).encode()
    quality = Quality()
    cols = extract(parse_lines(blob, quality), schema("a", "b"), quality)
    assert cols.quality is quality
    eq(cols.numeric["a"], [1, 3])
    assert quality.records == 2 and quality.bad_payload == 1
    assert "not UTF-8" in quality.examples[0]


def test_inputs_and_outputs_are_separate_sources() -> None:
    records = csv_in("1,2", "3,4\n5,6", out=["0.9", "0.1\n0.2"])
    records.append(Record("e9", None, Payload("text/csv", "CSV", "7,8"), None))  # input only
    s = PayloadSchema(features=[spec("a"), spec("b"), spec("score", "output")])
    cols = extract(records, s)
    eq(cols.numeric["b"], [2, 4, 6, 8])
    eq(cols.numeric["score"], [0.9, 0.1, 0.2])
    assert cols.rows == {"input": 4, "output": 3}
    assert cols.source["score"] == "output"


# -- JSON ---------------------------------------------------------------------------------


def test_json_instances_rows_by_index_paths() -> None:
    s = schema(("x0", "numeric", "[0]"), ("x1", "numeric", "[1]"), input_format="json")
    s = s.model_copy(update={"input_rows": "instances"})
    cols = extract(
        [
            json_rec("a", {"instances": [[1, 2], [3, 4.5]]}),
            json_rec("b", {"instances": [[5]]}),  # [1] is missing
            json_rec("c", {"instances": []}),
            json_rec("d", [7, 8]),  # rows do not select a list: the body is one row
        ],
        s,
    )
    eq(cols.numeric["x0"], [1, 3, 5, 7])
    eq(cols.numeric["x1"], [2, 4.5, NAN, 8])
    assert cols.rows == {"input": 4}
    assert cols.quality.missing_field == {"x1": 1}


def test_json_value_types_numeric_and_categorical() -> None:
    s = schema(("n", "numeric", "n"), ("c", "categorical", "c"), input_format="json")
    values = [
        (1, "x"),
        (2.5, 3),
        ("4", True),
        (" ", 1.5),  # blank string: missing, not a mismatch
        (True, [1, "a"]),  # bool is not a number
        ("abc", {"k": 1}),
        ({"v": 1}, None),
        (None, ""),
    ]
    records = [json_rec(f"e{i}", {"n": n, "c": c}) for i, (n, c) in enumerate(values)]
    records.append(json_rec("e9", {"other": 1}))  # both paths miss
    cols = extract(records, s)
    eq(cols.numeric["n"], [1, 2.5, 4, NAN, NAN, NAN, NAN, NAN, NAN])
    assert cols.categorical["c"] == ["x", "3", "true", "1.5", '[1,"a"]', '{"k":1}', None, "", None]
    q = cols.quality
    assert q.type_mismatch == {"n": 3}
    assert q.missing_field == {"n": 2, "c": 2}


def test_tgi_request_and_response() -> None:
    s = PayloadSchema(
        input_format="json",
        output_format="json",
        output_rows="[*]",
        features=[
            spec("prompt", kind="text", path="inputs"),
            spec("max_new_tokens", path="parameters.max_new_tokens"),
            spec("answer", "output", "text", "generated_text"),
        ],
    )
    records = [
        json_rec(
            "a",
            {"inputs": "Hello world", "parameters": {"max_new_tokens": 20}},
            [{"generated_text": "I'm sorry, but I can't help with that."}],
        ),
        json_rec("b", {"inputs": 42, "parameters": {}}, [{"generated_text": ""}]),
        json_rec("c", {"inputs": "héllo wörld"}, "not json {"),
    ]
    cols = extract(records, s)
    eq(cols.numeric["prompt.chars"], [11, NAN, 11])
    eq(cols.numeric["prompt.tokens"], [3, NAN, 3])
    eq(cols.numeric["prompt.non_ascii"], [0, NAN, 2 / 11])
    eq(cols.numeric["max_new_tokens"], [20, NAN, NAN])
    eq(cols.numeric["answer.words"], [8, 0])
    assert cols.categorical["answer.refusal"] == ["true", "false"]
    assert cols.categorical["answer.empty"] == ["false", "true"]
    assert cols.rows == {"input": 3, "output": 2}
    assert cols.source["answer.words"] == "output" and cols.source["prompt.chars"] == "input"
    q = cols.quality
    assert q.type_mismatch == {"prompt": 1}
    assert q.missing_field == {"max_new_tokens": 2}
    assert q.bad_payload == 1


def test_embeddings_keep_the_common_dimension_with_stable_ids() -> None:
    s = schema(("emb", "embedding", "embedding"), input_format="json", input_rows="data")
    records = [
        json_rec("a", {"data": [{"embedding": [1, 2, 3]}, {"embedding": [0.5, 0.25, 0]}]}),
        json_rec("b", {"data": [{"embedding": [1, 2]}, {"embedding": [4, 5, 6]}]}),
        json_rec("c", {"data": [{"embedding": ["a", 1, 2]}, {}, {"embedding": []}]}),
        json_rec("d", {"data": [{"embedding": [True, 1, 2]}, {"embedding": [1e39, 0, 0]}]}),
    ]
    cols = extract(records, s)
    vectors = cols.embedding["emb"]
    assert vectors.dtype == np.float32 and vectors.shape == (3, 3)
    np.testing.assert_array_equal(vectors, [[1, 2, 3], [0.5, 0.25, 0], [4, 5, 6]])
    assert cols.embedding_ids["emb"] == ["a:0", "a:1", "b:1"]
    assert cols.rows == {"input": 9}
    q = cols.quality
    assert q.type_mismatch == {"emb": 5}  # [1, 2], ["a", ..], [], [True, ..], 1e39 > float32
    assert q.missing_field == {"emb": 1}


def test_bad_bodies_are_counted_and_skipped() -> None:
    s = schema(("n", "numeric", "n"), input_format="json")
    records = [
        json_rec("a", '{"n": 1'),
        Record("b", None, Payload("application/octet-stream", "BASE64", b"\xff"), None),
        json_rec("c", {"n": 2}),
        Record("d", None, None, None),  # output-only capture
    ]
    cols = extract(records, s)
    eq(cols.numeric["n"], [2])
    assert cols.rows == {"input": 1}
    assert cols.quality.bad_payload == 2
    assert cols.quality.examples[0].startswith("capture event a: input JSON body does not parse")


def test_no_records_give_empty_columns_for_every_feature() -> None:
    s = PayloadSchema(
        input_format="json",
        features=[
            spec("n", path="n"),
            spec("c", kind="categorical", path="c"),
            spec("t", kind="text", path="t"),
            spec("e", kind="embedding", path="e"),
        ],
    )
    cols = extract([], s)
    assert cols.numeric["n"].shape == (0,) and cols.numeric["t.chars"].shape == (0,)
    assert cols.categorical["c"] == [] and cols.categorical["t.empty"] == []
    assert cols.embedding["e"].shape == (0, 0) and cols.embedding_ids["e"] == []
    assert cols.rows == {"input": 0}
    assert isinstance(cols, Columns)


def test_a_path_that_is_not_jmespath_is_refused_with_the_policy() -> None:
    # Checked when the policy is validated, before any check runs.
    with pytest.raises(ValueError, match="feature 'n' path: not a JMESPath expression"):
        schema(("n", "numeric", "a[?"), input_format="json")
    with pytest.raises(ValueError, match="output_rows: not a JMESPath expression"):
        PayloadSchema(
            output_format="json", output_rows="[*", features=[FeatureSpec(name="x", path="a")]
        )


def test_value_conversions_shared_with_other_readers() -> None:
    assert [number(v) for v in (3, 2.5, " 4 ", "1e3", "-inf")] == [3.0, 2.5, 4.0, 1000.0, -math.inf]
    assert all(math.isnan(number(v)) for v in (None, "", "  ", "nan"))
    for bad in (True, "1_000", "abc", [1], {"a": 1}, "0x10"):
        with pytest.raises(ValueError):
            number(bad)
    assert [csv_category(v) for v in (" red ", "", "  ", None)] == ["red", None, None, None]
    assert [json_category(v) for v in (" red ", 1, 1.0, False, None, {"b": [1], "a": 2})] == [
        " red ",
        "1",
        "1.0",
        "false",
        None,
        '{"a":2,"b":[1]}',
    ]
