"""Build a baseline profile from a reference dataset and record where it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from release_guard import registry
from release_guard.drift.capture import parse_lines
from release_guard.drift.check import Store
from release_guard.drift.columns import Columns, Quality
from release_guard.drift.dataset import read_dataset
from release_guard.drift.extract import extract
from release_guard.drift.profile import Profile, build_profile
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import BaselineRequest
from release_guard.policy import PayloadSchema


def _package_path(arn: str | None) -> str:
    """``model-package/{group}/{version}`` -> ``{group}/{version}``; none -> ``unversioned``."""
    if not arn:
        return "unversioned"
    return arn.split(":model-package/", 1)[1]


def build_baseline(
    req: BaselineRequest,
    schema: PayloadSchema,
    store: Store,
    record: Callable[[str, str], None] | None,
    baselines: str,
    now: datetime,
) -> tuple[Profile, dict[str, Any]]:
    """Read the dataset, profile it, write the profile, record it on the package."""
    recording = req.model_package_arn is not None and record is not None
    if recording and req.output_uri:
        _recordable(req.output_uri, "output_uri")
    notes: list[str] = []
    if req.format == "capture":
        keys = [k for k, _ in store.list_objects(req.dataset_uri) if k.endswith(".jsonl")]
        if not keys:
            raise InvalidReleaseRequest(
                "dataset_uri", "a prefix with Data Capture .jsonl files", req.dataset_uri
            )
        quality = Quality()
        records = []
        for key in sorted(keys):
            records += parse_lines(store.read_bytes(key) or b"", quality)
        columns = extract(records, schema)
        columns.quality.merge(quality)
        # extract keeps every schema feature (a path that stops matching must show as
        # missing live); a reference window with no value at all is not a baseline.
        present = _present(columns)
        notes += [
            f"{f.name}: no values in the capture (the baseline has no profile for it)"
            for f in schema.features
            if not any(n == f.name or n.startswith(f.name + ".") for n in present)
        ]
    else:
        blob = store.read_bytes(req.dataset_uri)
        if blob is None:
            raise InvalidReleaseRequest("dataset_uri", "an existing object", req.dataset_uri)
        columns, notes = read_dataset(blob, req.format, schema)
    if not columns.source:
        raise InvalidReleaseRequest("dataset_uri", "rows with the schema's features", "none")
    profile = build_profile(columns, schema, now, req.dataset_uri, req.model_package_arn)
    uri = req.output_uri or (
        f"{baselines}/{_package_path(req.model_package_arn)}/{profile.profile_id}.json"
    )
    if recording:
        _recordable(uri, "baseline URI")
    store.write_bytes(uri, profile.to_json().encode(), "application/json")
    if req.model_package_arn and record is not None:
        record(req.model_package_arn, uri)
    summary = {
        "baseline_uri": uri,
        "profile_id": profile.profile_id,
        "rows": profile.rows,
        "features": len(profile.features),
        "model_package_arn": req.model_package_arn,
        "notes": notes,
    }
    return profile, summary


def _recordable(uri: str, field: str) -> None:
    """The drift check reads the baseline's address back from the package's metadata:
    SageMaker must store it as it is (no character it refuses, at most 256)."""
    if not registry.valid_value(uri):
        raise InvalidReleaseRequest(
            field,
            f"an S3 URI SageMaker stores as model package metadata (letters, digits, spaces "
            f"and _.:/=+-@ only, at most {registry.VALUE_MAX} characters)",
            uri,
        )


def _present(columns: Columns) -> set[str]:
    names = {n for n, v in columns.numeric.items() if v.size and not np.isnan(v).all()}
    names |= {n for n, v in columns.categorical.items() if any(x is not None for x in v)}
    return names | {n for n, v in columns.embedding.items() if len(v)}
