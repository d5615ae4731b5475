"""SageMaker Data Capture files -> records.

A capture file is JSON Lines, one inference a line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1.5,2,3", "encoding": "CSV"},
                     "endpointOutput": {... "mode": "OUTPUT"}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-11-22T10:00:00Z",
                       "inferenceId": "..."},
     "eventVersion": "0"}

``encoding`` is ``CSV`` or ``JSON`` (the data is the body's text) or ``BASE64`` (any
content type not listed in the endpoint's ``CaptureContentTypeHeader``). Either of
``endpointInput`` and ``endpointOutput`` may be missing (capture mode Input or Output).

Nothing here raises on bad input: a line that is not JSON or not a capture record is
counted in ``Quality.unparsable``, a payload that cannot be decoded in
``Quality.bad_payload``, and both are skipped.

Speed: a file of well-formed lines is decoded in one msgspec pass over its bytes into
typed structs of exactly this shape (``_Line``), with no split into lines and no
intermediate dicts; the same records come out as from the line-by-line reading, which
is what any other file gets (a chunk of lines at a time, ``json.loads`` semantics).
"""

from __future__ import annotations

import base64
import codecs
import gc
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

import msgspec
import numpy as np
from numpy.typing import NDArray

from release_guard.drift.columns import Quality

# Lines parsed by one json.loads call; a chunk with a bad line is re-parsed line by line.
CHUNK_LINES = 4096


class Payload(NamedTuple):
    """One captured body. ``data`` is text (CSV and JSON encodings, and BASE64 bodies
    that are valid UTF-8) or the decoded bytes (other BASE64 bodies)."""

    content_type: str | None  # observedContentType, as captured
    encoding: str  # "CSV", "JSON" or "BASE64", as captured
    data: str | bytes


class Record(NamedTuple):
    """One capture line. ``event_id`` is eventMetadata.eventId, else inferenceId, else
    ``"line:"`` and a hash of the line (stable for the same line)."""

    event_id: str
    time: str | None  # eventMetadata.inferenceTime, as captured
    input: Payload | None  # None: not captured, or not decodable (counted)
    output: Payload | None


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small containers.

    Parsing builds millions of objects none of which form cycles; letting the collector
    run meanwhile costs about a third of the parse time for nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_lines(blob: bytes, quality: Quality) -> list[Record]:
    """Records of a capture file, in file order; problems are counted in ``quality``.

    Blank lines are ignored; ``quality.records`` counts the other lines. The file is
    decoded as UTF-8 (a line that is not is unparsable) and each line as one JSON
    value (``json.loads`` semantics). A file whose every line is a capture record of
    the usual shape takes one typed msgspec pass (``_whole``); any other is read a chunk
    of lines at a time, falling back to one ``json.loads`` per line for a chunk that
    fails, with the same records and counts either way.
    """
    with no_gc():
        fast = _whole(blob, quality)
        if fast is not None:
            return fast
        lines = _lines(blob, quality)
        records: list[Record] = []
        for start in range(0, len(lines), CHUNK_LINES):
            chunk = lines[start : start + CHUNK_LINES]
            if _typed_chunk(chunk, records, quality):
                continue
            objs = _load_chunk(chunk)
            if objs is not None:
                quality.records += len(chunk)
                _records(objs, chunk, records, quality)
                continue
            for line in chunk:
                if line.isspace():
                    continue
                quality.records += 1
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as err:
                    _unparsable(quality, line, f"not JSON ({err})")
                    continue
                record = _record(obj, line, quality)
                if record is not None:
                    records.append(record)
    return records


# -- the typed pass ------------------------------------------------------------------------
# The capture record's shape and nothing else: an unknown key, a value of another type or
# more nesting fails the decode, and the file is read line by line instead. So every
# byte of an accepted line was checked by msgspec against this shape (UTF-8 included;
# nothing is skipped unread), and where msgspec accepts, ``json.loads`` accepts and
# gives the same strings (msgspec is the stricter: lone surrogates, NaN). The few
# values SageMaker writes are literals (no string built per line); another value, an
# ``eventVersion`` other than "0" say, is read line by line, as correctly.


class _Body(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    data: str
    encoding: Literal["CSV", "JSON", "BASE64"]
    observedContentType: str | None = None
    mode: Literal["INPUT", "OUTPUT"] | None = None


class _Data(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    endpointInput: _Body | None = None
    endpointOutput: _Body | None = None


class _Meta(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    eventId: str | None = None
    inferenceId: str | None = None
    inferenceTime: str | None = None


class _Line(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    captureData: _Data
    eventMetadata: _Meta | None = None
    eventVersion: Literal["0"] | None = None


_LINE = msgspec.json.Decoder(_Line)
_CHUNK = msgspec.json.Decoder(list[_Line])
_NO_META = _Meta()


def _whole(blob: bytes, quality: Quality) -> list[Record] | None:
    """The file's records from one typed pass, or None: read it line by line.

    ``decode_lines`` reads whitespace-separated values, so it is taken only when each
    line is exactly one value: the file starts with ``{`` and ends with ``}`` (and an
    optional newline), every newline inside it sits in ``}\n{``, and there are as many
    values as lines. A value cannot span two lines then (after a ``}`` inside a value
    comes ``,``, ``}`` or ``]``, never ``{``, and no string holds a raw newline), and no
    line is blank, so one value a line is the only way the counts can agree.
    """
    start = len(codecs.BOM_UTF8) if blob.startswith(codecs.BOM_UTF8) else 0
    end = len(blob) - 1 if blob.endswith(b"\n") else len(blob)
    if end <= start or blob[start] != 0x7B or blob[end - 1] != 0x7D:  # "{" ... "}"
        return None
    raw = np.frombuffer(blob, dtype=np.uint8)
    breaks = _newlines(raw, start, end)
    if breaks.size and not (np.all(raw[breaks - 1] == 0x7D) and np.all(raw[breaks + 1] == 0x7B)):
        return None
    try:
        objs = _LINE.decode_lines(memoryview(blob)[start:end])
    except (ValueError, RecursionError):
        return None
    if len(objs) != breaks.size + 1:
        return None
    quality.records += len(objs)

    def line_of(i: int) -> bytes:  # only for a record without ids (its hash)
        lo = start if i == 0 else int(breaks[i - 1]) + 1
        hi = end if i == breaks.size else int(breaks[i])
        return blob[lo:hi]

    out: list[Record] = []
    _build(objs, line_of, out, quality)
    return out


_SCAN = 1 << 22  # bytes per newline scan: stays in cache


def _newlines(raw: NDArray[np.uint8], start: int, end: int) -> NDArray[np.intp]:
    """Positions of the newlines in ``raw[start:end]``, scanned a cache-sized block at a
    time (several times faster than ``bytes.count`` of a 3-byte pattern)."""
    parts = []
    for lo in range(start, end, _SCAN):
        found = np.flatnonzero(raw[lo : min(lo + _SCAN, end)] == 0x0A)
        if found.size:
            parts.append(found + lo)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)


def _typed_chunk(chunk: list[str], out: list[Record], quality: Quality) -> bool:
    """A chunk's records by msgspec, parsed as ``_load_chunk`` parses it (the lines
    joined into one array) into ``_Line``s; False: nothing was recorded."""
    try:
        objs = _CHUNK.decode("[" + ",".join(chunk) + "]")
    except (ValueError, RecursionError):
        return False
    if len(objs) != len(chunk):
        return False
    quality.records += len(chunk)
    _build(objs, lambda i: chunk[i].encode(), out, quality)
    return True


def _build(
    objs: list[_Line], line_of: Callable[[int], bytes], out: list[Record], quality: Quality
) -> None:
    """``_record`` of each typed line: the usual case inline, the rest by ``_body``."""
    append = out.append
    for i, obj in enumerate(objs):
        meta = obj.eventMetadata or _NO_META
        event_id = meta.eventId or meta.inferenceId
        if not event_id:
            event_id = "line:" + hashlib.sha256(line_of(i)).hexdigest()[:16]
        data = obj.captureData
        inp: Any = data.endpointInput
        if inp is not None:
            encoding = inp.encoding
            if encoding == "CSV" or encoding == "JSON":
                inp = _new(Payload, (inp.observedContentType, encoding, inp.data))
            else:
                inp = _body(inp, "endpointInput", event_id, quality)
        output: Any = data.endpointOutput
        if output is not None:
            encoding = output.encoding
            if encoding == "CSV" or encoding == "JSON":
                output = _new(Payload, (output.observedContentType, encoding, output.data))
            else:
                output = _body(output, "endpointOutput", event_id, quality)
        append(_new(Record, (event_id, meta.inferenceTime, inp, output)))


def _body(body: _Body, where: str, event_id: str, quality: Quality) -> Payload | None:
    return _decoded(body.observedContentType, body.encoding, body.data, where, event_id, quality)


# -- line by line --------------------------------------------------------------------------


class _Unusual(Exception):
    """A record the fast path leaves to ``_record``."""


_new = tuple.__new__


def _records(objs: list[Any], lines: list[str], out: list[Record], quality: Quality) -> None:
    """``_record`` of each object, with the usual shape of a capture record read inline:
    the same result, in about half the time."""
    append = out.append
    for obj, line in zip(objs, lines, strict=True):
        try:
            data = obj["captureData"]
            meta = obj["eventMetadata"]
            event_id = meta["eventId"]
            when = meta["inferenceTime"]
            inp = data.get("endpointInput")
            if inp is not None:
                body = inp["data"]
                encoding = inp["encoding"]
                content_type = inp["observedContentType"]
                if not (
                    (encoding == "CSV" or encoding == "JSON")
                    and type(body) is str
                    and type(content_type) is str
                ):
                    raise _Unusual
                inp = _new(Payload, (content_type, encoding, body))
            output = data.get("endpointOutput")
            if output is not None:
                body = output["data"]
                encoding = output["encoding"]
                content_type = output["observedContentType"]
                if not (
                    (encoding == "CSV" or encoding == "JSON")
                    and type(body) is str
                    and type(content_type) is str
                ):
                    raise _Unusual
                output = _new(Payload, (content_type, encoding, body))
            if type(event_id) is not str or not event_id or type(when) is not str:
                raise _Unusual
            append(_new(Record, (event_id, when, inp, output)))
        except (_Unusual, KeyError, TypeError, AttributeError):
            record = _record(obj, line, quality)
            if record is not None:
                append(record)


def _lines(blob: bytes, quality: Quality) -> list[str]:
    """The file's lines but empty ones (whitespace-only ones are left to the caller)."""
    if blob.startswith(codecs.BOM_UTF8):
        blob = blob[len(codecs.BOM_UTF8) :]
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        out: list[str] = []
        for raw in blob.split(b"\n"):
            if raw.strip():
                try:
                    out.append(raw.decode("utf-8"))
                except UnicodeDecodeError as err:
                    quality.records += 1
                    _unparsable(quality, repr(raw[:80]), f"not UTF-8 ({err.reason})")
        return out
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    if "" in lines:
        lines = [line for line in lines if line]
    return lines


def _load_chunk(chunk: list[str]) -> list[Any] | None:
    """All of a chunk's lines parsed at once, or None: parse them one by one.

    Accepted only when the chunk gives exactly one JSON object per line, so a line
    holding two values (``1,2``) cannot shift records onto the wrong lines."""
    try:
        objs = json.loads("[" + ",".join(chunk) + "]")
    except (ValueError, RecursionError):
        return None
    if len(objs) != len(chunk) or not all(type(o) is dict for o in objs):
        return None
    return objs


def _unparsable(quality: Quality, line: str, reason: str) -> None:
    quality.unparsable += 1
    quality.note(f"capture line {reason}: {line[:100]}")


def _record(obj: Any, line: str, quality: Quality) -> Record | None:
    if type(obj) is not dict:
        _unparsable(quality, line, f"not a JSON object but {type(obj).__name__}")
        return None
    data = obj.get("captureData")
    if type(data) is not dict:
        _unparsable(quality, line, "no captureData object: not a capture record")
        return None
    meta = obj.get("eventMetadata")
    if type(meta) is not dict:
        meta = {}
    event_id = meta.get("eventId")
    if type(event_id) is not str or not event_id:
        event_id = meta.get("inferenceId")
        if type(event_id) is not str or not event_id:
            event_id = "line:" + hashlib.sha256(line.encode()).hexdigest()[:16]
    when = meta.get("inferenceTime")
    inp = data.get("endpointInput")
    out = data.get("endpointOutput")
    return Record(
        event_id,
        when if type(when) is str else None,
        None if inp is None else _payload(inp, "endpointInput", event_id, quality),
        None if out is None else _payload(out, "endpointOutput", event_id, quality),
    )


def _payload(obj: Any, where: str, event_id: str, quality: Quality) -> Payload | None:
    if type(obj) is not dict:
        return _bad(quality, event_id, f"{where} is not an object")
    data = obj.get("data")
    encoding = obj.get("encoding")
    content_type = obj.get("observedContentType")
    if type(content_type) is not str:
        content_type = None
    if type(data) is not str:
        return _bad(quality, event_id, f"{where}.data is not a string")
    return _decoded(content_type, encoding, data, where, event_id, quality)


def _decoded(
    content_type: str | None, encoding: Any, data: str, where: str, event_id: str, quality: Quality
) -> Payload | None:
    if encoding == "CSV" or encoding == "JSON":
        return Payload(content_type, encoding, data)
    if encoding != "BASE64":
        return _bad(quality, event_id, f"{where}.encoding {encoding!r}: CSV, JSON or BASE64")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as err:  # binascii.Error, or a non-ASCII string
        return _bad(quality, event_id, f"{where}.data is not base64 ({err})")
    try:
        return Payload(content_type, encoding, raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Payload(content_type, encoding, raw)


def _bad(quality: Quality, event_id: str, reason: str) -> Payload | None:
    """Count a payload that does not decode; None stands for it in its record."""
    quality.bad_payload += 1
    quality.note(f"capture event {event_id}: {reason}")
    return None
