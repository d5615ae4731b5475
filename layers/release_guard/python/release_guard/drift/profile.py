"""Baseline profiles: what a drift check compares live traffic with.

A profile is built once from training data or a reference window and stored as one
small JSON file. Numeric features keep reference quantile bin edges (a 1 % grid plus
0.1 % tail bins, frozen at baseline time) and the reference counts in them, so every
later check bins live data the same way and never reloads the reference data.

A value that holds a large share of the reference (a point mass: the 0 of a share that
is almost always 0, each level of a small count) gets a bin of its own: the edge just
below it (``nextafter(v, -inf)``) is added, so the bin ``(that edge, v]`` holds exactly
``v``. The reference's minimum, when it is the first edge, is split off the same way,
so live values below it have a bin of their own (before, ``(-inf, min]`` took them in
with the minimum: a constant feature could fall below its constant unseen). Bins that
hold no reference value are then exactly the values the reference never had.

A categorical feature with more categories than a profile keeps has them chosen on half
the rows and counted on the other half (``categorical_profile``), so their counts carry
no selection bias. A feature the baseline build excluded from checks carries the reason
in ``excluded`` (``drift.baseline.screen``; ``monotone`` and ``id_like`` are here).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from release_guard.drift.columns import Columns, Quality
from release_guard.errors import InvalidReleaseRequest
from release_guard.policy import PayloadSchema, Strict

FORMAT: Literal["release-guard/profile@1"] = "release-guard/profile@1"
# Bin edges: the reference's 0.1 %, 1 %, 2 %, ..., 99 % and 99.9 % quantiles. The tail
# bins (below p0.1, above p99.9) make outlier bursts visible.
PROBS = np.concatenate(([0.001], np.arange(1, 100) / 100, [0.999]))
NAMED = {"p0.1": 0.001, "p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75}
NAMED |= {"p95": 0.95, "p99": 0.99, "p99.9": 0.999}
MAX_CATEGORIES = 100  # the rest of a long tail is one "other" count
# Screening at build (``monotone``, ``id_like``): fewer present values than this tell
# nothing either way.
SCREEN_MIN = 100
# |Spearman rho| of a feature's values with their row order at or above this: a
# timestamp, a running id or a counter. Live values then lie beyond the baseline's
# range, and every check alarms. (A binary label the data is sorted by reaches 0.87.)
MONOTONE_RHO = 0.95
# A categorical whose values seen once make up this share of it is an id: by Good-Turing
# that share is also the chance a live value is one the baseline never had.
ID_SINGLETONS = 0.5
EMBEDDING_SAMPLE = 256
HEAVY = 0.01  # a value holding this share of a numeric feature is a "top value"
# A value holding this share gets a bin of its own. Twice the 1 % grid step: an ordinary
# bin of continuous data holds about 1 %, so only a real point mass reaches 2 % (and an
# import from Model Monitor, which sees only bin counts, can tell the two apart).
ATOM = 0.02


class NumericProfile(Strict):
    kind: Literal["numeric"] = "numeric"
    source: Literal["input", "output"] = "input"
    count: int = Field(ge=0, description="rows")
    missing: int = Field(ge=0, description="rows with no finite value")
    edges: list[float] = Field(description="ascending, distinct reference quantiles")
    counts: list[int] = Field(description="reference values per bin: len(edges) + 1")
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)
    top_value: float | None = Field(None, description=f"a value with >= {HEAVY:.0%} of rows")
    top_share: float = Field(0.0, description="its share; with no such value, at most this")
    excluded: str | None = Field(
        None, description="why the build excluded it from checks (docs/drift.md)"
    )


class CategoricalProfile(Strict):
    kind: Literal["categorical"] = "categorical"
    source: Literal["input", "output"] = "input"
    count: int = Field(ge=0)
    missing: int = Field(ge=0)
    categories: dict[str, int] = Field(description=f"the {MAX_CATEGORIES} most frequent")
    other: int = Field(0, ge=0, description="values of every other category")
    chosen_on: int = Field(
        0,
        ge=0,
        description="with more categories than are kept: the rows (not counted here) they "
        "were chosen on",
    )
    excluded: str | None = Field(
        None, description="why the build excluded it from checks (docs/drift.md)"
    )


class EmbeddingProfile(Strict):
    kind: Literal["embedding"] = "embedding"
    source: Literal["input", "output"] = "input"
    count: int = Field(ge=0)
    missing: int = Field(ge=0)
    dim: int = Field(ge=0)
    sample: list[list[float]] = Field(description="a hash-chosen sample of vectors")
    excluded: str | None = Field(
        None, description="why the build excluded it from checks (docs/drift.md)"
    )


FeatureProfile = Annotated[
    NumericProfile | CategoricalProfile | EmbeddingProfile, Field(discriminator="kind")
]


class Profile(Strict):
    format: Literal["release-guard/profile@1"] = FORMAT
    profile_id: str = ""
    created: str = ""
    dataset: str | None = None
    model_package_arn: str | None = None
    payload: PayloadSchema
    rows: dict[str, int] = Field(default_factory=dict)
    features: dict[str, FeatureProfile]
    quality: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def numeric_profile(values: NDArray[np.float64], source: str) -> NumericProfile:
    x = np.sort(values[np.isfinite(values)])
    n = int(x.size)
    if n == 0:
        return NumericProfile(
            source=source, count=values.size, missing=values.size, edges=[], counts=[0]
        )
    edges = np.unique(np.quantile(x, PROBS, method="inverted_cdf"))
    atoms = [v for v, _ in top_runs(x, int(1 / ATOM), ATOM)]
    if edges[0] == x[0]:
        atoms.append(float(x[0]))
    edges = split_atoms(edges, atoms)
    cum = np.searchsorted(x, edges, side="right")
    counts = np.diff(np.concatenate(([0], cum, [n])))
    named = np.quantile(x, list(NAMED.values()), method="linear")
    tops = top_runs(x, 1)
    top_value, top_share = (tops[0][0], tops[0][1] / n) if tops else (None, HEAVY)
    return NumericProfile(
        source=source,
        count=int(values.size),
        missing=int(values.size - n),
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if n > 1 else 0.0,
        min=float(x[0]),
        max=float(x[-1]),
        quantiles={k: float(v) for k, v in zip(NAMED, named, strict=True)},
        top_value=top_value,
        top_share=top_share,
    )


def split_atoms(edges: NDArray[np.float64], atoms: list[float]) -> NDArray[np.float64]:
    """``edges`` with the edge just below each atom added: the bin ending at an atom then
    holds that value alone. Every atom must be one of the edges."""
    if not atoms:
        return edges
    below = np.nextafter(np.asarray(atoms, dtype=np.float64), -np.inf)
    return np.unique(np.concatenate((edges, below)))


def single_value_bins(edges: list[float] | NDArray[np.float64]) -> NDArray[np.bool_]:
    """For each bin (``len(edges) + 1`` of them), whether it holds one value only: bin
    ``i`` is ``(edges[i-1], edges[i]]``, a single value when the two are adjacent floats
    (``split_atoms``)."""
    e = np.asarray(edges, dtype=np.float64)
    out = np.zeros(e.size + 1, dtype=bool)
    if e.size >= 2:
        out[1:-1] = e[:-1] == np.nextafter(e[1:], -np.inf)
    return out


def value_bins(edges: list[float], counts: list[int]) -> tuple[list[float], list[int]]:
    """The bins without ``split_atoms``' extra edges (each merged into the bin above it):
    every edge is then a reference value, as before point masses got bins of their own.
    Model Monitor export reads these (its integer check, its buckets)."""
    single = single_value_bins(edges)
    out_edges: list[float] = []
    out_counts: list[int] = []
    carry = 0
    for i, c in enumerate(counts):
        if i < len(edges) and single[i + 1]:
            carry += c  # edges[i] only marks where the atom above starts
            continue
        out_counts.append(c + carry)
        carry = 0
        if i < len(edges):
            out_edges.append(edges[i])
    return out_edges, out_counts


def top_runs(
    sorted_values: NDArray[np.float64], k: int, min_share: float = HEAVY
) -> list[tuple[float, int]]:
    """Up to ``k`` values of a sorted array that each hold at least ``min_share`` of it,
    most frequent first, with their counts.

    A value that frequent spans ``need`` consecutive slots, so probing every
    ``need // 2``-th slot sees it twice in a row: the probes give the candidates and two
    binary searches each their exact count, without a pass over the whole array.
    """
    n = sorted_values.size
    need = max(2, int(n * min_share))
    probes = sorted_values[:: max(1, need // 2)]
    cand = np.unique(probes[1:][probes[1:] == probes[:-1]])
    if cand.size == 0:
        return []
    counts = np.searchsorted(sorted_values, cand, "right") - np.searchsorted(
        sorted_values, cand, "left"
    )
    order = np.argsort(-counts, kind="stable")[:k]
    return [(float(cand[i]), int(counts[i])) for i in order if counts[i] >= need]


def _count(values: list[str | None]) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    missing = 0
    for v in values:
        if v is None:
            missing += 1
        else:
            counts[v] = counts.get(v, 0) + 1
    return counts, missing


def categorical_profile(values: list[str | None], source: str) -> CategoricalProfile:
    """Every category's count, or with more than ``MAX_CATEGORIES`` of them the most
    frequent ones chosen on the even rows and counted on the odd ones.

    Chosen and counted on the same rows, the kept categories are those whose counts came
    out high by chance: of 400 equally common categories in 20,000 rows the top 100 hold
    18 % more than their true share, "other" correspondingly less, and live traffic,
    which has no such luck, differs from that baseline in every large check. Counts from
    rows the choice never saw carry no such bias, so the test holds for this baseline."""
    counts, missing = _count(values)
    if len(counts) <= MAX_CATEGORIES:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return CategoricalProfile(
            source=source, count=len(values), missing=missing, categories=dict(ranked)
        )
    chooser, _ = _count(values[0::2])
    ranked = sorted(chooser.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES]
    counted = values[1::2]
    counts, missing = _count(counted)
    kept = {k: counts.get(k, 0) for k, _ in ranked}
    return CategoricalProfile(
        source=source,
        count=len(counted),
        missing=missing,
        categories=dict(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))),
        other=sum(counts.values()) - sum(kept.values()),
        chosen_on=len(values) - len(counted),
    )


def sample_key(ident: str) -> int:
    """A stable pseudo-random rank for an id: the k smallest form a mergeable sample."""
    return int.from_bytes(hashlib.blake2b(ident.encode(), digest_size=8).digest(), "big")


def embedding_profile(
    vectors: NDArray[np.float32], ids: list[str], rows: int, source: str
) -> EmbeddingProfile:
    order = sorted(range(len(ids)), key=lambda i: sample_key(ids[i]))[:EMBEDDING_SAMPLE]
    dim = int(vectors.shape[1]) if vectors.ndim == 2 and len(ids) else 0
    return EmbeddingProfile(
        source=source,
        count=rows,
        missing=max(0, rows - len(ids)),
        dim=dim,
        sample=[[round(float(v), 5) for v in vectors[i]] for i in order],
    )


def build_profile(
    columns: Columns,
    schema: PayloadSchema,
    created: datetime,
    dataset: str | None = None,
    model_package_arn: str | None = None,
) -> Profile:
    """Profile every feature of ``schema`` found in ``columns``. Columns in which no
    feature has a single value are refused (``require_values``): such a profile would be
    written, recorded and then compare nothing, every check saying the baseline has no
    values. A feature with no values beside others that have some is kept (its missing
    share is all the profile knows); ``empty_features`` names them."""
    require_values(columns, schema)
    features: dict[str, Any] = {}
    for name, values in columns.numeric.items():
        features[name] = numeric_profile(values, columns.source.get(name, "input"))
    for name, cats in columns.categorical.items():
        features[name] = categorical_profile(cats, columns.source.get(name, "input"))
    for name, vecs in columns.embedding.items():
        src = columns.source.get(name, "input")
        ids = columns.embedding_ids.get(name, [])
        features[name] = embedding_profile(vecs, ids, columns.rows.get(src, len(ids)), src)
    profile = Profile(
        created=created.isoformat(),
        dataset=dataset,
        model_package_arn=model_package_arn,
        payload=schema,
        rows=dict(columns.rows),
        features=dict(sorted(features.items())),
        quality=quality_dict(columns.quality),
    )
    return profile.model_copy(update={"profile_id": fingerprint(profile)})


def order_correlation(values: NDArray[np.float64]) -> float | None:
    """Spearman's rho of the finite values with their row order (ties share their mean
    rank, so a constant or a sorted binary feature is not "monotone"); None with fewer
    than ``SCREEN_MIN`` values or a single distinct one."""
    x = values[np.isfinite(values)]
    if x.size < SCREEN_MIN:
        return None
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if counts.size < 2:
        return None
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return float(np.corrcoef(ranks, np.arange(x.size, dtype=np.float64))[0, 1])


def monotone(values: NDArray[np.float64]) -> str | None:
    """Why a numeric feature is timestamp-like (monotone in row order), or None."""
    rho = order_correlation(values)
    if rho is None or abs(rho) < MONOTONE_RHO:
        return None
    way = "rises" if rho > 0 else "falls"
    return (
        f"monotone: it {way} with row order (Spearman rho {rho:.3f}), like a timestamp, a "
        "running id or a counter, so live values lie beyond the baseline's range and "
        "every check would alarm"
    )


def id_like(values: list[str | None]) -> str | None:
    """Why a categorical feature is an id (most of its values seen once), or None."""
    counts, _ = _count(values)
    present = sum(counts.values())
    if present < SCREEN_MIN:
        return None
    once = sum(1 for c in counts.values() if c == 1) / present
    if once < ID_SINGLETONS:
        return None
    return (
        f"id-like: {once:.0%} of its values occur once ({len(counts):,} distinct in "
        f"{present:,}), so about as many live values would be ones the baseline never had "
        "and every check would alarm"
    )


def present_features(columns: Columns) -> set[str]:
    """The features of ``columns`` with at least one value (finite, not None, a vector)."""
    names = {n for n, v in columns.numeric.items() if np.isfinite(v).any()}
    names |= {n for n, v in columns.categorical.items() if any(x is not None for x in v)}
    return names | {n for n, v in columns.embedding.items() if len(v)}


def _derived(name: str, names: set[str] | dict[str, Any]) -> bool:
    """Whether ``names`` has schema feature ``name`` (or one derived from it: text)."""
    return any(n == name or n.startswith(name + ".") for n in names)


def empty_features(columns: Columns, schema: PayloadSchema) -> list[str]:
    """Schema features read into ``columns`` without a single value."""
    present = present_features(columns)
    return [
        f.name
        for f in schema.features
        if _derived(f.name, columns.source) and not _derived(f.name, present)
    ]


def require_values(columns: Columns, schema: PayloadSchema) -> None:
    """``InvalidReleaseRequest`` naming the schema's features and what was read, when no
    feature has a value: nothing in the data matched the schema (wrong names, paths,
    format), or nothing parsed at all."""
    if present_features(columns):
        return
    q = columns.quality
    names = ", ".join(f.name for f in schema.features)
    read = [f"{q.records} records read", f"{q.unparsable} unparsable"]
    if q.bad_payload:
        read.append(f"{q.bad_payload} payloads that do not decode")
    rows = ", ".join(f"{n} {src}" for src, n in sorted(columns.rows.items())) or "0"
    read.append(f"rows parsed: {rows}")
    if q.missing_field:
        read.append(f"paths that matched nothing: {sum(q.missing_field.values())}")
    if q.type_mismatch:
        read.append(f"values of the wrong type: {sum(q.type_mismatch.values())}")
    raise InvalidReleaseRequest(
        "dataset_uri",
        f"reference data with a value for at least one payload schema feature ({names})",
        f"no value for any: {'; '.join(read)}",
    )


def fingerprint(profile: Profile) -> str:
    """Hash of what a summary depends on (features, bins, payload schema)."""
    body = profile.model_dump(mode="json", include={"payload", "features"})
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def quality_dict(q: Quality) -> dict[str, Any]:
    return {
        "records": q.records,
        "unparsable": q.unparsable,
        "bad_payload": q.bad_payload,
        "missing_columns": q.missing_columns,
        "extra_columns": q.extra_columns,
        "type_mismatch": dict(q.type_mismatch),
        "missing_field": dict(q.missing_field),
        "examples": list(q.examples),
    }


def load_profile(text: str | bytes) -> Profile:
    return Profile.model_validate_json(text)
