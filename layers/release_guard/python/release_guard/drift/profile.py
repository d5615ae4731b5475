"""Baseline profiles: what a drift check compares live traffic with.

A profile is built once from training data or a reference window and stored as one
small JSON file. Numeric features keep reference quantile bin edges (a 1 % grid plus
0.1 % tail bins, frozen at baseline time) and the reference counts in them, so every
later check bins live data the same way and never reloads the reference data.
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
from release_guard.policy import PayloadSchema, Strict

FORMAT: Literal["release-guard/profile@1"] = "release-guard/profile@1"
# Bin edges: the reference's 0.1 %, 1 %, 2 %, ..., 99 % and 99.9 % quantiles. The tail
# bins (below p0.1, above p99.9) make outlier bursts visible.
PROBS = np.concatenate(([0.001], np.arange(1, 100) / 100, [0.999]))
NAMED = {"p0.1": 0.001, "p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75}
NAMED |= {"p95": 0.95, "p99": 0.99, "p99.9": 0.999}
MAX_CATEGORIES = 100  # the rest of a long tail is one "other" count
EMBEDDING_SAMPLE = 256
HEAVY = 0.01  # a value holding this share of a numeric feature is a "top value"


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


class CategoricalProfile(Strict):
    kind: Literal["categorical"] = "categorical"
    source: Literal["input", "output"] = "input"
    count: int = Field(ge=0)
    missing: int = Field(ge=0)
    categories: dict[str, int] = Field(description=f"the {MAX_CATEGORIES} most frequent")
    other: int = Field(0, ge=0, description="values of every other category")


class EmbeddingProfile(Strict):
    kind: Literal["embedding"] = "embedding"
    source: Literal["input", "output"] = "input"
    count: int = Field(ge=0)
    missing: int = Field(ge=0)
    dim: int = Field(ge=0)
    sample: list[list[float]] = Field(description="a hash-chosen sample of vectors")


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


def categorical_profile(values: list[str | None], source: str) -> CategoricalProfile:
    counts: dict[str, int] = {}
    missing = 0
    for v in values:
        if v is None:
            missing += 1
        else:
            counts[v] = counts.get(v, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    return CategoricalProfile(
        source=source,
        count=len(values),
        missing=missing,
        categories=kept,
        other=sum(c for _, c in ranked[MAX_CATEGORIES:]),
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
    """Profile every feature of ``schema`` found in ``columns``; a feature with no data
    at all is an error, since a check could never compare it."""
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
