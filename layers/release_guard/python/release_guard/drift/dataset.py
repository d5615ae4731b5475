"""Reference datasets for a baseline: CSV with a header row, or JSON Lines rows.

Features are found by name (CSV header, JSON key) or, for JSON rows, by the feature's
JMESPath. A feature the dataset lacks is noted, not fatal: the check then says the
baseline has no profile for it. Data Capture files as a reference window go through
``capture`` and ``extract`` instead.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from typing import Any

import jmespath
import numpy as np

from release_guard.drift.columns import Columns, Quality
from release_guard.drift.extract import csv_category, json_category, number
from release_guard.drift.text import derive
from release_guard.errors import InvalidReleaseRequest
from release_guard.policy import FeatureSpec, PayloadSchema


@cache
def _compiled(path: str) -> Any:
    return jmespath.compile(path)


def _number(value: Any, name: str, quality: Quality) -> float:
    try:
        return number(value)
    except (ValueError, OverflowError):
        quality.type_mismatch[name] += 1
        quality.note(f"{name}: {str(value)[:40]!r} is not a number")
        return float("nan")


def _columns(
    rows: int, values: dict[str, list[Any]], specs: list[FeatureSpec], quality: Quality, fmt: str
) -> Columns:
    category = csv_category if fmt == "csv" else json_category
    out = Columns(quality=quality)
    for spec in specs:
        out.rows[spec.source] = rows
        raw = values.get(spec.name)
        if raw is None:
            continue
        if spec.kind == "numeric":
            out.numeric[spec.name] = np.array([_number(v, spec.name, quality) for v in raw])
            out.source[spec.name] = spec.source
        elif spec.kind == "categorical":
            # The same conversions as live capture, so a baseline never differs by format.
            out.categorical[spec.name] = [category(v) for v in raw]
            out.source[spec.name] = spec.source
        elif spec.kind == "text":
            texts = [v if isinstance(v, str) else None for v in raw]
            numeric, categorical = derive(spec.name, texts)
            out.numeric.update(numeric)
            out.categorical.update(categorical)
            for name in [*numeric, *categorical]:
                out.source[name] = spec.source
        else:
            vectors = [v for v in raw if isinstance(v, list) and v]
            if vectors and len({len(v) for v in vectors}) == 1:
                out.embedding[spec.name] = np.asarray(vectors, dtype=np.float32)
                out.embedding_ids[spec.name] = [
                    str(i) for i, v in enumerate(raw) if isinstance(v, list) and v
                ]
                out.source[spec.name] = spec.source
    return out


def read_dataset(blob: bytes, fmt: str, schema: PayloadSchema) -> tuple[Columns, list[str]]:
    """(columns, notes) from one dataset file; ``InvalidReleaseRequest`` when nothing in
    it matches the schema."""
    quality = Quality()
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidReleaseRequest("dataset_uri", "UTF-8 text", str(err)) from None
    values: dict[str, list[Any]] = {}
    rows = 0
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            raise InvalidReleaseRequest("dataset_uri", "a CSV file with a header row", "empty")
        index = {h.strip(): i for i, h in enumerate(header)}
        columns_seen = [h.strip() for h in header[:20]]
        wanted = {f.name: index[f.name] for f in schema.features if f.name in index}
        lists: dict[str, list[Any]] = {name: [] for name in wanted}
        for record in reader:
            if not record:
                continue
            rows += 1
            quality.records += 1
            if len(record) < len(header):
                quality.missing_columns += 1
            elif len(record) > len(header):
                quality.extra_columns += 1
            for name, i in wanted.items():
                lists[name].append(record[i] if i < len(record) else None)
        values = lists
    elif fmt == "jsonl":
        lists = {f.name: [] for f in schema.features}
        for line in text.splitlines():
            if not line.strip():
                continue
            quality.records += 1
            try:
                row = json.loads(line)
            except ValueError:
                quality.unparsable += 1
                quality.note(f"line {quality.records}: not JSON")
                continue
            rows += 1
            for f in schema.features:
                v = _compiled(f.path).search(row) if f.path else _key(row, f.name)
                if v is None:
                    quality.missing_field[f.name] += 1
                lists[f.name].append(v)
        values = {k: v for k, v in lists.items() if len(v) and any(x is not None for x in v)}
    else:
        raise InvalidReleaseRequest("format", "csv or jsonl", fmt)
    notes = [
        f"{f.name}: not in the dataset (the baseline has no profile for it)"
        for f in schema.features
        if f.name not in values
    ]
    if len(notes) == len(schema.features):
        names = [f.name for f in schema.features]
        if fmt == "csv":
            found = f"none in the header {columns_seen} ({rows} rows)"
        else:
            found = f"none in {quality.records} lines read ({quality.unparsable} not JSON)"
        raise InvalidReleaseRequest(
            "dataset_uri", f"a dataset with at least one of the features {names}", found
        )
    # Features found but without a single value are refused by build_profile.
    return _columns(rows, values, schema.features, quality, fmt), notes


def _key(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else None
