"""The drift decision: a window's summary against the baseline profile.

A feature has drifted when a two-sample test says so after Benjamini-Hochberg across
all features (so a check with no real drift alarms with probability <= alpha, at any
sample size) AND its effect beyond sampling noise is at least ``min_effect`` (so a
trivial shift at a huge sample size does not alert). Only then do the seed distance
thresholds (PSI, JS) and ``investigate_effect`` grade it: below them "minor", then
"investigate", then "act". Distances alone never decide: at 100 rows a PSI of 0.1 is
mostly noise. docs/drift.md has the rule and its calibration.

The baseline is one sample of its data, and a deployment has exactly one baseline, so
the false-alarm promise has to hold for that one baseline, not on average over many.
The tests' p-values take the worst case within the baseline's own sampling error, as
large as it is for all but 1 in 1,000 baselines (``d.*_per_baseline``); chi-square
cells expect 5 values on both sides (``d.merge_cells``). Every distance that grades is
first reduced by what two samples of these sizes from one distribution would show
(``d.psi_null``, ``d.ks_null``, ``d.tv_null``). Features the baseline build excluded
(``excluded``: timestamps, ids, features whose test fails on their own baseline data)
are reported with that note and left out of the tests.

PSI, JS and KL compare reference deciles, except that a point mass of the reference and
the values it never had are cells of their own (``distances.quantile_groups``): a
feature constant in the baseline that varies live is graded by how much of it left the
constant, not scored 0 because its deciles are one bin.

Every reason states numbers read from the same bins it is about, so its words agree
with them: "up" only for a larger value, no move between equal values, a point mass
described by its share, values the reference never had by how many and how far.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from release_guard.drift.profile import (
    ATOM,
    NAMED,
    CategoricalProfile,
    EmbeddingProfile,
    FeatureProfile,
    NumericProfile,
    Profile,
    quality_dict,
    single_value_bins,
)
from release_guard.drift.summary import (
    OTHER,
    CategoricalSummary,
    EmbeddingSummary,
    NumericSummary,
    Summary,
)
from release_guard.policy import DriftPolicy
from release_guard.stats import distances as d

Severity = Literal["none", "minor", "investigate", "act"]
RANK: dict[str, int] = {"none": 0, "minor": 1, "investigate": 2, "act": 3}
MIN_EXPECTED = 5.0  # chi-square cells expect at least this many current values
MAX_CELLS = 50
PSI_GROUPS = 10  # PSI, JS and KL use reference deciles, the usual convention
MMD_PERMUTATIONS = 1999
MOVED = 0.05  # a quantile "moved" when it sits 5 reference percentiles away


class FeatureResult(BaseModel):
    name: str
    kind: str
    source: str
    n: int = Field(description="current values (present)")
    n_ref: int = Field(description="reference values (present)")
    missing_share: float | None = None
    ref_missing_share: float | None = None
    psi: float | None = None
    js: float | None = None
    kl: float | None = None
    wasserstein: float | None = Field(None, description="earth mover's / reference std")
    ks: float | None = None
    ks_p: float | None = None
    chi2: float | None = None
    chi2_df: int | None = None
    chi2_p: float | None = None
    missing_p: float | None = None
    mmd2: float | None = None
    p_value: float | None = Field(None, description="the feature's tests, Bonferroni-combined")
    q_value: float | None = Field(None, description="Benjamini-Hochberg across features")
    effect: float | None = Field(None, description="KS distance, TV or missing-share change")
    effect_net: float | None = Field(
        None, description="the effect beyond sampling noise: what the floor and grades use"
    )
    psi_null: float | None = Field(None, description="PSI of two same-distribution samples")
    js_null: float | None = Field(None, description="JS of two same-distribution samples")
    excluded: str | None = Field(None, description="the baseline build's reason not to check")
    significant: bool = False
    severity: Severity = "none"
    reasons: list[str] = Field(default_factory=list)
    note: str | None = None

    @property
    def drifted(self) -> bool:
        return self.severity != "none"


class DriftReport(BaseModel):
    status: Literal["checked", "no_data"]
    severity: Severity
    profile_id: str
    rows: dict[str, int]
    alpha: float
    min_effect: float
    features: list[FeatureResult]
    top: list[str] = Field(description="drifted features, most severe first")
    findings: list[str] = Field(description="data quality and schema problems, in words")
    quality: dict[str, object]
    reason: str


def _f(x: float) -> str:
    return f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _interp_quantile(edges: np.ndarray, cum: np.ndarray, lo: float, hi: float, p: float) -> float:
    """Value at cumulative share ``p`` of binned data, linear within bins. In a bin of
    one value (``split_atoms``: its lower edge is the float just below it) that value."""
    points = np.maximum.accumulate(np.concatenate(([lo], edges, [hi])))
    shares = np.concatenate(([0.0], cum))
    i = int(np.searchsorted(shares, p, side="left"))
    i = min(max(i, 1), len(shares) - 1)
    s0, s1 = shares[i - 1], shares[i]
    if points[i - 1] == np.nextafter(points[i], -np.inf):
        return float(points[i])
    w = 0.0 if s1 <= s0 else (p - s0) / (s1 - s0)
    return float(points[i - 1] + w * (points[i] - points[i - 1]))


def _rank(edges: np.ndarray, ref_cum: np.ndarray, lo: float, hi: float, v: float) -> float:
    """The reference's share at or below ``v`` (its percentile rank), linear within bins.
    Where points repeat (a point mass at ``lo``), the share after the jump counts."""
    points = np.maximum.accumulate(np.concatenate(([lo], edges, [hi])))
    shares = np.concatenate(([0.0], ref_cum))
    j = int(np.searchsorted(points, v, side="right"))  # points[j - 1] <= v < points[j]
    if j == 0:
        return 0.0
    if j == points.size:
        return float(shares[-1])
    x0, x1, s0, s1 = points[j - 1], points[j], shares[j - 1], shares[j]
    return float(s0 + (s1 - s0) * (v - x0) / (x1 - x0))


def _start(
    name: str,
    kind: str,
    source: str,
    r: np.ndarray,
    c: np.ndarray,
    ref_rows: int,
    ref_missing: int,
    cur_missing: int,
) -> FeatureResult:
    """The result's counts and missing-value test; a ``note`` when nothing to compare."""
    n_ref, n = int(r.sum()), int(c.sum())
    cur_rows = n + cur_missing
    res = FeatureResult(name=name, kind=kind, source=source, n=n, n_ref=n_ref)
    res.missing_share = cur_missing / cur_rows if cur_rows else None
    res.ref_missing_share = ref_missing / ref_rows if ref_rows else None
    if n_ref == 0:
        res.note = "the baseline has no values for this feature"
        return res
    res.missing_p = d.share_test_per_baseline(ref_missing, ref_rows, cur_missing, cur_rows)
    if n == 0:
        res.p_value = res.missing_p
        res.effect = _missing_change(res)
        res.effect_net = _missing_net(res, ref_missing, ref_rows, cur_missing, cur_rows)
        res.note = "no present values in the window"
    return res


def _missing_change(res: FeatureResult) -> float:
    return abs((res.missing_share or 0) - (res.ref_missing_share or 0))


def _missing_net(
    res: FeatureResult, ref_missing: int, ref_rows: int, cur_missing: int, cur_rows: int
) -> float:
    null = d.share_change_null(ref_missing, ref_rows, cur_missing, cur_rows)
    return d.beyond_noise_gap(_missing_change(res), null)


def _distances(
    res: FeatureResult, r: np.ndarray, c: np.ndarray, ref_missing: int, cur_missing: int
) -> None:
    """PSI, JS and KL over the given cells, plus a missing-value cell when either side
    has missing values (a change in them is part of the distance)."""
    if ref_missing or cur_missing:
        r, c = np.append(r, ref_missing), np.append(c, cur_missing)
    res.psi, res.js, res.kl = d.psi(r, c), d.js_distance(r, c), d.kl(c, r)
    res.psi_null, res.js_null = d.psi_null(r, c), d.js_null(r, c)


def _missing_reason(res: FeatureResult) -> list[str]:
    if res.missing_share is None or res.ref_missing_share is None:
        return []
    if _missing_change(res) < 0.01:
        return []
    return [f"missing values {_pct(res.missing_share)} (reference {_pct(res.ref_missing_share)})"]


def _numeric(name: str, p: NumericProfile, s: NumericSummary) -> FeatureResult:
    r = np.asarray(p.counts, dtype=np.float64)
    c = s.counts.astype(np.float64)
    res = _start(name, "numeric", p.source, r, c, p.count, p.missing, s.missing)
    if res.note:
        return res
    groups = d.quantile_groups(r, PSI_GROUPS)
    _distances(res, np.add.reduceat(r, groups), np.add.reduceat(c, groups), p.missing, s.missing)
    n_ref, n = res.n_ref, res.n
    res.ks = d.ks_statistic(r, c)
    res.ks_p = d.ks_pvalue_per_baseline(res.ks, n_ref, n)
    cells = d.merge_cells(r, c, MIN_EXPECTED, MAX_CELLS)
    res.chi2, res.chi2_df, _ = d.homogeneity(np.add.reduceat(r, cells), np.add.reduceat(c, cells))
    res.chi2_p = d.chi2_pvalue_per_baseline(res.chi2, res.chi2_df, n_ref, n)
    missing_p = 1.0 if res.missing_p is None else res.missing_p
    res.p_value = min(1.0, 3 * min(res.ks_p, res.chi2_p, missing_p))
    res.effect = max(res.ks, _missing_change(res))
    res.effect_net = max(
        d.beyond_noise_gap(res.ks, d.ks_null(n_ref, n)),
        _missing_net(res, p.missing, p.count, s.missing, s.missing + n),
    )
    edges = np.asarray(p.edges, dtype=np.float64)
    lo = min(p.min if p.min is not None else s.lo, s.lo)
    hi = max(p.max if p.max is not None else s.hi, s.hi)
    if p.std:
        res.wasserstein = d.wasserstein_binned(edges, lo, hi, r, c) / p.std
    res.reasons = _numeric_reasons(_Bins(p, s, r, c, edges, lo, hi)) + _missing_reason(res)
    return res


class _Bins:
    """One numeric feature's reference and current counts over the profile's bins, and
    the facts the reasons are read from. Bin ``i`` is ``(edges[i-1], edges[i]]``; counts
    at or below an edge are exact on both sides, inside a bin values are taken as spread
    linearly (a bin of one value, ``single``, is that value)."""

    def __init__(
        self,
        p: NumericProfile,
        s: NumericSummary,
        r: np.ndarray,
        c: np.ndarray,
        edges: np.ndarray,
        lo: float,
        hi: float,
    ) -> None:
        self.p, self.s, self.r, self.c, self.edges = p, s, r, c, edges
        self.n, self.n_ref = float(c.sum()), float(r.sum())
        self.ref_cum, self.cur_cum = np.cumsum(r) / self.n_ref, np.cumsum(c) / self.n
        self.lo, self.hi = lo, hi
        self.ref_lo = p.min if p.min is not None else lo
        self.ref_hi = p.max if p.max is not None else hi
        self.single = single_value_bins(edges)
        self.atom_count = max(2, int(self.n_ref * ATOM))  # a point mass holds this many

    def ref_quantile(self, prob: float) -> float:
        return _interp_quantile(self.edges, self.ref_cum, self.ref_lo, self.ref_hi, prob)

    def cur_quantile(self, prob: float) -> float:
        return _interp_quantile(self.edges, self.cur_cum, self.lo, self.hi, prob)

    def ref_rank(self, v: float) -> float:
        """The reference's share at or below ``v``."""
        return _rank(self.edges, self.ref_cum, self.ref_lo, self.ref_hi, v)

    def bin_of(self, v: float) -> int:
        return int(np.searchsorted(self.edges, v, side="left"))

    def value(self, i: int) -> float:
        """The value of a single-value bin."""
        return float(self.edges[i])


def _numeric_reasons(b: _Bins) -> list[str]:
    return (
        _quantile_moves(b)
        + _spread(b)
        + _stuck_value(b)
        + _point_masses(b)
        + _unseen_values(b)
        + _outlier_bursts(b)
    )


def _pair(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` printed with as few digits as keep them apart (4 unless closer)."""
    for digits in (4, 6, 10, 17):
        fa, fb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if fa != fb:
            break
    return fa, fb


def _quantile_moves(b: _Bins) -> list[str]:
    """A named quantile moved when the current one sits ``MOVED`` reference percentiles
    away from where it was ("up" when the whole of the reference's ranks at the new value,
    a range at a point mass, lies above it) and an edge lies between the two. The edge is
    what makes the word certain: counts at edges are exact, so the current quantile is
    above the edge and the reference's at or below it (or the other way round), whatever
    the values inside the bins. The printed values are the bins' estimates, on that
    edge's sides.

    A current quantile among values the reference never had is left to
    ``_unseen_values``, which says exactly how many there are and how far they go."""
    out: list[str] = []
    ref_at, cur_at = b.ref_cum[: b.edges.size], b.cur_cum[: b.edges.size]
    for label in ("p5", "p25", "p50", "p75", "p95"):
        prob = NAMED[label]
        ref_v, cur_v = b.ref_quantile(prob), b.cur_quantile(prob)
        if b.r[b.bin_of(cur_v)] == 0:
            continue
        at_most = b.ref_rank(cur_v)
        below = b.ref_rank(float(np.nextafter(cur_v, -np.inf)))
        if below >= prob + MOVED and np.any((cur_at < prob) & (prob <= ref_at)):
            way = "up"
        elif at_most <= prob - MOVED and np.any((ref_at < prob) & (prob <= cur_at)):
            way = "down"
        else:
            continue
        was, now = _pair(ref_v, cur_v)
        out.append(f"{label} moved {way}: {was} -> {now} (the reference's p{100 * at_most:.0f})")
    return out


def _spread(b: _Bins) -> list[str]:
    s, p = b.s, b.p
    if s.n <= 1 or not p.std:
        return []
    mean = s.total / s.n
    var = max(0.0, (s.sumsq - s.n * mean * mean) / (s.n - 1))
    ratio = var**0.5 / p.std
    if 0.9 <= ratio <= 1.1:
        return []
    return [f"spread x{ratio:.2f} (sd {_f(p.std)} -> {_f(var**0.5)})"]


def _stuck_value(b: _Bins) -> list[str]:
    """The most frequent current value when it holds at least 5 % and twice what the
    reference gave it. That reference share is exact when the value has a bin of its own
    (0 when its bin is empty in the reference) or is the reference's top value; else it
    is at most the reference's top share. A point mass of the reference is not "stuck":
    ``_point_masses`` gives its share."""
    s, p = b.s, b.p
    if not s.tops:
        return []
    value, count = max(s.tops.items(), key=lambda kv: kv[1])
    share = count / b.n
    i = b.bin_of(value)
    if b.single[i] and b.value(i) == value and b.r[i] >= b.atom_count:
        return []
    if b.r[i] == 0:
        ref, base = 0.0, "the reference never had it"
    elif b.single[i] and b.value(i) == value:
        ref = b.r[i] / b.n_ref
        base = f"reference {_pct(ref)}"
    elif value == p.top_value:
        ref, base = p.top_share, f"reference {_pct(p.top_share)}"
    else:
        ref, base = p.top_share, f"reference at most {_pct(p.top_share)}"
    if share < 0.05 or share < 2 * ref:
        return []
    return [f"stuck value: {_f(value)} in {_pct(share)} of values ({base})"]


def _point_masses(b: _Bins) -> list[str]:
    """Point masses of the reference (values with a bin of their own that held at least
    ``ATOM`` of it) whose share moved by a percentage point or more: the three largest
    moves. Both shares are exact. (The minimum has a bin of its own even when seen once;
    a value seen once is no point mass.)"""
    moves = []
    for i in np.flatnonzero(b.single & (b.r >= b.atom_count)):
        v = b.value(i)
        cur, ref = b.c[i] / b.n, b.r[i] / b.n_ref
        if abs(cur - ref) >= 0.01:
            moves.append((abs(cur - ref), v, cur, ref))
    moves.sort(key=lambda t: -t[0])
    return [
        f"{_f(v)} in {_pct(cur)} of values (reference {_pct(ref)})" for _, v, cur, ref in moves[:3]
    ]


def _unseen_values(b: _Bins) -> list[str]:
    """Current values in bins that hold no reference value: below the reference's
    minimum, above its maximum, between two of its point masses (``split_atoms`` makes
    these bins; a profile without them has only the one above a maximum that is an
    edge)."""
    out: list[str] = []
    last = len(b.r) - 1
    for i in np.flatnonzero(b.r == 0):
        share = b.c[i] / b.n
        if share < 0.005:
            continue
        if i == 0:  # (-inf, just below the minimum]
            edge, low = _pair(b.ref_lo, b.s.lo)
            out.append(
                f"{_pct(share)} of values below the reference's minimum {edge} (down to {low})"
            )
        elif i == last:  # (maximum, inf): the last edge is the maximum
            edge, high = _pair(b.ref_hi, b.s.hi)
            out.append(
                f"{_pct(share)} of values above the reference's maximum {edge} (up to {high})"
            )
        else:
            upper = b.edges[i + 1] if b.single[i + 1] else b.edges[i]
            a, z = _pair(b.edges[i - 1], upper)
            out.append(f"{_pct(share)} of values between {a} and {z}, where the reference has none")
    return out


def _outlier_bursts(b: _Bins) -> list[str]:
    """Current values piling into the reference's 0.1 % tail bins (bins the reference
    has values in; empty ones are ``_unseen_values``)."""
    out: list[str] = []
    if len(b.edges) < 2:
        return out
    for tail, i, bound in (
        ("above the reference p99.9", -1, b.edges[-1]),
        ("below the reference p0.1", 0, b.edges[0]),
    ):
        cur_share, ref_share = b.c[i] / b.n, b.r[i] / b.n_ref
        if ref_share > 0 and cur_share >= 0.005 and cur_share >= 5 * max(ref_share, 0.001):
            out.append(
                f"outlier burst: {_pct(cur_share)} of values {tail} ({_f(bound)}); "
                f"expected {_pct(ref_share)}"
            )
    return out


def _categorical(name: str, p: CategoricalProfile, s: CategoricalSummary) -> FeatureResult:
    counts = dict(s.counts)
    other_cur = counts.pop(OTHER, 0)
    # Small categories are merged with their neighbours in this order: by both sides'
    # counts together, not the reference's. In the reference's order the categories it
    # happened to count lowest would be pooled into one cell, whose reference count is
    # then low by selection, not by chance: a bias every check of that baseline repeats.
    cats = sorted(p.categories, key=lambda k: (-(p.categories[k] + counts.get(k, 0)), k))
    new = {k: v for k, v in counts.items() if k not in p.categories}
    known = [counts.get(k, 0) for k in cats]
    r = np.asarray([p.categories[k] for k in cats] + [p.other], dtype=np.float64)
    c = np.asarray([*known, other_cur + sum(new.values())], dtype=np.float64)
    if p.other == 0 and new:  # unseen categories are cells of their own
        r = np.concatenate((r[:-1], np.zeros(len(new)), [0.0]))
        c = np.concatenate((c[:-1], list(new.values()), [other_cur]))
    res = _start(name, "categorical", p.source, r, c, p.count, p.missing, s.missing)
    if res.note:
        return res
    n_ref, n = res.n_ref, res.n
    cells = d.merge_cells(r, c, MIN_EXPECTED, None)
    # PSI, JS and KL over the test's cells, each expecting 5 values a side: over 400 raw
    # categories at 1,000 rows most cells expect 2 or 3 live values, PSI's 1e-4 floor
    # dominates it, and it reads 0.6 with no drift, beyond any correction for noise.
    _distances(res, np.add.reduceat(r, cells), np.add.reduceat(c, cells), p.missing, s.missing)
    res.chi2, res.chi2_df, _ = d.homogeneity(np.add.reduceat(r, cells), np.add.reduceat(c, cells))
    res.chi2_p = d.chi2_pvalue_per_baseline(res.chi2, res.chi2_df, n_ref, n)
    missing_p = 1.0 if res.missing_p is None else res.missing_p
    res.p_value = min(1.0, 2 * min(res.chi2_p, missing_p))
    res.effect = max(d.total_variation(r, c), _missing_change(res))
    # Of 400 categories most carry none of a shift, but each adds its own noise to
    # the total variation: at 20,000 baseline rows that is 0.06 with no drift at all.
    res.effect_net = max(
        d.beyond_noise(d.total_variation(r, c), d.tv_null(r, c)),
        _missing_net(res, p.missing, p.count, s.missing, s.missing + n),
    )
    moves = sorted(
        ((k, counts.get(k, 0) / n, p.categories[k] / n_ref) for k in cats),
        key=lambda t: -abs(t[1] - t[2]),
    )
    for k, cur_share, ref_share in moves[:3]:
        if abs(cur_share - ref_share) >= 0.01:
            reasons = f"{k!r} {_pct(cur_share)} (reference {_pct(ref_share)})"
            res.reasons.append(reasons)
    if new:
        top_new = sorted(new.items(), key=lambda kv: -kv[1])[:5]
        words = ", ".join(f"{k!r} {_pct(v / n)}" for k, v in top_new)
        seen = "new" if p.other == 0 else "outside the reference's top categories"
        res.reasons.append(f"{seen}: {words}")
    vanished = [
        k for k in cats if counts.get(k, 0) == 0 and p.categories[k] / n_ref * n >= MIN_EXPECTED
    ]
    if vanished:
        words = ", ".join(f"{k!r} (reference {_pct(p.categories[k] / n_ref)})" for k in vanished)
        res.reasons.append(f"vanished: {words}")
    res.reasons += _missing_reason(res)
    return res


def _embedding(name: str, p: EmbeddingProfile, s: EmbeddingSummary) -> FeatureResult:
    res = FeatureResult(
        name=name, kind="embedding", source=p.source, n=len(s.sample), n_ref=len(p.sample)
    )
    if len(p.sample) < 10 or len(s.sample) < 10:
        res.note = "fewer than 10 sampled vectors on a side: not compared"
        return res
    x = np.asarray(p.sample, dtype=np.float64)
    y = np.asarray(list(s.sample.values()), dtype=np.float64)
    if x.shape[1] != y.shape[1]:
        res.note = f"vectors of {y.shape[1]} dimensions, the baseline has {x.shape[1]}"
        return res
    res.mmd2, res.p_value = d.mmd_test(x, y, MMD_PERMUTATIONS, seed=0)
    # MMD has no natural 0-1 scale here; the kernel statistic itself is the effect.
    res.effect = res.effect_net = res.mmd2
    res.reasons.append(
        f"MMD^2 {_f(res.mmd2)} between {len(y)} sampled vectors and {len(x)} reference ones"
    )
    return res


def _grade(res: FeatureResult, policy: DriftPolicy) -> Severity:
    """Every threshold is met by the distance beyond its sampling noise (``d.psi_null``
    and the rest): a 400-category feature's PSI at 1,000 live rows is 0.17 with no
    drift, and a bare PSI threshold would call every chance detection of it
    "investigate"."""
    effect = res.effect_net if res.effect_net is not None else res.effect
    if not res.significant or effect is None or effect < policy.min_effect:
        return "none"
    if res.kind == "embedding":
        return "investigate"
    act_psi = policy.prediction_psi_act if res.source == "output" else policy.psi.act
    psi = d.beyond_noise(res.psi or 0.0, res.psi_null or 0.0)
    # JS divergence (JS distance squared) adds up like PSI: the null's square comes off.
    js = d.beyond_noise_gap(res.js or 0.0, res.js_null or 0.0)
    if psi >= act_psi or js >= policy.js.act:
        return "act"
    if psi >= policy.psi.investigate or js >= policy.js.investigate:
        return "investigate"
    if effect >= policy.investigate_effect:
        return "investigate"
    return "minor"


def _excluded(name: str, fp: FeatureProfile, fs: object, why: str) -> FeatureResult:
    """A feature the baseline build excluded: summarised, not tested (not in BH)."""
    n = 0
    if isinstance(fs, NumericSummary):
        n = fs.n
    elif isinstance(fs, CategoricalSummary):
        n = sum(fs.counts.values())
    elif isinstance(fs, EmbeddingSummary):
        n = len(fs.sample)
    n_ref = fp.count - fp.missing if not isinstance(fp, EmbeddingProfile) else len(fp.sample)
    return FeatureResult(
        name=name,
        kind=fp.kind,
        source=fp.source,
        n=n,
        n_ref=n_ref,
        excluded=why,
        note=f"not checked: {why}",
    )


def decide(profile: Profile, summary: Summary, policy: DriftPolicy) -> DriftReport:
    """Compare a window's summary with the profile, feature by feature."""
    if summary.profile_id != profile.profile_id:
        raise ValueError(f"summary of profile {summary.profile_id}, not {profile.profile_id}")
    findings = _findings(profile, summary, policy)
    results: list[FeatureResult] = []
    for name, fp in profile.features.items():
        fs = summary.features.get(name)
        if fs is None:
            continue
        if fp.excluded:
            results.append(_excluded(name, fp, fs, fp.excluded))
        elif isinstance(fp, NumericProfile) and isinstance(fs, NumericSummary):
            results.append(_numeric(name, fp, fs))
        elif isinstance(fp, CategoricalProfile) and isinstance(fs, CategoricalSummary):
            results.append(_categorical(name, fp, fs))
        elif isinstance(fp, EmbeddingProfile) and isinstance(fs, EmbeddingSummary):
            results.append(_embedding(name, fp, fs))
    tested = [r for r in results if r.p_value is not None]
    flags, qs = d.benjamini_hochberg([float(r.p_value or 0.0) for r in tested], policy.alpha)
    for r, flag, q in zip(tested, flags, qs, strict=True):
        r.q_value, r.significant = q, flag
        r.severity = _grade(r, policy)
        if r.significant and r.severity == "none":
            net = r.effect_net if r.effect_net is not None else r.effect or 0.0
            r.reasons.insert(
                0,
                f"significant but below the effect floor {policy.min_effect:g} "
                f"(effect {net:.3g} beyond sampling noise)",
            )
    results.sort(key=lambda r: (-RANK[r.severity], r.q_value if r.q_value is not None else 2))
    rows = dict(summary.rows)
    checked = [r for r in results if not r.excluded]
    if not any(r.n or (r.missing_share or 0) > 0 for r in checked):
        why = "no data in the window" if not sum(rows.values()) else "no usable values"
        if summary.quality.records and not sum(rows.values()):
            why = f"no usable records: {summary.quality.records} read, none parsed"
        return DriftReport(
            status="no_data",
            severity="none",
            profile_id=profile.profile_id,
            rows=rows,
            alpha=policy.alpha,
            min_effect=policy.min_effect,
            features=results,
            top=[],
            findings=findings,
            quality=quality_dict(summary.quality),
            reason=f"{why}: nothing was compared (this is not a 'no drift' result)",
        )
    drifted = [r for r in results if r.drifted]
    severity: Severity = drifted[0].severity if drifted else "none"
    if drifted:
        names = ", ".join(f"{r.name} ({r.severity})" for r in drifted[:5])
        reason = f"{len(drifted)} of {len(checked)} features drifted: {names}"
    else:
        reason = (
            f"no feature drifted: {len(checked)} compared at FDR {policy.alpha:g} "
            f"with effect floor {policy.min_effect:g}"
        )
    if len(checked) < len(results):
        reason += f" ({len(results) - len(checked)} not checked: see findings)"
    return DriftReport(
        status="checked",
        severity=severity,
        profile_id=profile.profile_id,
        rows=rows,
        alpha=policy.alpha,
        min_effect=policy.min_effect,
        features=results,
        top=[r.name for r in drifted[:10]],
        findings=findings,
        quality=quality_dict(summary.quality),
        reason=reason,
    )


def _findings(profile: Profile, summary: Summary, policy: DriftPolicy) -> list[str]:
    out: list[str] = []
    q = summary.quality
    if q.unparsable:
        out.append(f"{q.unparsable} of {q.records} capture lines could not be parsed (skipped)")
    if q.bad_payload:
        out.append(f"{q.bad_payload} payloads did not decode (skipped)")
    if q.missing_columns:
        out.append(f"{q.missing_columns} rows had fewer columns than the schema")
    if q.extra_columns:
        out.append(f"{q.extra_columns} rows had more columns than the schema (extra ignored)")
    for name, count in sorted(q.type_mismatch.items()):
        out.append(f"{name}: {count} values of the wrong type (counted as missing)")
    for name, count in sorted(q.missing_field.items()):
        out.append(f"{name}: its path matched nothing in {count} rows")
    derived = set(profile.features)
    for spec in policy.payload.features:
        known = spec.name in derived or any(f.startswith(spec.name + ".") for f in derived)
        if not known:
            out.append(f"{spec.name}: the baseline has no profile for this feature (not checked)")
    for name, fp in profile.features.items():
        if fp.excluded:
            out.append(f"{name}: not checked: {fp.excluded}")
        elif name not in summary.features:
            out.append(f"{name}: no data in the window")
    return out
