"""Data Capture files of any content (release_guard/drift/capture.py, issue 12): parsing
never raises, every line that is not blank is counted once, as a record or as
unparsable, and the one-pass msgspec reading gives exactly what the line-by-line
``json.loads`` reading gives: the same records, counts and notes.

Inputs: arbitrary bytes; well-formed capture lines; the same lines mutated (keys dropped
or added, values of the wrong type, 400-digit integers, NaN, lone surrogates, deep
nesting, control characters, non-UTF-8 bytes, a record split over two lines, two records
on one line), mixed in any order with blank lines, CRLF and a byte order mark.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard.drift import capture
from release_guard.drift.capture import Payload, Record, parse_lines
from release_guard.drift.columns import Quality

TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(["", "1,2,3", "text/csv", "0", "CSV", "JSON", "BASE64", "MQ==", "\x00\x1f"])
WEIRD: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(TEXT, st.integers(), max_size=2),
    st.just([[[[[[[[[[[]]]]]]]]]]]),
)


@st.composite
def body(draw: st.DrawFn, mode: str) -> dict[str, Any]:
    out = {
        "observedContentType": draw(st.sampled_from(["text/csv", "application/json", "x/y"])),
        "mode": mode,
        "data": draw(TEXT),
        "encoding": draw(st.sampled_from(["CSV", "JSON", "BASE64", "GZIP"])),
    }
    return out


@st.composite
def record(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["endpointInput"] = draw(body("INPUT"))
    if draw(st.booleans()):
        data["endpointOutput"] = draw(body("OUTPUT"))
    meta: dict[str, Any] = {}
    for key in ("eventId", "inferenceId", "inferenceTime"):
        if draw(st.integers(0, 3)):
            meta[key] = draw(TEXT)
    return {"captureData": data, "eventMetadata": meta, "eventVersion": "0"}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any] | Any:
    doc = draw(record())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            return draw(WEIRD)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict):
            continue
        how = draw(st.sampled_from(["drop", "retype", "add"]))
        if how == "drop":
            parent.pop(path[-1], None)
        elif how == "retype":
            parent[path[-1]] = draw(WEIRD)
        else:
            parent[draw(TEXT)] = draw(WEIRD)
    return doc


def dumps(doc: Any, ascii_only: bool) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=ascii_only)


@st.composite
def line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["good", "good", "mutated", "bytes", "text", "blank", "odd"]))
    ascii_only = draw(st.booleans())
    if kind == "good":
        return dumps(draw(record()), ascii_only).encode()
    if kind == "mutated":
        return dumps(draw(mutated()), ascii_only).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if kind == "text":
        return draw(TEXT).replace("\n", " ").encode()
    if kind == "blank":
        return draw(st.sampled_from([b"", b"   ", b"\t", b"\r"]))
    good = dumps(draw(record()), ascii_only)
    return draw(
        st.sampled_from(
            [
                good[: len(good) // 2].encode(),  # truncated write
                (good + " " + good).encode(),  # two records on one line
                (good + "," + good).encode(),
                good.replace(",", ",\n", 1).encode(),  # split over two lines
                (good[:-1] + ',"x":NaN}').encode(),
                good.replace('"captureData"', '"captureData":1,"captureData"', 1).encode(),
                good.encode() + b"\xff",
                good.encode().replace(b'"0"', b'"\\ud800"'),
                b"[" * 3000 + b"]" * 3000,
                b'{"captureData":{},"eventMetadata":{"eventId":' + b"9" * 400 + b"}}",
                "\ufeff".encode() + good.encode(),
            ]
        )
    )


@st.composite
def capture_file(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(line(), max_size=12))
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    blob = sep.join(lines) + draw(st.sampled_from([b"", b"\n", sep]))
    return (codecs.BOM_UTF8 if draw(st.booleans()) else b"") + blob


def slow(blob: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Record], Quality]:
    """The line-by-line reading alone: no typed pass over the file or a chunk."""
    quality = Quality()
    with monkeypatch.context() as m:
        m.setattr(capture, "_whole", lambda blob, quality: None)
        m.setattr(capture, "_typed_chunk", lambda chunk, out, quality: False)
        records = parse_lines(blob, quality)
    return records, quality


def check(blob: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Record], Quality]:
    quality = Quality()
    records = parse_lines(blob, quality)
    assert quality.unparsable + len(records) == quality.records
    assert quality.records <= blob.count(b"\n") + 1
    for r in records:
        assert isinstance(r.event_id, str) and r.event_id
        for p in (r.input, r.output):
            assert p is None or (isinstance(p, Payload) and isinstance(p.data, str | bytes))
    assert (records, quality) == slow(blob, monkeypatch)
    return records, quality


@settings(max_examples=200, deadline=None)
@given(capture_file())
def test_any_file_parses_the_same_both_ways_and_counts_every_line(blob: bytes) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        check(blob, monkeypatch)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(blob: bytes) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        check(blob, monkeypatch)


@settings(max_examples=200, deadline=None)
@given(st.lists(record(), min_size=1, max_size=8), st.booleans())
def test_well_formed_files_keep_every_record(docs: list[dict[str, Any]], ascii_only: bool) -> None:
    blob = "\n".join(dumps(d, ascii_only) for d in docs).encode() + b"\n"
    with pytest.MonkeyPatch.context() as monkeypatch:
        records, quality = check(blob, monkeypatch)
    assert quality.records == len(records) == len(docs) and quality.unparsable == 0
    for doc, r in zip(docs, records, strict=True):
        meta = doc["eventMetadata"]
        assert r.time == meta.get("inferenceTime")
        if meta.get("eventId"):
            assert r.event_id == meta["eventId"]
        for key, payload in (("endpointInput", r.input), ("endpointOutput", r.output)):
            sent = doc["captureData"].get(key)
            if sent is None or sent["encoding"] not in ("CSV", "JSON"):
                continue
            assert payload == Payload(sent["observedContentType"], sent["encoding"], sent["data"])


def test_the_usual_file_takes_the_typed_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "1,2",
                "encoding": "CSV",
            }
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-22T10:00:00Z"},
        "eventVersion": "0",
    }
    blob = ("\n".join([dumps(doc, True)] * 3) + "\n").encode()
    monkeypatch.setattr(capture, "_lines", lambda *a: pytest.fail("read line by line"))
    records = parse_lines(blob, Quality())
    assert len(records) == 3 and records[0].input == Payload("text/csv", "CSV", "1,2")
