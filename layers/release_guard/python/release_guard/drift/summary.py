"""Mergeable summaries of live traffic, binned the way the baseline profile bins.

A drift check keeps one summary per capture hour. Summaries add: the summary of a
24-hour window is the sum of 24 hourly ones, so each run only reads what is new.
Every field is a count, a sum, a min/max, or a bottom-k sample, all of which merge
exactly (the top-value counts merge as a lower bound, which is all stuck-value
detection needs).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from release_guard.drift.columns import Columns, Quality
from release_guard.drift.profile import (
    CategoricalProfile,
    EmbeddingProfile,
    NumericProfile,
    Profile,
    quality_dict,
    sample_key,
    top_runs,
)

TOP_VALUES = 4  # most frequent exact values kept per numeric feature and summary
MAX_CATEGORIES = 1000  # distinct categories kept per summary; the rest count as other
OTHER = "\x00other"


@dataclass
class NumericSummary:
    counts: NDArray[np.int64]
    missing: int = 0
    n: int = 0
    total: float = 0.0
    sumsq: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    tops: Counter[float] = field(default_factory=Counter)

    def merge(self, o: NumericSummary) -> None:
        self.counts = self.counts + o.counts
        self.missing += o.missing
        self.n += o.n
        self.total += o.total
        self.sumsq += o.sumsq
        self.lo, self.hi = min(self.lo, o.lo), max(self.hi, o.hi)
        self.tops.update(o.tops)
        self.tops = Counter(dict(self.tops.most_common(TOP_VALUES)))


@dataclass
class CategoricalSummary:
    counts: Counter[str] = field(default_factory=Counter)
    missing: int = 0

    def merge(self, o: CategoricalSummary) -> None:
        self.counts.update(o.counts)
        self.missing += o.missing
        _cap(self.counts)


@dataclass
class EmbeddingSummary:
    sample: dict[int, list[float]] = field(default_factory=dict)  # sample_key -> vector
    n: int = 0
    missing: int = 0
    size: int = 256

    def merge(self, o: EmbeddingSummary) -> None:
        self.n += o.n
        self.missing += o.missing
        self.sample.update(o.sample)
        self.sample = dict(sorted(self.sample.items())[: self.size])


Feature = NumericSummary | CategoricalSummary | EmbeddingSummary


@dataclass
class Summary:
    profile_id: str
    rows: Counter[str] = field(default_factory=Counter)
    features: dict[str, Feature] = field(default_factory=dict)
    quality: Quality = field(default_factory=Quality)
    first: str | None = None  # earliest inferenceTime seen
    last: str | None = None

    def merge(self, o: Summary) -> None:
        if o.profile_id != self.profile_id:
            raise ValueError(f"summaries of profiles {self.profile_id} and {o.profile_id}")
        self.rows.update(o.rows)
        for name, f in o.features.items():
            mine = self.features.get(name)
            if mine is None:
                self.features[name] = _copy(f)
            else:
                mine.merge(f)  # type: ignore[arg-type]
        self.quality.merge(o.quality)
        self.first = min(filter(None, (self.first, o.first)), default=None)
        self.last = max(filter(None, (self.last, o.last)), default=None)

    def to_dict(self) -> dict[str, Any]:
        feats: dict[str, Any] = {}
        for name, f in self.features.items():
            if isinstance(f, NumericSummary):
                feats[name] = {
                    "kind": "numeric",
                    "counts": f.counts.tolist(),
                    "missing": f.missing,
                    "n": f.n,
                    "total": f.total,
                    "sumsq": f.sumsq,
                    "lo": f.lo if f.n else None,
                    "hi": f.hi if f.n else None,
                    "tops": [[v, c] for v, c in f.tops.items()],
                }
            elif isinstance(f, CategoricalSummary):
                feats[name] = {
                    "kind": "categorical",
                    "counts": dict(f.counts),
                    "missing": f.missing,
                }
            else:
                feats[name] = {
                    "kind": "embedding",
                    "n": f.n,
                    "missing": f.missing,
                    "size": f.size,
                    "sample": [[str(k), v] for k, v in f.sample.items()],
                }
        return {
            "profile_id": self.profile_id,
            "rows": dict(self.rows),
            "features": feats,
            "quality": quality_dict(self.quality),
            "first": self.first,
            "last": self.last,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Summary:
        feats: dict[str, Feature] = {}
        for name, f in d["features"].items():
            if f["kind"] == "numeric":
                feats[name] = NumericSummary(
                    counts=np.asarray(f["counts"], dtype=np.int64),
                    missing=f["missing"],
                    n=f["n"],
                    total=f["total"],
                    sumsq=f["sumsq"],
                    lo=math.inf if f["lo"] is None else f["lo"],
                    hi=-math.inf if f["hi"] is None else f["hi"],
                    tops=Counter({float(v): int(c) for v, c in f["tops"]}),
                )
            elif f["kind"] == "categorical":
                feats[name] = CategoricalSummary(Counter(f["counts"]), f["missing"])
            else:
                feats[name] = EmbeddingSummary(
                    sample={int(k): v for k, v in f["sample"]},
                    n=f["n"],
                    missing=f["missing"],
                    size=f["size"],
                )
        q = d.get("quality", {})
        quality = Quality(
            records=q.get("records", 0),
            unparsable=q.get("unparsable", 0),
            bad_payload=q.get("bad_payload", 0),
            missing_columns=q.get("missing_columns", 0),
            extra_columns=q.get("extra_columns", 0),
            type_mismatch=Counter(q.get("type_mismatch", {})),
            missing_field=Counter(q.get("missing_field", {})),
            examples=list(q.get("examples", [])),
        )
        return cls(
            profile_id=d["profile_id"],
            rows=Counter(d.get("rows", {})),
            features=feats,
            quality=quality,
            first=d.get("first"),
            last=d.get("last"),
        )


def _copy(f: Feature) -> Feature:
    if isinstance(f, NumericSummary):
        return NumericSummary(
            f.counts.copy(), f.missing, f.n, f.total, f.sumsq, f.lo, f.hi, Counter(f.tops)
        )
    if isinstance(f, CategoricalSummary):
        return CategoricalSummary(Counter(f.counts), f.missing)
    return EmbeddingSummary(dict(f.sample), f.n, f.missing, f.size)


def _cap(counts: Counter[str]) -> None:
    if len(counts) > MAX_CATEGORIES:
        keep = counts.most_common(MAX_CATEGORIES - 1)
        rest = sum(counts.values()) - sum(c for _, c in keep)
        counts.clear()
        counts.update(dict(keep))
        counts[OTHER] += rest


def summarise_numeric(values: NDArray[np.float64], p: NumericProfile) -> NumericSummary:
    """Bin one feature's values on the profile's frozen edges. One sort does it all:
    bin counts, min/max and the most frequent values come from the sorted array.

    The sum of squares is ``np.einsum``, not ``np.dot``: numpy's own loop, where a
    BLAS dot on a 200k vector hands off to OpenBLAS threads and, on a loaded 2-core
    machine, waits milliseconds for them (docs/performance.md)."""
    finite = np.isfinite(values)
    x = np.sort(values[finite]) if not finite.all() else np.sort(values)
    n = int(x.size)
    edges = np.asarray(p.edges)
    cum = np.searchsorted(x, edges, side="right")
    counts = np.diff(np.concatenate(([0], cum, [n]))).astype(np.int64)
    if n == 0:
        return NumericSummary(counts=counts, missing=int(values.size))
    return NumericSummary(
        counts=counts,
        missing=int(values.size - n),
        n=n,
        total=float(x.sum()),
        sumsq=float(np.einsum("i,i->", x, x)),
        lo=float(x[0]),
        hi=float(x[-1]),
        tops=Counter(dict(top_runs(x, TOP_VALUES))),
    )


def summarise_categorical(values: list[str | None]) -> CategoricalSummary:
    counts = Counter(values)
    missing = counts.pop(None, 0)
    out = CategoricalSummary(
        counts=Counter({str(k): v for k, v in counts.items()}), missing=missing
    )
    _cap(out.counts)
    return out


def summarise_embedding(
    vectors: NDArray[np.float32], ids: list[str], rows: int, size: int
) -> EmbeddingSummary:
    keyed = sorted((sample_key(i), j) for j, i in enumerate(ids))[:size]
    return EmbeddingSummary(
        sample={k: [round(float(v), 5) for v in vectors[j]] for k, j in keyed},
        n=len(ids),
        missing=max(0, rows - len(ids)),
        size=size,
    )


def summarise(
    columns: Columns,
    profile: Profile,
    first: str | None = None,
    last: str | None = None,
    embedding_sample: int = 256,
) -> Summary:
    """Summarise one batch of live features against ``profile``'s bins.

    Features the profile does not know are left out here; the report names them."""
    feats: dict[str, Feature] = {}
    for name, values in columns.numeric.items():
        p = profile.features.get(name)
        if isinstance(p, NumericProfile):
            feats[name] = summarise_numeric(values, p)
    for name, cats in columns.categorical.items():
        if isinstance(profile.features.get(name), CategoricalProfile):
            feats[name] = summarise_categorical(cats)
    for name, vecs in columns.embedding.items():
        if isinstance(profile.features.get(name), EmbeddingProfile):
            src = columns.source.get(name, "input")
            ids = columns.embedding_ids.get(name, [])
            rows = columns.rows.get(src, len(ids))
            feats[name] = summarise_embedding(vecs, ids, rows, embedding_sample)
    return Summary(
        profile_id=profile.profile_id,
        rows=Counter(columns.rows),
        features=feats,
        quality=columns.quality,
        first=first,
        last=last,
    )
