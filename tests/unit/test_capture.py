"""Data Capture files -> records: the real line format, and every bad line counted."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from release_guard.drift import capture
from release_guard.drift.capture import Payload, Record, parse_lines
from release_guard.drift.columns import Quality
from release_guard_cli.emulator.dataplane import CapturePlan

TIME = "2026-11-22T10:00:00Z"


def body(data: str, encoding: str = "CSV", content_type: str = "text/csv", mode: str = "INPUT"):
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def line(
    inp: dict[str, Any] | None = None,
    out: dict[str, Any] | None = None,
    event_id: str | None = "e1",
    inference_id: str | None = None,
    when: str | None = TIME,
) -> str:
    data: dict[str, Any] = {}
    if inp is not None:
        data["endpointInput"] = inp
    if out is not None:
        data["endpointOutput"] = out
    meta: dict[str, Any] = {}
    if event_id is not None:
        meta["eventId"] = event_id
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    if when is not None:
        meta["inferenceTime"] = when
    doc = {"captureData": data, "eventMetadata": meta, "eventVersion": "0"}
    return json.dumps(doc, separators=(",", ":"))


def parse(*lines: str, end: str = "\n") -> tuple[list[Record], Quality]:
    quality = Quality()
    records = parse_lines((end.join(lines) + end).encode(), quality)
    return records, quality


def test_csv_input_and_json_output_as_captured() -> None:
    records, quality = parse(
        line(
            body("1.5,2,3"),
            body('{"score": 0.9}', "JSON", "application/json", "OUTPUT"),
            inference_id="req-7",
        )
    )
    assert records == [
        Record(
            "e1",
            TIME,
            Payload("text/csv", "CSV", "1.5,2,3"),
            Payload("application/json", "JSON", '{"score": 0.9}'),
        )
    ]
    assert quality == Quality(records=1)


def test_input_only_and_output_only_captures() -> None:
    records, quality = parse(
        line(inp=body("1,2"), event_id="a"),
        line(out=body("0.3", mode="OUTPUT"), event_id="b"),
    )
    assert [(r.event_id, r.input, r.output) for r in records] == [
        ("a", Payload("text/csv", "CSV", "1,2"), None),
        ("b", None, Payload("text/csv", "CSV", "0.3")),
    ]
    assert quality.records == 2 and quality.unparsable == quality.bad_payload == 0


def test_base64_bodies_are_decoded_text_or_bytes() -> None:
    text = base64.b64encode(b"1,2,3\n4,5,6\n").decode()
    binary = base64.b64encode(b"\xff\xd8\xff\xe0").decode()
    records, quality = parse(
        line(body(text, "BASE64", "application/x-custom"), body(binary, "BASE64", "image/jpeg"))
    )
    assert records[0].input == Payload("application/x-custom", "BASE64", "1,2,3\n4,5,6\n")
    assert records[0].output == Payload("image/jpeg", "BASE64", b"\xff\xd8\xff\xe0")
    assert quality.bad_payload == 0


def test_payloads_that_do_not_decode_are_counted_and_dropped() -> None:
    records, quality = parse(
        line(body("not base64!", "BASE64"), body("0.5", mode="OUTPUT"), event_id="a"),
        line(body("1,2", "GZIP"), event_id="b"),
        line({"mode": "INPUT", "encoding": "CSV", "data": 12}, event_id="c"),
        line(["not", "an", "object"], event_id="d"),  # type: ignore[arg-type]
    )
    assert [(r.event_id, r.input, r.output) for r in records] == [
        ("a", None, Payload("text/csv", "CSV", "0.5")),
        ("b", None, None),
        ("c", None, None),
        ("d", None, None),
    ]
    assert quality.bad_payload == 4 and quality.unparsable == 0 and quality.records == 4
    assert quality.examples[0].startswith("capture event a: endpointInput.data is not base64")
    assert "endpointInput.encoding 'GZIP'" in quality.examples[1]


def test_a_malformed_line_among_good_ones_is_counted_and_the_rest_kept() -> None:
    good = [line(body(f"{i},{i}"), event_id=f"e{i}") for i in range(4)]
    records, quality = parse(
        good[0],
        '{"captureData": {"endpointInput": ',  # truncated write
        good[1],
        '{"eventMetadata": {"eventId": "x"}}',  # JSON, not a capture record
        good[2],
        "1,2",  # two JSON values on one line
        '"captureData"',
        good[3],
    )
    assert [r.event_id for r in records] == ["e0", "e1", "e2", "e3"]
    assert [r.input.data for r in records if r.input] == ["0,0", "1,1", "2,2", "3,3"]
    assert quality.records == 8
    assert quality.unparsable == 4
    assert quality.bad_payload == 0
    assert quality.examples[0].startswith("capture line not JSON")
    assert quality.examples[1].startswith("capture line no captureData object")


def test_chunks_with_a_bad_line_are_read_line_by_line_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = [line(body(f"{i}"), event_id=f"e{i}") for i in range(10)]
    clean, _ = parse(*lines)
    monkeypatch.setattr(capture, "CHUNK_LINES", 3)
    lines[4] = lines[4][:-1]  # chunk 4..5 fails as a whole; only line 4 is bad
    records, quality = parse(*lines)
    assert records == clean[:4] + clean[5:]
    assert quality.records == 10 and quality.unparsable == 1


def test_blank_lines_crlf_and_a_byte_order_mark() -> None:
    text = "\ufeff" + line(body("1"), event_id="a") + "\r\n\r\n   \n" + line(body("2"))
    quality = Quality()
    records = parse_lines((text + "\r\n").encode(), quality)
    assert [(r.event_id, r.input.data if r.input else None) for r in records] == [
        ("a", "1"),
        ("e1", "2"),
    ]
    assert quality == Quality(records=2)


def test_a_line_that_is_not_utf8_is_unparsable() -> None:
    bad = b'{"captureData": "\xff"}'
    blob = b"\n".join([line(body("1")).encode(), bad, line(body("2")).encode()])
    quality = Quality()
    records = parse_lines(blob, quality)
    assert [r.input.data for r in records if r.input] == ["1", "2"]
    assert quality.records == 3 and quality.unparsable == 1
    assert "not UTF-8" in quality.examples[0]


def test_event_id_falls_back_to_inference_id_then_a_hash_of_the_line() -> None:
    no_ids = line(body("1"), event_id=None, when=None)
    records, _ = parse(line(body("1"), event_id=None, inference_id="req-1"), no_ids)
    assert records[0].event_id == "req-1"
    assert records[1].event_id.startswith("line:") and len(records[1].event_id) == 21
    assert records[1].time is None
    again, _ = parse(no_ids)
    assert again[0].event_id == records[1].event_id


def test_emulator_encodings_round_trip() -> None:
    plan = CapturePlan.parse(
        {
            "DestinationS3Uri": "s3://bucket/capture",
            "InitialSamplingPercentage": 100,
            "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        }
    )
    assert plan is not None
    sent = [
        (b"1,2,3", "text/csv"),
        (b'{"inputs": "hi"}', "application/json; charset=utf-8"),
        (b"0.5,0.25", "application/x-npy"),  # not listed: BASE64
    ]
    lines = []
    for data, content_type in sent:
        encoding, text = plan.encode(data, content_type)
        lines.append(line(body(text, encoding, content_type)))
    records, quality = parse(*lines)
    assert [r.input.encoding for r in records if r.input] == ["CSV", "JSON", "BASE64"]
    assert [r.input.data for r in records if r.input] == [d.decode() for d, _ in sent]
    assert quality == Quality(records=3)


def test_a_base64_body_that_is_not_ascii_is_a_bad_payload() -> None:
    records, quality = parse(line(body("\u00e9t\u00e9", "BASE64"), event_id="a"))
    assert records == [Record("a", TIME, None, None)]
    assert quality.bad_payload == 1 and quality.unparsable == 0
    assert quality.examples[0].startswith("capture event a: endpointInput.data is not base64")
