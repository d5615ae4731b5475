"""The drift decision: a window's summary against the baseline profile.

A feature has drifted when a two-sample test says so after Benjamini-Hochberg across
all features (so a check with no real drift alarms with probability <= alpha, at any
sample size) AND its effect is at least ``min_effect`` (so a trivial shift at a huge
sample size does not alert). Only then do the seed distance thresholds (PSI, JS) grade
it: below them "minor", then "investigate", then "act". Distances alone never decide:
at 100 rows a PSI of 0.1 is mostly noise. docs/drift.md has the rule and its
calibration.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from release_guard.drift.profile import (
    NAMED,
    CategoricalProfile,
    EmbeddingProfile,
    NumericProfile,
    Profile,
    quality_dict,
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
    """Value at cumulative share ``p`` of binned data, linear within bins."""
    points = np.maximum.accumulate(np.concatenate(([lo], edges, [hi])))
    shares = np.concatenate(([0.0], cum))
    i = int(np.searchsorted(shares, p, side="left"))
    i = min(max(i, 1), len(shares) - 1)
    s0, s1 = shares[i - 1], shares[i]
    w = 0.0 if s1 <= s0 else (p - s0) / (s1 - s0)
    return float(points[i - 1] + w * (points[i] - points[i - 1]))


def _rank(edges: np.ndarray, ref_cum: np.ndarray, lo: float, hi: float, v: float) -> float:
    """The reference's cumulative share at value ``v`` (its percentile rank)."""
    points = np.maximum.accumulate(np.concatenate(([lo], edges, [hi])))
    shares = np.concatenate(([0.0], ref_cum))
    return float(np.interp(v, points, shares))


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
    res.missing_p = d.share_test(ref_missing, ref_rows, cur_missing, cur_rows)
    if n == 0:
        res.p_value = res.missing_p
        res.effect = _missing_change(res)
        res.note = "no present values in the window"
    return res


def _missing_change(res: FeatureResult) -> float:
    return abs((res.missing_share or 0) - (res.ref_missing_share or 0))


def _distances(
    res: FeatureResult, r: np.ndarray, c: np.ndarray, ref_missing: int, cur_missing: int
) -> None:
    """PSI, JS and KL over the given cells, plus a missing-value cell when either side
    has missing values (a change in them is part of the distance)."""
    if ref_missing or cur_missing:
        r, c = np.append(r, ref_missing), np.append(c, cur_missing)
    res.psi, res.js, res.kl = d.psi(r, c), d.js_distance(r, c), d.kl(c, r)


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
    groups = d.merge_cells(r, r, 0.0, PSI_GROUPS)
    _distances(res, np.add.reduceat(r, groups), np.add.reduceat(c, groups), p.missing, s.missing)
    n_ref, n = res.n_ref, res.n
    res.ks = d.ks_statistic(r, c)
    res.ks_p = d.ks_pvalue(res.ks, n_ref, n)
    cells = d.merge_cells(r, c, MIN_EXPECTED, MAX_CELLS)
    res.chi2, res.chi2_df, res.chi2_p = d.homogeneity(
        np.add.reduceat(r, cells), np.add.reduceat(c, cells)
    )
    missing_p = 1.0 if res.missing_p is None else res.missing_p
    res.p_value = min(1.0, 3 * min(res.ks_p, res.chi2_p, missing_p))
    res.effect = max(res.ks, _missing_change(res))
    edges = np.asarray(p.edges)
    lo = min(p.min if p.min is not None else s.lo, s.lo)
    hi = max(p.max if p.max is not None else s.hi, s.hi)
    if p.std:
        res.wasserstein = d.wasserstein_binned(edges, lo, hi, r, c) / p.std
    res.reasons = _numeric_reasons(p, s, r, c, edges, lo, hi, res)
    return res


def _numeric_reasons(
    p: NumericProfile,
    s: NumericSummary,
    r: np.ndarray,
    c: np.ndarray,
    edges: np.ndarray,
    lo: float,
    hi: float,
    res: FeatureResult,
) -> list[str]:
    reasons: list[str] = []
    n, n_ref = c.sum(), r.sum()
    ref_cum, cur_cum = np.cumsum(r) / n_ref, np.cumsum(c) / n
    ref_lo = p.min if p.min is not None else lo
    ref_hi = p.max if p.max is not None else hi
    for label in ("p5", "p25", "p50", "p75", "p95"):
        prob = NAMED[label]
        v = _interp_quantile(edges, cur_cum, lo, hi, prob)
        rank = _rank(edges, ref_cum, ref_lo, ref_hi, v)
        if abs(rank - prob) >= MOVED:
            way = "up" if rank > prob else "down"
            reasons.append(
                f"{label} moved {way}: {_f(p.quantiles.get(label, v))} -> {_f(v)} "
                f"(the reference's p{100 * rank:.0f})"
            )
    if s.n > 1 and p.std:
        mean = s.total / s.n
        var = max(0.0, (s.sumsq - s.n * mean * mean) / (s.n - 1))
        ratio = var**0.5 / p.std
        if not 0.9 <= ratio <= 1.1:
            reasons.append(f"spread x{ratio:.2f} (sd {_f(p.std)} -> {_f(var**0.5)})")
    if s.tops:
        value, count = max(s.tops.items(), key=lambda kv: kv[1])
        share = count / n
        ref_share = p.top_share
        if share >= 0.05 and share >= 2 * ref_share:
            base = (
                f"reference {_pct(ref_share)}"
                if value == p.top_value
                else f"reference at most {_pct(ref_share)}"
            )
            reasons.append(f"stuck value: {_f(value)} in {_pct(share)} of values ({base})")
    if len(edges) >= 2:
        for tail, cur_share, ref_share, bound in (
            ("above the reference p99.9", c[-1] / n, r[-1] / n_ref, edges[-1]),
            ("below the reference p0.1", c[0] / n, r[0] / n_ref, edges[0]),
        ):
            if cur_share >= 0.005 and cur_share >= 5 * max(ref_share, 0.001):
                reasons.append(
                    f"outlier burst: {_pct(cur_share)} of values {tail} ({_f(bound)}); "
                    f"expected {_pct(ref_share)}"
                )
    return reasons + _missing_reason(res)


def _categorical(name: str, p: CategoricalProfile, s: CategoricalSummary) -> FeatureResult:
    cats = sorted(p.categories, key=lambda k: -p.categories[k])
    counts = dict(s.counts)
    other_cur = counts.pop(OTHER, 0)
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
    _distances(res, r, c, p.missing, s.missing)
    n_ref, n = res.n_ref, res.n
    cells = d.merge_cells(r, c, MIN_EXPECTED, None)
    res.chi2, res.chi2_df, res.chi2_p = d.homogeneity(
        np.add.reduceat(r, cells), np.add.reduceat(c, cells)
    )
    missing_p = 1.0 if res.missing_p is None else res.missing_p
    res.p_value = min(1.0, 2 * min(res.chi2_p, missing_p))
    res.effect = max(d.total_variation(r, c), _missing_change(res))
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
    res.effect = res.mmd2
    res.reasons.append(
        f"MMD^2 {_f(res.mmd2)} between {len(y)} sampled vectors and {len(x)} reference ones"
    )
    return res


def _grade(res: FeatureResult, policy: DriftPolicy) -> Severity:
    if not res.significant or res.effect is None or res.effect < policy.min_effect:
        return "none"
    act_psi = policy.prediction_psi_act if res.source == "output" else policy.psi.act
    psi, js = res.psi or 0.0, res.js or 0.0
    if res.kind == "embedding":
        return "investigate"
    if psi >= act_psi or js >= policy.js.act:
        return "act"
    if psi >= policy.psi.investigate or js >= policy.js.investigate:
        return "investigate"
    return "minor"


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
        if isinstance(fp, NumericProfile) and isinstance(fs, NumericSummary):
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
            r.reasons.insert(0, f"significant but below the effect floor {policy.min_effect:g}")
    results.sort(key=lambda r: (-RANK[r.severity], r.q_value if r.q_value is not None else 2))
    rows = dict(summary.rows)
    if not any(r.n or (r.missing_share or 0) > 0 for r in results):
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
        reason = f"{len(drifted)} of {len(results)} features drifted: {names}"
    else:
        reason = (
            f"no feature drifted: {len(results)} compared at FDR {policy.alpha:g} "
            f"with effect floor {policy.min_effect:g}"
        )
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
    for name in profile.features:
        if name not in summary.features:
            out.append(f"{name}: no data in the window")
    return out
