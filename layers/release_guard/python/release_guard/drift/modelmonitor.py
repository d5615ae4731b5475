"""SageMaker Model Monitor baselines <-> release-guard profiles.

Model Monitor's data-quality baseline job writes two files (the "Schema for Statistics"
and "Schema for Constraints" pages of the SageMaker developer guide):

* ``statistics.json``: ``{"version": 0.0, "dataset": {"item_count"}, "features": [...]}``.
  A numeric feature (``inferred_type`` ``Integral`` or ``Fractional``) has
  ``numerical_statistics``: ``common.num_present``/``num_missing``, ``mean``, ``sum``,
  ``std_dev``, ``min``, ``max`` and ``distribution.kll`` = ten equal-width ``buckets``
  (``lower_bound``, ``upper_bound``, ``count``) between min and max plus the KLL
  ``sketch`` (``parameters.c``, ``parameters.k``, ``data``). A ``String`` feature has
  ``string_statistics``: ``common``, ``distinct_count`` and
  ``distribution.categorical.buckets`` (``value``, ``count``).
* ``constraints.json``: per feature ``inferred_type``, ``completeness``,
  ``num_constraints.is_non_negative``, ``string_constraints.domains``; and a
  ``monitoring_config`` whose ``distribution_constraints`` hold the drift threshold.

The analyzer container is built on Deequ (awslabs/deequ), whose ``KLLSketch`` analyzer
defines these numbers: ``parameters`` are its shrinking factor ``c`` (default 0.64) and
sketch size ``k`` (default 2048); ``data[h]`` is the buffer of the compactor at height
``h``, and every item in it stands for ``2**h`` values (``QuantileNonSample.output``), so
the weights add up to the number of values; bucket ``i`` counts values in
``[lower, upper)`` (the last one ``[lower, upper]``), ``lower = min + (max - min) * i / 10``;
``std_dev`` is Deequ's ``StandardDeviation``, the population standard deviation.

Import reads a profile from those numbers; export writes them from a profile. Neither
direction is exact in general; every approximation is stated where it is made and in
docs/drift-model-monitor.md.

Import reads data-quality baselines only. Model Monitor's model-quality baseline job
also writes a ``statistics.json`` and a ``constraints.json``, of another shape:
``{"version", "dataset": {"item_count", "evaluation_time"}, "regression_metrics" |
"binary_classification_metrics" | "multiclass_classification_metrics": {metric:
{"value", "standard_deviation"}}}`` and ``{"version", "regression_constraints" | ...:
{metric: {"threshold", "comparison_operator"}}}`` (the "Model quality metrics" page).
Those hold no feature distributions; they are refused by name.

Whatever a file holds, import raises ``ValueError`` and nothing else, naming the file
and the JSON path: wrong types, non-finite numbers, integers too large for a float,
counts beyond 2^53, nesting too deep for the JSON parser (``load_json``). Nothing in
here recurses on the input, and every item is read once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from release_guard.drift.profile import (
    ATOM,
    MAX_CATEGORIES,
    NAMED,
    PROBS,
    CategoricalProfile,
    NumericProfile,
    Profile,
    fingerprint,
    split_atoms,
    value_bins,
)
from release_guard.policy import PayloadSchema

KLL_C = 0.64  # Deequ KLLSketch.DEFAULT_SHRINKING_FACTOR
KLL_K = 2048  # Deequ KLLSketch.DEFAULT_SKETCH_SIZE
BUCKETS = 10  # "By default, the distribution is materialized in 10 buckets"
DATATYPE_CHECK_THRESHOLD = 0.1  # the documented defaults
DOMAIN_CONTENT_THRESHOLD = 0.1
MAX_COUNT = 2**53  # counts above this are not exact as floats, nor any real row count
MAX_LEVELS = 64  # KLL compactor heights: 2**64 values is beyond any dataset
MODEL_QUALITY = ("regression", "binary_classification", "multiclass_classification")
Source = Literal["input", "output"]


# -- reading JSON with paths ------------------------------------------------------------


def load_json(blob: bytes, file: str) -> Any:
    """A Model Monitor file's JSON; ``ValueError`` naming ``file`` when it is not UTF-8
    JSON or nests deeper than the parser allows (``RecursionError`` inside ``json``)."""
    try:
        return json.loads(blob.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{file}: not UTF-8 text ({err})") from None
    except RecursionError:
        raise ValueError(f"{file}: JSON nested too deeply to read") from None
    except ValueError as err:  # JSONDecodeError, and integers of over 4300 digits
        raise ValueError(f"{file}: not JSON ({err})") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Reader:
    """Type checks that name the file and JSON path of what is wrong."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, path: str, problem: str) -> ValueError:
        return ValueError(f"{self.file} {path}: {problem}" if path else f"{self.file}: {problem}")

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {_kind(value)}")
        return value

    def arr(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(path, f"expected a list, got {_kind(value)}")
        return value

    def num(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(path, f"expected a number, got {_kind(value)}")
        try:
            x = float(value)
        except OverflowError:  # an integer beyond the float range
            raise self.error(path, "expected a finite number, got an integer too large") from None
        if not math.isfinite(x):
            raise self.error(path, f"expected a finite number, got {x}")
        return x

    def opt_num(self, parent: dict[str, Any], key: str, path: str) -> float | None:
        value = parent.get(key)
        return None if value is None else self.num(value, f"{path}.{key}")

    def count(self, value: Any, path: str) -> float:
        """A count: Model Monitor may write it as ``12`` or ``12.0``."""
        x = self.num(value, path)
        if x < 0:
            raise self.error(path, f"expected a non-negative count, got {x:g}")
        if x > MAX_COUNT:
            raise self.error(path, f"expected a count of at most 2^53, got {x:g}")
        return x

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(path, f"expected a non-empty string, got {_kind(value)}")
        return value

    def opt_text(self, value: Any, path: str) -> str | None:
        if value is not None and not isinstance(value, str):
            raise self.error(path, f"expected a string, got {_kind(value)}")
        return value

    def finite(self, values: Sequence[float] | NDArray[np.float64], path: str) -> None:
        """Numbers computed from the file (bins, scaled spreads) overflow when the file's
        numbers sit near the float limit."""
        if not np.all(np.isfinite(values)):
            raise self.error(path, "numbers too large to bin (near the float limit)")


# -- distribution models ------------------------------------------------------------------


class _Model(Protocol):
    """A reference distribution as a cumulative count function.

    ``at_most(x)`` estimates the values <= x, ``below(x)`` the values < x, ``quantile(p)``
    the p-quantile, ``top()`` the most frequent value (None if unknown) and its count.
    """

    total: float

    def at_most(self, x: float) -> float: ...

    def below(self, x: float) -> float: ...

    def quantile(self, p: float) -> float: ...

    def top(self) -> tuple[float | None, float]: ...


class _Weighted:
    """Weighted items, as a KLL sketch holds them: exact steps, inverted-CDF quantiles."""

    def __init__(self, items: NDArray[np.float64], weights: NDArray[np.float64]) -> None:
        order = np.argsort(items, kind="stable")
        self.items = items[order]
        self.cum = np.cumsum(weights[order])
        self.total = float(self.cum[-1]) if self.cum.size else 0.0

    def at_most(self, x: float) -> float:
        i = int(np.searchsorted(self.items, x, side="right"))
        return float(self.cum[i - 1]) if i else 0.0

    def below(self, x: float) -> float:
        i = int(np.searchsorted(self.items, x, side="left"))
        return float(self.cum[i - 1]) if i else 0.0

    def top(self) -> tuple[float | None, float]:
        """The item value with the most weight: the sketch's most frequent value."""
        values, first = np.unique(self.items, return_index=True)
        last = np.concatenate((first[1:], [self.items.size])) - 1
        weight = self.cum[last] - np.concatenate(([0.0], self.cum[last][:-1]))
        j = int(np.argmax(weight))
        return float(values[j]), float(weight[j])

    def quantile(self, p: float) -> float:
        # the smallest item whose cumulative weight reaches p * total: numpy's
        # "inverted_cdf", which is how profile.numeric_profile picks its edges
        i = int(np.searchsorted(self.cum, p * self.total, side="left"))
        return float(self.items[min(i, self.items.size - 1)])


class _Linear:
    """A continuous CDF, linear between knots (x ascending, counts non-decreasing).

    A repeated x is a jump (a point mass): ``at_most`` takes the last count there,
    ``below`` the first.
    """

    def __init__(self, xs: Sequence[float], cum: Sequence[float]) -> None:
        self.xs = np.asarray(xs, dtype=float)
        self.cum = np.asarray(cum, dtype=float)
        self.total = float(self.cum[-1])

    def _eval(self, x: float, side: Literal["left", "right"]) -> float:
        i = int(np.searchsorted(self.xs, x, side=side))
        if i == 0:
            return 0.0
        if i == self.xs.size:
            return self.total
        x0, x1, c0, c1 = self.xs[i - 1], self.xs[i], self.cum[i - 1], self.cum[i]
        return float(c0 + (c1 - c0) * (x - x0) / (x1 - x0)) if x1 > x0 else float(c1)

    def at_most(self, x: float) -> float:
        return self._eval(x, "right")

    def below(self, x: float) -> float:
        return self._eval(x, "left")

    def top(self) -> tuple[float | None, float]:
        """The heaviest segment's count (no single value can have more) and its value
        when the segment is one point wide."""
        mass = np.diff(self.cum)
        j = int(np.argmax(mass))
        one = self.xs[j] == self.xs[j + 1]
        return (float(self.xs[j]) if one else None), float(mass[j])

    def quantile(self, p: float) -> float:
        t = p * self.total
        j = int(np.searchsorted(self.cum, t, side="left"))
        if j == 0:
            return float(self.xs[0])
        if j >= self.xs.size:
            return float(self.xs[-1])
        x0, x1, c0, c1 = self.xs[j - 1], self.xs[j], self.cum[j - 1], self.cum[j]
        return float(x0 + (x1 - x0) * (t - c0) / (c1 - c0))


class _Integers:
    """Integer values: each segment's count spread evenly over the integers in [a, b]."""

    def __init__(self, a: Sequence[int], b: Sequence[int], counts: Sequence[float]) -> None:
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=float)
        self.cum = np.cumsum(self.counts)
        self.total = float(self.cum[-1]) if self.cum.size else 0.0

    def _upto(self, k: float) -> float:  # values <= the integer k
        j = int(np.searchsorted(self.b, k, side="left"))  # first segment ending at or after k
        before = float(self.cum[j - 1]) if j else 0.0
        if j == self.b.size or k < self.a[j]:
            return before
        width = int(self.b[j] - self.a[j] + 1)
        return before + float(self.counts[j]) * (k - int(self.a[j]) + 1) / width

    def at_most(self, x: float) -> float:
        return self._upto(math.floor(x))

    def below(self, x: float) -> float:
        return self._upto(math.ceil(x) - 1)

    def top(self) -> tuple[float | None, float]:
        """The heaviest segment's count (no single value can have more) and its value
        when the segment holds one integer."""
        j = int(np.argmax(self.counts))
        one = self.a[j] == self.b[j]
        return (float(self.a[j]) if one else None), float(self.counts[j])

    def quantile(self, p: float) -> float:
        t = p * self.total
        j = min(int(np.searchsorted(self.cum, t, side="left")), self.b.size - 1)
        before = float(self.cum[j - 1]) if j else 0.0
        width = int(self.b[j] - self.a[j] + 1)
        share = (t - before) / float(self.counts[j]) if self.counts[j] > 0 else 1.0
        k = int(self.a[j]) - 1 + math.ceil(share * width - 1e-9)
        return float(min(max(k, int(self.a[j])), int(self.b[j])))


def _integral(*values: float | None) -> bool:
    return all(v is None or float(v).is_integer() for v in values)


def profile_model(p: NumericProfile) -> _Model | None:
    """The reference CDF a numeric profile implies, between its quantile edges.

    The counts at every edge are exact (``counts`` are the values in
    ``(e[i-1], e[i]]``); between edges it is an assumption: linear for fractional
    features, and for integral ones (every edge, min and max an integer) an even share
    for each integer in the bin. The lowest bin runs from ``min`` (a point mass there when
    ``min`` is the first edge), the highest to ``max``. Bins ``split_atoms`` made (a point
    mass's own bin) are merged back first: every edge is then a reference value.
    """
    edges, counts = value_bins(p.edges, p.counts)
    n = sum(counts)
    if n == 0:
        return None
    lo = p.min if p.min is not None else edges[0] if edges else None
    hi = p.max if p.max is not None else edges[-1] if edges else None
    if lo is None or hi is None:
        return None
    if edges:
        lo, hi = min(lo, edges[0]), max(hi, edges[-1])
    cum = np.cumsum(counts)
    if _integral(lo, hi, *edges):
        starts = [int(lo), *(int(e) + 1 for e in edges)]
        ends = [*(int(e) for e in edges), int(hi)]
        starts = [min(s, e) for s, e in zip(starts, ends, strict=True)]
        return _Integers(starts, ends, [float(c) for c in counts])
    xs, ys = [lo], [0.0]
    for e, c in zip(edges, cum[:-1], strict=True):
        xs.append(e)
        ys.append(float(c))
    xs.append(hi)
    ys.append(float(n))
    return _Linear(xs, ys)


def _round_to_total(values: Sequence[float], total: int) -> list[int]:
    """Non-negative integers proportional to ``values`` that add up to ``total``
    (largest remainders get the leftover units)."""
    v = np.clip(np.asarray(values, dtype=float), 0.0, None)
    s = float(v.sum())
    if total <= 0 or s <= 0:
        return [0] * len(v) if total <= 0 else [total] + [0] * (len(v) - 1)
    scaled = v * (total / s)
    base = np.floor(scaled).astype(np.int64)
    short = int(total - base.sum())
    if short > 0:
        order = np.argsort(-(scaled - base), kind="stable")[:short]
        base[order] += 1
    return [int(x) for x in base]


# -- export -----------------------------------------------------------------------------


def kll_buckets(model: _Model, lo: float, hi: float, n: int) -> list[dict[str, float]]:
    """Model Monitor's ten equal-width buckets between min and max (as Deequ computes
    them), with counts estimated from the profile's CDF (``profile_model``): off by at
    most the share of the two bins a bucket's bounds cut, exact for integer features
    whose bins each hold one value."""
    bounds = [lo + (hi - lo) * i / BUCKETS for i in range(BUCKETS + 1)]
    below = [model.below(b) for b in bounds[:-1]] + [model.total]
    raw = [below[i + 1] - below[i] for i in range(BUCKETS)]
    counts = _round_to_total(raw, n)
    return [
        {"lower_bound": bounds[i], "upper_bound": bounds[i + 1], "count": counts[i]}
        for i in range(BUCKETS)
    ]


def kll_sketch(p: NumericProfile) -> dict[str, Any]:
    """Our bins as KLL compactor buffers: exact at every edge, not a sampled sketch.

    KLL's ``data[h]`` items weigh ``2**h``. Each bin's count is written in binary: the
    bin's upper edge (``max`` for the top bin) goes into level ``h`` for every set bit
    ``h`` of the count. A reader then finds exactly ``sum(counts[:i + 1])`` values <= edge
    ``i`` and the right total, so the quantiles at our grid come back exactly; inside a
    bin all its values sit at the bin's upper edge, so a CDF read between two edges is
    low by at most that bin's share (about 1 %, 0.1 % in the tail bins). Putting the
    edges alone in level 0 would give every edge the weight 1: wrong counts, and wrong
    quantiles wherever bins differ in mass (tail bins, collapsed edges of discrete data).
    A bin of count c adds at most log2(c) + 1 items.
    """
    reps = [*p.edges, p.max if p.max is not None else p.edges[-1]]
    levels: list[list[float]] = []
    for rep, c in zip(reps, p.counts, strict=True):
        h = 0
        while c:
            if c & 1:
                while len(levels) <= h:
                    levels.append([])
                levels[h].append(float(rep))
            c >>= 1
            h += 1
    return {"parameters": {"c": KLL_C, "k": KLL_K}, "data": levels}


def _integral_profile(p: NumericProfile) -> bool:
    """Every value edge, min and max an integer (``split_atoms``' edges are not values)."""
    return p.count > p.missing and _integral(p.min, p.max, *value_bins(p.edges, p.counts)[0])


def _numeric_stats(name: str, p: NumericProfile) -> dict[str, Any]:
    present = p.count - p.missing
    integral = _integral_profile(p)
    stats: dict[str, Any] = {"common": {"num_present": present, "num_missing": p.missing}}
    model = profile_model(p)
    if present > 0 and model is not None:
        edges = value_bins(p.edges, p.counts)[0]
        lo = p.min if p.min is not None else edges[0]
        hi = p.max if p.max is not None else edges[-1]
        if p.mean is not None:
            stats["mean"] = p.mean
            stats["sum"] = p.mean * present
        if p.std is not None:
            stats["std_dev"] = p.std * math.sqrt((present - 1) / present)  # population
        stats["min"] = lo
        stats["max"] = hi
        stats["distribution"] = {
            "kll": {"buckets": kll_buckets(model, lo, hi, present), "sketch": kll_sketch(p)}
        }
    return {
        "name": name,
        "inferred_type": "Integral" if integral else "Fractional",
        "numerical_statistics": stats,
    }


def _string_stats(name: str, p: CategoricalProfile) -> dict[str, Any]:
    present = p.count - p.missing
    buckets = [{"value": v, "count": c} for v, c in p.categories.items()]
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": present, "num_missing": p.missing},
            # a lower bound when the long tail was folded into "other"
            "distinct_count": float(len(p.categories) + (1 if p.other else 0)),
            "distribution": {"categorical": {"buckets": buckets}},
        },
    }


def to_statistics(profile: Profile) -> dict[str, Any]:
    """``statistics.json`` for a profile.

    Numeric features: ``Integral`` if every edge, min and max is an integer, else
    ``Fractional``; mean, sum (mean x present), population ``std_dev`` (our ``std`` is
    the sample one: x sqrt((n - 1) / n)), min, max; ``kll.buckets`` estimated by
    ``kll_buckets`` and ``kll.sketch`` built by ``kll_sketch`` (both approximations, see
    there). Categorical features: ``String`` with our (top 100) categories as buckets;
    the values folded into ``other`` have no bucket and ``distinct_count`` is then a lower
    bound. Embedding features are left out (Model Monitor has no vector statistics);
    ``export_notes`` lists everything that does not carry over.
    """
    features: list[dict[str, Any]] = []
    for name, f in profile.features.items():
        if isinstance(f, NumericProfile):
            features.append(_numeric_stats(name, f))
        elif isinstance(f, CategoricalProfile):
            features.append(_string_stats(name, f))
    counts = [f.count for f in profile.features.values()]
    items = max(profile.rows.values(), default=max(counts, default=0))
    return {"version": 0.0, "dataset": {"item_count": items}, "features": features}


def to_constraints(profile: Profile, comparison_threshold: float = 0.1) -> dict[str, Any]:
    """``constraints.json`` for a profile.

    ``completeness`` = 1 - missing / count; numeric: ``is_non_negative`` = min >= 0;
    categorical: ``domains`` = our categories, only when none were folded into
    ``other`` (a partial domain would flag every value of the tail as unknown).
    ``comparison_threshold`` bounds Model Monitor's distance between baseline and current
    CDFs (Deequ: L-infinity, the Kolmogorov-Smirnov statistic); ``Robust`` is Deequ's
    ``linf_robust``, that distance minus 1.8 * sqrt((n + m) / (n * m)), so small batches
    alone do not raise violations.
    """
    if not 0 < comparison_threshold <= 1:
        raise ValueError(f"comparison_threshold must be in (0, 1], got {comparison_threshold}")
    features: list[dict[str, Any]] = []
    for name, f in profile.features.items():
        if not isinstance(f, NumericProfile | CategoricalProfile):
            continue
        completeness = 1.0 - f.missing / f.count if f.count else 0.0
        if isinstance(f, NumericProfile):
            item: dict[str, Any] = {
                "name": name,
                "inferred_type": "Integral" if _integral_profile(f) else "Fractional",
                "completeness": completeness,
            }
            if f.min is not None:
                item["num_constraints"] = {"is_non_negative": f.min >= 0}
            features.append(item)
        else:
            item = {"name": name, "inferred_type": "String", "completeness": completeness}
            if not f.other:
                item["string_constraints"] = {"domains": sorted(f.categories)}
            features.append(item)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": DATATYPE_CHECK_THRESHOLD,
            "domain_content_threshold": DOMAIN_CONTENT_THRESHOLD,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": comparison_threshold,
                "comparison_method": "Robust",
            },
        },
    }


def export_notes(profile: Profile) -> list[str]:
    """What an export leaves out or approximates, feature by feature."""
    notes: list[str] = []
    for name, f in profile.features.items():
        if isinstance(f, NumericProfile):
            if f.count > f.missing:
                notes.append(
                    f"{name}: KLL sketch written from our {len(f.edges) + 1} bins "
                    "(exact at the bin edges, each bin's values at its upper edge); "
                    "buckets estimated"
                )
        elif isinstance(f, CategoricalProfile):
            if f.other:
                notes.append(
                    f"{name}: {f.other} values outside the top {MAX_CATEGORIES} categories "
                    "have no bucket; distinct_count is a lower bound; no domains constraint"
                )
        else:
            notes.append(f"{name}: embedding feature not exported (no Model Monitor equivalent)")
    return notes


# -- import -----------------------------------------------------------------------------


def _sketch_model(r: _Reader, sketch: Any, path: str) -> _Weighted | None:
    sketch = r.obj(sketch, path)
    if sketch.get("data") is None:
        return None
    data = r.arr(sketch["data"], f"{path}.data")
    if len(data) > MAX_LEVELS:
        raise r.error(f"{path}.data", f"expected at most {MAX_LEVELS} levels, got {len(data)}")
    items: list[float] = []
    weights: list[float] = []
    for h, level in enumerate(data):
        for i, x in enumerate(r.arr(level, f"{path}.data[{h}]")):
            items.append(r.num(x, f"{path}.data[{h}][{i}]"))
            weights.append(float(2**h))
    if not items:
        return None
    return _Weighted(np.asarray(items), np.asarray(weights))


def _bucket_model(
    r: _Reader, buckets: Any, path: str, integral: bool, notes: list[str], name: str
) -> _Model | None:
    rows = r.arr(buckets, path)
    lows: list[float] = []
    highs: list[float] = []
    counts: list[float] = []
    for i, b in enumerate(rows):
        b = r.obj(b, f"{path}[{i}]")
        lows.append(r.num(b.get("lower_bound"), f"{path}[{i}].lower_bound"))
        highs.append(r.num(b.get("upper_bound"), f"{path}[{i}].upper_bound"))
        counts.append(r.count(b.get("count"), f"{path}[{i}].count"))
        if highs[-1] < lows[-1] or (i and lows[-1] < highs[-2] - 1e-9 * abs(highs[-2])):
            raise r.error(f"{path}[{i}]", "buckets must be ascending and not overlap")
    if not rows or sum(counts) <= 0:
        return None
    if integral and max(abs(lows[0]), abs(highs[-1])) > MAX_COUNT:
        notes.append(f"{name}: Integral buckets beyond 2^53; read as continuous")
        integral = False
    if integral:
        # Deequ's buckets are [lower, upper), the last [lower, upper]
        a = [math.ceil(lo) for lo in lows]
        b_ = [math.ceil(hi) - 1 for hi in highs[:-1]] + [math.floor(highs[-1])]
        if all(c == 0 or s <= e for s, e, c in zip(a, b_, counts, strict=True)):
            keep = [i for i, c in enumerate(counts) if c > 0]
            return _Integers([a[i] for i in keep], [b_[i] for i in keep], [counts[i] for i in keep])
        notes.append(f"{name}: Integral buckets without integers in them; read as continuous")
    xs, ys, run = [lows[0]], [0.0], 0.0
    for hi, c in zip(highs, counts, strict=True):
        run += c
        xs.append(hi)
        ys.append(run)
    return _Linear(xs, ys)


def _atoms(model: _Model, values: NDArray[np.float64], lo: float) -> list[float]:
    """The edges that get a bin of their own, by ``numeric_profile``'s rule: a value with at
    least ``ATOM`` of the values (as many as ``top_runs`` requires), and the minimum when it
    is the first edge. The mass at a value is what the distribution holds exactly there."""
    need = max(2, int(model.total * ATOM))
    atoms = [float(v) for v in values if model.at_most(v) - model.below(v) >= need]
    if values.size and values[0] == lo and model.at_most(values[0]) > 0:
        atoms.append(float(values[0]))
    return atoms


def _import_numeric(
    r: _Reader, f: dict[str, Any], path: str, name: str, source: Source, notes: list[str]
) -> NumericProfile | None:
    p = f"{path}.numerical_statistics"
    ns = r.obj(f["numerical_statistics"], p)
    common = r.obj(ns.get("common"), f"{p}.common")
    present_f = r.count(common.get("num_present"), f"{p}.common.num_present")
    missing = round(r.count(common.get("num_missing", 0), f"{p}.common.num_missing"))
    present = round(present_f)
    if present == 0:
        return NumericProfile(
            source=source,
            count=missing,
            missing=missing,
            edges=[],
            counts=[0],
        )
    lo = r.num(ns.get("min"), f"{p}.min")
    hi = r.num(ns.get("max"), f"{p}.max")
    if hi < lo:
        raise r.error(f"{p}.max", f"max {hi} is below min {lo}")
    mean = r.opt_num(ns, "mean", p)
    std_dev = r.opt_num(ns, "std_dev", p)
    if std_dev is not None and std_dev < 0:
        raise r.error(f"{p}.std_dev", f"expected a non-negative number, got {std_dev}")
    integral = f.get("inferred_type") == "Integral"
    dist = ns.get("distribution")
    kll = r.obj(dist, f"{p}.distribution").get("kll") if dist is not None else None
    if kll is None:
        notes.append(f"{name}: no numerical_statistics.distribution.kll; skipped")
        return None
    kp = f"{p}.distribution.kll"
    kll = r.obj(kll, kp)
    model: _Model | None = None
    if kll.get("sketch") is not None:
        model = _sketch_model(r, kll["sketch"], f"{kp}.sketch")
    if model is None:
        if kll.get("buckets") is None:
            notes.append(f"{name}: kll has neither sketch data nor buckets; skipped")
            return None
        model = _bucket_model(r, kll["buckets"], f"{kp}.buckets", integral, notes, name)
        if model is None:
            notes.append(f"{name}: kll buckets are empty; skipped")
            return None
        notes.append(f"{name}: no KLL sketch data; bins interpolated from the 10 buckets")
    if abs(model.total - present) > 0.01 * present:
        notes.append(
            f"{name}: the distribution holds {model.total:g} values, num_present is "
            f"{present}; counts scaled to num_present"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # checked by r.finite below
        values = np.unique([model.quantile(float(q)) for q in PROBS])
        r.finite(values, kp)
        lo, hi = min(lo, float(values[0])), max(hi, float(values[-1]))
        edges = [float(e) for e in split_atoms(values, _atoms(model, values, lo))]
        at = [model.at_most(e) for e in edges]
        raw = np.diff(np.concatenate(([0.0], at, [model.total])))
        r.finite(raw, kp)
    counts = _round_to_total(raw.tolist(), present)
    top_value, top_weight = model.top()
    std = None  # our std is the sample one; Deequ's std_dev the population one
    if std_dev is not None:
        std = std_dev * math.sqrt(present / (present - 1)) if present > 1 else 0.0
        r.finite([std], f"{p}.std_dev")
    return NumericProfile(
        source=source,
        count=present + missing,
        missing=missing,
        edges=edges,
        counts=counts,
        mean=mean,
        std=std,
        min=lo,
        max=hi,
        quantiles={k: model.quantile(q) for k, q in NAMED.items()},
        top_value=top_value,
        top_share=min(1.0, top_weight / model.total),
    )


def _import_string(
    r: _Reader, f: dict[str, Any], path: str, name: str, source: Source, notes: list[str]
) -> CategoricalProfile:
    p = f"{path}.string_statistics"
    ss = r.obj(f["string_statistics"], p)
    common = r.obj(ss.get("common"), f"{p}.common")
    present = round(r.count(common.get("num_present"), f"{p}.common.num_present"))
    missing = round(r.count(common.get("num_missing", 0), f"{p}.common.num_missing"))
    counts: dict[str, int] = {}
    dist = ss.get("distribution")
    cat = r.obj(dist, f"{p}.distribution").get("categorical") if dist is not None else None
    if cat is not None:
        bp = f"{p}.distribution.categorical.buckets"
        for i, b in enumerate(
            r.arr(r.obj(cat, f"{p}.distribution.categorical").get("buckets"), bp)
        ):
            b = r.obj(b, f"{bp}[{i}]")
            value = b.get("value")
            if value is None or isinstance(value, dict | list):
                raise r.error(f"{bp}[{i}].value", f"expected a string, got {_kind(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise r.error(f"{bp}[{i}].value", f"expected a string, got {value}")
            if isinstance(value, int) and not isinstance(value, bool):
                r.num(value, f"{bp}[{i}].value")  # a category, but within the float range
            c = round(r.count(b.get("count"), f"{bp}[{i}].count"))
            counts[str(value)] = counts.get(str(value), 0) + c
    elif present:
        notes.append(f"{name}: no categorical buckets; all {present} values counted as other")
    total = sum(counts.values())
    if total > present:
        notes.append(f"{name}: buckets hold {total} values, num_present is {present}; kept")
        present = total
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    if len(ranked) > MAX_CATEGORIES:
        notes.append(f"{name}: {len(ranked)} categories; the top {MAX_CATEGORIES} kept")
    return CategoricalProfile(
        source=source,
        count=present + missing,
        missing=missing,
        categories=kept,
        other=present - sum(kept.values()),
    )


def _brief(value: Any) -> str:
    """A value of the file in a message: a scalar as it is (briefly), a container by its
    kind (never its repr, which recurses and may be huge)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return "a large integer"
    if value is None or isinstance(value, bool | int | float | str):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return _kind(value)


def _model_quality(r: _Reader, doc: dict[str, Any], suffix: str) -> None:
    """Refuse Model Monitor's model-quality files (``*_metrics`` statistics,
    ``*_constraints`` constraints): they hold no feature distributions to import."""
    for problem in MODEL_QUALITY:
        key = f"{problem}_{suffix}"
        if key in doc:
            metrics = doc[key]
            names = ", ".join(sorted(metrics)[:6]) if isinstance(metrics, dict) else ""
            raise r.error(
                "",
                f"this is a model-quality {r.file} ({key}{': ' + names if names else ''}), "
                "written by Model Monitor's model-quality baseline job: model metrics, no "
                "feature distributions. baseline import reads a data-quality baseline: its "
                'statistics.json (a "features" list with numerical_statistics or '
                "string_statistics) and, optionally, its constraints.json",
            )


def _constraint_notes(constraints: Any, stats_types: dict[str, str], names: set[str]) -> list[str]:
    r = _Reader("constraints.json")
    doc = r.obj(constraints, "")
    _model_quality(r, doc, "constraints")
    notes: list[str] = []
    for i, f in enumerate(r.arr(doc.get("features", []), "features")):
        f = r.obj(f, f"features[{i}]")
        name = r.text(f.get("name"), f"features[{i}].name")
        if "completeness" in f:
            c = r.num(f["completeness"], f"features[{i}].completeness")
            if not 0 <= c <= 1:
                raise r.error(f"features[{i}].completeness", f"expected 0..1, got {c}")
        if name not in names:
            continue
        kind = r.opt_text(f.get("inferred_type"), f"features[{i}].inferred_type")
        if kind is not None and name in stats_types and kind != stats_types[name]:
            notes.append(
                f"{name}: constraints say {kind}, statistics say {stats_types[name]}; "
                "statistics used"
            )
        overrides = f.get("monitoring_config_overrides") or f.get("monitoringConfigOverrides")
        if isinstance(overrides, dict) and overrides:
            shown = ", ".join(f"{k!r}: {_brief(v)}" for k, v in list(overrides.items())[:10])
            notes.append(f"{name}: per-feature monitoring overrides {{{shown}}} not carried over")
    config = doc.get("monitoring_config")
    if config is not None:
        dc = r.obj(config, "monitoring_config").get("distribution_constraints")
        if dc is not None:
            dc = r.obj(dc, "monitoring_config.distribution_constraints")
            dp = "monitoring_config.distribution_constraints"
            threshold = dc.get("comparison_threshold")
            method = r.opt_text(
                dc.get("comparison_method", dc.get("comparion_method")), f"{dp}.comparison_method"
            )
            if threshold is not None:
                limit = r.num(threshold, f"{dp}.comparison_threshold")
                notes.append(
                    f"Model Monitor drift threshold {limit:g} ({method or 'default method'}, "
                    "L-infinity distance of CDFs) is not part of a profile; set drift "
                    "thresholds in the release policy"
                )
    return notes


def from_statistics(
    stats: Any,
    constraints: Any | None,
    schema: PayloadSchema,
    created: datetime,
    *,
    dataset: str | None = None,
    model_package_arn: str | None = None,
    rename: Mapping[str, str] | None = None,
) -> tuple[Profile, list[str]]:
    """A profile from Model Monitor's ``statistics.json`` (and ``constraints.json``).

    Numeric features: bin edges are the weighted quantiles at our ``PROBS`` grid of the
    KLL sketch items (level ``h`` weighs ``2**h``; inverted-CDF, as ``build_profile``
    uses), or, without sketch data, of the ten buckets with values spread evenly inside
    each bucket (over the integers in it for ``Integral`` features). Bin counts are the
    sketch (or bucket) weight in each bin, scaled to ``num_present``. Mean, min, max come
    from the statistics, ``std`` from ``std_dev`` (population) x sqrt(n / (n - 1));
    named quantiles from the same weighted items. ``top_value``/``top_share``: from the
    sketch, the item value with the most weight (its estimate of the most frequent
    value); from buckets, the largest bucket's share, which no single value can exceed
    (``decide`` reads ``top_share`` so), with its value only when the bucket holds a
    single value. String features become
    categorical profiles from their buckets (top 100 kept, the rest ``other``).

    Schema features missing from the statistics, statistics features missing from the
    schema, kind mismatches and anything else not carried over are returned as notes.
    ``rename`` maps Model Monitor feature names to schema names. Malformed input raises
    ``ValueError`` naming the file and JSON path.
    """
    r = _Reader("statistics.json")
    doc = r.obj(stats, "")
    _model_quality(r, doc, "metrics")
    if "monitoring_config" in doc:  # only constraints.json has it
        raise r.error(
            "", "this is a constraints.json (it has monitoring_config); pass it as constraints"
        )
    notes: list[str] = []
    version = doc.get("version")
    if not (isinstance(version, int | float) and version == 0) and version is not None:
        notes.append(f"statistics.json version {_brief(version)}; read as version 0")
    rename = dict(rename or {})
    specs = {f.name: f for f in schema.features}
    features: dict[str, Any] = {}
    seen: dict[str, int] = {}
    stats_types: dict[str, str] = {}
    for i, f in enumerate(r.arr(doc.get("features"), "features")):
        path = f"features[{i}]"
        f = r.obj(f, path)
        raw_name = r.text(f.get("name"), f"{path}.name")
        if raw_name in seen:
            raise r.error(f"{path}.name", f"{raw_name!r} repeats features[{seen[raw_name]}]")
        seen[raw_name] = i
        name = rename.get(raw_name, raw_name)
        kind = f.get("inferred_type")
        if kind is not None and not isinstance(kind, str):
            raise r.error(f"{path}.inferred_type", f"expected a string, got {_kind(kind)}")
        stats_types[name] = kind or ""
        spec = specs.get(name)
        if spec is None:
            notes.append(f"{raw_name}: not in the payload schema; skipped")
            continue
        has_num = f.get("numerical_statistics") is not None
        has_str = f.get("string_statistics") is not None
        prof: NumericProfile | CategoricalProfile | None
        if spec.kind == "numeric" and has_num:
            prof = _import_numeric(r, f, path, name, spec.source, notes)
        elif spec.kind == "categorical" and has_str:
            prof = _import_string(r, f, path, name, spec.source, notes)
        elif spec.kind in ("numeric", "categorical") and (has_num or has_str):
            got = "numerical" if has_num else "string"
            notes.append(
                f"{name}: the schema says {spec.kind}, Model Monitor has {got} "
                f"statistics ({kind}); skipped"
            )
            continue
        elif spec.kind in ("text", "embedding"):
            notes.append(f"{name}: {spec.kind} features have no Model Monitor statistics; skipped")
            continue
        else:
            notes.append(f"{name}: no numerical or string statistics ({kind}); skipped")
            continue
        if prof is not None:
            features[name] = prof
    for spec in schema.features:
        if spec.name not in features and spec.name not in stats_types:
            notes.append(f"{spec.name}: in the payload schema, not in statistics.json")
    if constraints is not None:
        notes += _constraint_notes(constraints, stats_types, set(features))
    if not any(f.count > f.missing for f in features.values()):
        # A profile without one value to compare: every check would find nothing.
        names = ", ".join(f.name for f in schema.features)
        said = [n for n in notes if not n.startswith("Model Monitor drift")]
        why = "; ".join(said[:4]) + (f"; and {len(said) - 4} more" if len(said) > 4 else "")
        raise r.error(
            "", f"no values for any payload schema feature ({names}){': ' + why if why else ''}"
        )
    dataset_doc = doc.get("dataset")
    item_count = r.obj(dataset_doc, "dataset").get("item_count") if dataset_doc else None
    if item_count is not None:
        items = round(r.count(item_count, "dataset.item_count"))
    else:
        items = max((p.count for p in features.values()), default=0)
    rows = {src: items for src in sorted({p.source for p in features.values()})}
    profile = Profile(
        created=created.isoformat(),
        dataset=dataset,
        model_package_arn=model_package_arn,
        payload=schema,
        rows=rows,
        features=dict(sorted(features.items())),
        quality={},
    )
    return profile.model_copy(update={"profile_id": fingerprint(profile)}), notes
