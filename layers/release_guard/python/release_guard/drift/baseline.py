"""Build a baseline profile from a reference dataset and record where it is.

Data that cannot support a check is refused before anything is written or recorded
(``profile.require_values``): a schema that matched nothing, a capture window that did
not parse. The error names the schema's features and what was read.

Features no check can support are excluded, with a note in the profile that every
report shows (``screen``): a feature monotone in row order (a timestamp, a running id),
a categorical id, and any feature whose test fails when the build checks part of its
own baseline data against a profile of the rest. ``"keep": true`` on a payload feature keeps
it checked (the build's notes still say what it found).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from release_guard import registry
from release_guard.drift.capture import parse_lines
from release_guard.drift.check import Store
from release_guard.drift.columns import Columns, Quality
from release_guard.drift.dataset import read_dataset
from release_guard.drift.decide import decide
from release_guard.drift.extract import extract
from release_guard.drift.profile import (
    EmbeddingProfile,
    Profile,
    build_profile,
    empty_features,
    fingerprint,
    id_like,
    monotone,
)
from release_guard.drift.summary import summarise
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import BaselineRequest
from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema

# The self-check: SPLITS times the rows are halved at random and one half is checked
# against a profile of the other, as a scheduled check would be. Halves, because a test
# that fails for one baseline fails most plainly when the live rows are as many as the
# baseline's, or more. A feature found significant in FAILS of the SPLITS checks fails on
# its own data. With no drift a feature is significant in one check with probability
# at most alpha, and in three of four far less (the halvings differ); one whose test does
# not hold for this baseline is significant in all of them. Significance, not an alarm:
# the effect floor would hide a test that fails at half the rows and alarms at the many
# more of live traffic.
SPLITS = 4
FAILS = 3
SELF_CHECK_MIN = 400  # present values: each half holds 200
SELF_CHECK_SEED = 0  # the split is the same for the same data: a build is repeatable


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
        try:
            columns = extract(records, schema, quality)
        except ValueError as err:  # a feature path that is not JMESPath
            raise InvalidReleaseRequest(
                "policy.drift.payload", "valid JMESPath", str(err)
            ) from None
    else:
        blob = store.read_bytes(req.dataset_uri)
        if blob is None:
            raise InvalidReleaseRequest("dataset_uri", "an existing object", req.dataset_uri)
        columns, notes = read_dataset(blob, req.format, schema)
    # extract keeps every schema feature (a path that stops matching must show as
    # missing live): one with no value has a profile of missing values only.
    notes += [
        f"{name}: no values in the reference data (all missing or unparsable); a check "
        "cannot compare it"
        for name in empty_features(columns, schema)
    ]
    profile, screened = screened_profile(
        columns, schema, now, req.dataset_uri, req.model_package_arn
    )
    notes += screened
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


def screened_profile(
    columns: Columns,
    schema: PayloadSchema,
    created: datetime,
    dataset: str | None = None,
    model_package_arn: str | None = None,
) -> tuple[Profile, list[str]]:
    """``build_profile``, then ``screen``: the profile a baseline build writes, and the
    build's notes on the features it excluded or kept."""
    profile = build_profile(columns, schema, created, dataset, model_package_arn)
    return screen(columns, profile)


def _spec(schema: PayloadSchema, name: str) -> FeatureSpec | None:
    """The payload feature a profile feature comes from (text features derive several)."""
    for spec in schema.features:
        if name == spec.name or name.startswith(spec.name + "."):
            return spec
    return None


def screen(columns: Columns, profile: Profile) -> tuple[Profile, list[str]]:
    """``profile`` with ``excluded`` set on the features no check can support, and the
    notes saying why. First by their shape: a numeric feature monotone in row order
    (``profile.monotone``), a categorical whose values are mostly seen once
    (``profile.id_like``). Then by a self-check (``self_check``) of the rest. A feature
    whose payload spec says ``keep`` stays checked, with a note."""
    found: dict[str, str] = {}
    for name, values in columns.numeric.items():
        why = monotone(values)
        if why and name in profile.features:
            found[name] = why
    for name, cats in columns.categorical.items():
        why = id_like(cats)
        if why and name in profile.features:
            found[name] = why
    notes: list[str] = []
    excluded = _apply(profile, found, notes)
    significant = self_check(columns, profile, set(excluded))
    failed = {
        name: (
            f"its test failed on its own baseline data: significant in {k} of {SPLITS} "
            "checks of a random half of the rows against a profile of the other half, "
            "where a feature the check can support is in at most 5 % of them"
        )
        for name, k in sorted(significant.items())
        if k >= FAILS
    }
    excluded |= _apply(profile, failed, notes)
    if not excluded:
        return profile, notes
    features = {
        name: f.model_copy(update={"excluded": excluded[name]}) if name in excluded else f
        for name, f in profile.features.items()
    }
    out = profile.model_copy(update={"features": features})
    return out.model_copy(update={"profile_id": fingerprint(out)}), notes


def _apply(profile: Profile, found: dict[str, str], notes: list[str]) -> dict[str, str]:
    """The features of ``found`` to exclude (those whose spec does not say ``keep``),
    and a note for each of ``found``."""
    out: dict[str, str] = {}
    for name, why in found.items():
        spec = _spec(profile.payload, name)
        if spec is not None and spec.keep:
            notes.append(f'{name}: checked ("keep": true), although {why}')
        else:
            out[name] = why
            notes.append(
                f'{name}: not checked: {why}. Set "keep": true on the feature to check it anyway'
            )
    return out


def self_check(columns: Columns, profile: Profile, skip: set[str]) -> Counter[str]:
    """In how many of ``SPLITS`` checks each feature was significant, each check a random
    half of the rows against a profile built from the other half, with the default
    policy. Features in ``skip``, embeddings and features with fewer than
    ``SELF_CHECK_MIN`` values are left out. The halvings come from a seeded generator of
    the check's own, drawn once per split and row count: row-aligned features are split
    alike, and a build of the same data is the same build."""
    names = [
        n
        for n, f in profile.features.items()
        if n not in skip
        and not isinstance(f, EmbeddingProfile)
        and (n in columns.numeric or n in columns.categorical)
        and _present(columns, n) >= SELF_CHECK_MIN
    ]
    found: Counter[str] = Counter()
    if not names:
        return found
    rng = np.random.default_rng(SELF_CHECK_SEED)
    halves: dict[tuple[int, int], np.ndarray] = {}

    def half(length: int, j: int) -> np.ndarray:
        """Split ``j`` of rows ``0..length``: True for the half that is checked."""
        if (length, j) not in halves:
            halves[length, j] = rng.permutation(length) < length // 2
        return halves[length, j]

    policy = DriftPolicy(payload=profile.payload)
    created = datetime.fromisoformat(profile.created) if profile.created else datetime.min
    for j in range(SPLITS):
        held, rest = Columns(), Columns()
        for src, rows in columns.rows.items():
            inside = int(np.count_nonzero(half(rows, j)))
            held.rows[src], rest.rows[src] = inside, rows - inside
        for name in names:
            src = columns.source.get(name, "input")
            held.source[name] = rest.source[name] = src
            if name in columns.numeric:
                values = columns.numeric[name]
                mine = half(values.size, j)
                held.numeric[name], rest.numeric[name] = values[mine], values[~mine]
            else:
                cats = np.asarray(columns.categorical[name], dtype=object)
                mine = half(cats.size, j)
                held.categorical[name] = cats[mine].tolist()
                rest.categorical[name] = cats[~mine].tolist()
        base = build_profile(rest, profile.payload, created)
        report = decide(base, summarise(held, base), policy)
        found.update(r.name for r in report.features if r.significant)
    return found


def _present(columns: Columns, name: str) -> int:
    if name in columns.numeric:
        return int(np.count_nonzero(np.isfinite(columns.numeric[name])))
    return sum(v is not None for v in columns.categorical.get(name, []))


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
