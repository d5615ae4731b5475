"""Capture records -> feature columns, by an endpoint's ``PayloadSchema``.

Each source (input, output) with features in the schema is read in its configured
format; the payload's ``encoding`` only says how its text was stored (CSV, JSON, or
BASE64 of either), so a BASE64 ``text/csv`` body reads like a CSV one.

CSV: a body is rows split on newlines (blank lines ignored, ``\\r\\n`` accepted) and
fields on commas; a body with a double quote goes through the ``csv`` module (quoted
fields, embedded newlines). Feature ``i`` of a source is column ``i``. A row with fewer
fields counts once in ``missing_columns`` (its missing features are missing values),
one with more fields once in ``extra_columns`` (the extra fields are ignored). A body
with no rows is a bad payload.

JSON: a body is parsed, its rows are ``input_rows``/``output_rows`` (JMESPath) when that
yields a list, else the body is one row; each feature is its ``path`` evaluated on a
row. A path that yields null or nothing counts in ``missing_field[name]``.

Values by kind (a value of the wrong type is missing and counts in
``type_mismatch[name]``):

- numeric: CSV fields and JSON strings by ``float()`` (no ``_`` digit separators), JSON
  numbers as they are; JSON booleans and containers are mismatches; an empty or blank
  field or string is missing, not a mismatch;
- categorical: CSV fields stripped (empty: missing); JSON strings as they are, numbers by
  ``str()``, booleans as ``"true"``/``"false"``, objects and arrays as compact JSON;
- text: CSV fields as they are; JSON strings only. Expanded by ``drift.text.derive``;
- embedding (JSON only): a non-empty array of finite numbers. The most common dimension
  of a feature's vectors (the first seen on a tie) is its dimension; vectors of another
  dimension are mismatches. Kept vectors are float32 rows, each with the id
  ``"{event_id}:{row index in its body}"``; missing vectors are simply absent.

The all-numeric CSV case (the common tabular endpoint) is parsed in bulk with
``numpy.loadtxt``, a chunk of bodies at a time; a chunk where the bulk parse meets
anything unusual (a quote, a blank body, a column count off, a value it does not
read) is parsed again row by row, so the counts are the same either way.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jmespath
import numpy as np
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from numpy.typing import NDArray

from release_guard.drift import text as text_features
from release_guard.drift.capture import Payload, Record, no_gc
from release_guard.drift.columns import Columns, Quality
from release_guard.policy import FeatureSpec, PayloadSchema

CHUNK_BODIES = 4096  # CSV bodies per bulk parse; a chunk that fails is re-read row by row
SOURCES = ("input", "output")


@lru_cache(maxsize=1024)
def compiled(expression: str) -> ParsedResult:
    """A compiled JMESPath expression (cached); ValueError when it does not parse."""
    try:
        return jmespath.compile(expression)
    except JMESPathError as err:
        raise ValueError(f"not a JMESPath expression: {expression!r} ({err})") from err


def extract(
    records: list[Record], schema: PayloadSchema, quality: Quality | None = None
) -> Columns:
    """The features of ``schema`` read from ``records``, one array or list per feature.

    Problems are counted in ``quality`` (``Columns.quality``; a new ``Quality`` when
    None), so the counts of ``capture.parse_lines`` and of this step can share one.
    Raises ValueError only for a schema whose JMESPath does not compile.
    """
    columns = Columns(quality=quality if quality is not None else Quality())
    with no_gc():
        for source in SOURCES:
            features = schema.of(source)
            if not features:
                continue
            bodies = [
                (r.event_id, p)
                for r in records
                if (p := r.input if source == "input" else r.output) is not None
            ]
            sink = _Sink(source, features, columns)
            if (schema.input_format if source == "input" else schema.output_format) == "csv":
                _read_csv(bodies, sink)
            else:
                rows = schema.input_rows if source == "input" else schema.output_rows
                _read_json(bodies, rows, sink)
            sink.finish()
    return columns


class _Sink:
    """One source's values, feature by feature, and its row count."""

    def __init__(self, source: str, features: list[FeatureSpec], columns: Columns) -> None:
        self.source = source
        self.features = features
        self.columns = columns
        self.quality = columns.quality
        self.rows = 0
        self.numeric: dict[str, list[NDArray[np.float64]]] = {}
        self.values: dict[str, list[Any]] = {f.name: [] for f in features}
        self.ids: dict[str, list[str]] = {f.name: [] for f in features if f.kind == "embedding"}

    def add_numeric(self, name: str, values: NDArray[np.float64]) -> None:
        self.numeric.setdefault(name, []).append(values)

    def flush(self) -> None:
        """Move numeric values read row by row behind those read in bulk, in order."""
        for f in self.features:
            if f.kind == "numeric" and self.values[f.name]:
                self.add_numeric(f.name, np.asarray(self.values[f.name], dtype=np.float64))
                self.values[f.name] = []

    def finish(self) -> None:
        self.flush()
        columns = self.columns
        columns.rows[self.source] = columns.rows.get(self.source, 0) + self.rows
        for f in self.features:
            name = f.name
            if f.kind == "numeric":
                parts = self.numeric.get(name, [])
                columns.numeric[name] = (
                    np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
                )
                columns.source[name] = self.source
            elif f.kind == "categorical":
                columns.categorical[name] = self.values[name]
                columns.source[name] = self.source
            elif f.kind == "text":
                numeric, categorical = text_features.derive(name, self.values[name])
                columns.numeric.update(numeric)
                columns.categorical.update(categorical)
                for derived in (*numeric, *categorical):
                    columns.source[derived] = self.source
            else:
                self._embedding(name)

    def _embedding(self, name: str) -> None:
        vectors: list[NDArray[np.float32]] = self.values[name]
        ids = self.ids[name]
        dims = Counter(v.shape[0] for v in vectors)
        dim = dims.most_common(1)[0][0] if dims else 0
        keep = [i for i, v in enumerate(vectors) if v.shape[0] == dim]
        if len(keep) < len(vectors):
            self.quality.type_mismatch[name] += len(vectors) - len(keep)
            self.quality.note(
                f"{self.source} feature {name!r}: {len(vectors) - len(keep)} vectors not of "
                f"the common dimension {dim}"
            )
        self.columns.embedding[name] = (
            np.stack([vectors[i] for i in keep]) if keep else np.empty((0, 0), np.float32)
        )
        self.columns.embedding_ids[name] = [ids[i] for i in keep]
        self.columns.source[name] = self.source

    def mismatch(self, name: str, value: Any) -> None:
        self.quality.type_mismatch[name] += 1
        if len(self.quality.examples) < 5:
            kind = next(f.kind for f in self.features if f.name == name)
            self.quality.note(f"{self.source} feature {name!r}: not {kind}: {value!r:.80}")

    def bad(self, event_id: str, reason: str) -> None:
        self.quality.bad_payload += 1
        self.quality.note(f"capture event {event_id}: {self.source} {reason}")


def _text(event_id: str, payload: Payload, sink: _Sink) -> str | None:
    if isinstance(payload.data, str):
        return payload.data
    try:
        return payload.data.decode("utf-8")
    except UnicodeDecodeError:
        sink.bad(event_id, f"body ({payload.content_type}) is not UTF-8 text")
        return None


# -- values (public so that other readers of features convert values the same way) -------


def number(value: Any) -> float:
    """A numeric feature's value: a JSON number, or text read by ``float()`` (surrounding
    whitespace allowed, ``_`` separators not). None, and blank text, are missing (NaN);
    anything else (a boolean, a container, text that is not a number) raises ValueError
    or OverflowError: a type mismatch."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if value is None:
        return math.nan
    if kind is not str:
        raise ValueError(value)
    text = value.strip()
    if not text:
        return math.nan
    if "_" in text:
        raise ValueError(text)
    return float(text)


def csv_category(field: str | None) -> str | None:
    """A categorical CSV field: stripped; empty is missing (None)."""
    return None if field is None else field.strip() or None


def json_category(value: Any) -> str | None:
    """A categorical JSON value: strings as they are, numbers by ``str()``, booleans as
    ``"true"``/``"false"``, objects and arrays as compact JSON; null is missing (None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _vector(value: Any) -> NDArray[np.float32] | None:
    if not isinstance(value, list) or not value:
        return None
    for x in value:
        kind = type(x)
        if kind is not float and kind is not int:
            return None
    try:
        with np.errstate(over="ignore"):
            vector = np.asarray(value, dtype=np.float32)
    except OverflowError:
        return None
    return vector if np.isfinite(vector).all() else None


# -- CSV ----------------------------------------------------------------------------------


def _read_csv(bodies: list[tuple[str, Payload]], sink: _Sink) -> None:
    bulk = all(f.kind == "numeric" for f in sink.features)
    for start in range(0, len(bodies), CHUNK_BODIES):
        chunk = bodies[start : start + CHUNK_BODIES]
        if not (bulk and _bulk_numeric(chunk, sink)):
            for event_id, payload in chunk:
                _csv_body(event_id, payload, sink)
            sink.flush()


def _bulk_numeric(chunk: list[tuple[str, Payload]], sink: _Sink) -> bool:
    """Read a chunk of all-numeric CSV bodies at once; False: nothing was recorded, read
    it row by row. Only taken when the row-by-row reading would find no problem at all,
    so the two always agree."""
    texts = [p.data for _, p in chunk if type(p.data) is str]
    if len(texts) < len(chunk) or "" in texts or any(map(str.isspace, texts)):
        return False  # bytes to decode, or an empty body (a bad payload)
    joined = "\n".join(texts)
    if '"' in joined:
        return False
    # One line per body (the usual case) reads faster as a list of lines.
    lines = texts if joined.count("\n") == len(texts) - 1 else io.StringIO(joined)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(
                lines,
                delimiter=",",
                comments=None,
                quotechar=None,
                ndmin=2,
                dtype=np.float64,
            )
    except (ValueError, Warning):
        return False
    if table.shape[1] != len(sink.features):
        return False
    for i, f in enumerate(sink.features):
        sink.add_numeric(f.name, table[:, i])
    sink.rows += table.shape[0]
    return True


def _csv_rows(text: str) -> list[list[str]]:
    if '"' not in text:
        return [
            line.rstrip("\r").split(",") for line in text.split("\n") if line and not line.isspace()
        ]
    rows = csv.reader(io.StringIO(text, newline=""))
    return [r for r in rows if r and not (len(r) == 1 and not r[0].strip())]


def _csv_body(event_id: str, payload: Payload, sink: _Sink) -> None:
    text = _text(event_id, payload, sink)
    if text is None:
        return
    try:
        rows = _csv_rows(text)
    except csv.Error as err:
        sink.bad(event_id, f"CSV body does not parse: {err}")
        return
    if not rows:
        sink.bad(event_id, "CSV body has no rows")
        return
    quality = sink.quality
    width = len(sink.features)
    values = sink.values
    for row in rows:
        if len(row) < width:
            quality.missing_columns += 1
            quality.note(
                f"capture event {event_id}: {sink.source} row has {len(row)} fields, "
                f"{width} expected"
            )
        elif len(row) > width:
            quality.extra_columns += 1
            quality.note(
                f"capture event {event_id}: {sink.source} row has {len(row)} fields, "
                f"{width} expected"
            )
        for i, f in enumerate(sink.features):
            field = row[i] if i < len(row) else None
            out = values[f.name]
            if f.kind == "numeric":
                try:
                    out.append(number(field))
                except ValueError:
                    out.append(math.nan)
                    sink.mismatch(f.name, field)
            elif f.kind == "categorical":
                out.append(csv_category(field))
            else:  # text (the schema allows no CSV embeddings)
                out.append(field)
    sink.rows += len(rows)


# -- JSON ---------------------------------------------------------------------------------


def _read_json(bodies: list[tuple[str, Payload]], rows_path: str | None, sink: _Sink) -> None:
    rows_expr = compiled(rows_path) if rows_path is not None else None
    paths = []
    for f in sink.features:
        try:
            paths.append(compiled(f.path or "@"))
        except ValueError as err:
            raise ValueError(f"payload feature {f.name!r} path: {err}") from None
    readers = [_json_reader(f, sink) for f in sink.features]
    quality = sink.quality
    for event_id, payload in bodies:
        text = _text(event_id, payload, sink)
        if text is None:
            continue
        try:
            body = json.loads(text)
        except (ValueError, RecursionError) as err:
            sink.bad(event_id, f"JSON body does not parse: {err}")
            continue
        rows = [body]
        if rows_expr is not None:
            try:
                found = rows_expr.search(body)
            except JMESPathError:
                found = None
            if isinstance(found, list):
                rows = found
        for index, row in enumerate(rows):
            for f, path, read in zip(sink.features, paths, readers, strict=True):
                try:
                    value = path.search(row)
                except JMESPathError:
                    value = None
                if value is None:
                    quality.missing_field[f.name] += 1
                read(value, f"{event_id}:{index}")
        sink.rows += len(rows)


def _json_reader(f: FeatureSpec, sink: _Sink) -> Callable[[Any, str], None]:
    """The function that records one JSON value (and its row id) of feature ``f``."""
    name = f.name
    out = sink.values[name]

    if f.kind == "numeric":

        def numeric(value: Any, ident: str) -> None:
            try:
                out.append(number(value))
            except (ValueError, OverflowError):
                out.append(math.nan)
                sink.mismatch(name, value)

        return numeric

    if f.kind == "categorical":

        def categorical(value: Any, ident: str) -> None:
            out.append(json_category(value))

        return categorical

    if f.kind == "text":

        def text(value: Any, ident: str) -> None:
            if value is None or isinstance(value, str):
                out.append(value)
            else:
                out.append(None)
                sink.mismatch(name, value)

        return text

    ids = sink.ids[name]

    def embedding(value: Any, ident: str) -> None:
        if value is None:
            return
        vector = _vector(value)
        if vector is None:
            sink.mismatch(name, value)
            return
        out.append(vector)
        ids.append(ident)

    return embedding
