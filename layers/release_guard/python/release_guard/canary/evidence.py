"""Per-metric evidence: one policy rule, both variants' per-period series -> a Finding.

Periods run from the start of the release to the end of the judged window, so the
evidence of every rule accumulates across looks and steps (see stats/sequential.py).
Rates use two anytime-valid tests per threshold: "above" (a conclusive regression:
fail) and "below" (conclusive non-inferiority: pass). Because rare errors make the
"below" test slow, a rate rule also passes once the candidate has served enough
requests that a regression of ``detect_ratio`` would have been caught with the
policy's power ("no regression found where one would have shown").
Latency and mean metrics use a sign test on periods: under the null the candidate's
per-period statistic exceeds ``max_ratio`` x the champion's at most half the time.
Each finding's ``interval`` is on its threshold's scale (the rate ratio, the candidate's
rate for an absolute ceiling, the median period ratio): a confidence sequence at the
policy's alpha, shown to people and never used for a decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from release_guard.canary.metrics import APP, CATALOG, MetricSpec, series_key
from release_guard.events import Finding
from release_guard.policy import CanaryPolicy, MetricRule
from release_guard.stats import sequential as seq

Arr = NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    """Per-period values of both variants; NaN where CloudWatch had no datapoint."""

    candidate: dict[str, Arr]
    champion: dict[str, Arr]
    step: NDArray[np.bool_]  # periods of the current step
    period_seconds: int

    def get(self, side: str, key: str) -> Arr:
        table = self.candidate if side == "candidate" else self.champion
        return table.get(key, np.full(self.step.size, np.nan))

    def published(self, key: str) -> bool:
        """Whether the candidate has any datapoint of this series."""
        arr = self.candidate.get(key)
        return arr is not None and bool(np.isfinite(arr).any())


def keys(rule: MetricRule, app_namespace: str) -> list[tuple[str, str, str]]:
    """(namespace, metric, stat) the rule needs from CloudWatch, per variant."""
    spec = CATALOG[rule.metric]
    ns = app_namespace if spec.namespace == APP else spec.namespace
    if spec.kind == "latency":
        return [(ns, spec.numerator, rule.statistic), (ns, spec.numerator, "SampleCount")]
    assert spec.denominator is not None
    return [(ns, spec.numerator, "Sum"), (ns, spec.denominator, "Sum")]


def _key(rule: MetricRule, app_namespace: str, i: int) -> str:
    ns, metric, stat = keys(rule, app_namespace)[i]
    return series_key(ns, metric, stat)


def tests_per_rule(rule: MetricRule) -> int:
    return int(rule.max_absolute is not None) + int(rule.max_ratio is not None)


def alpha_each(policy: CanaryPolicy) -> float:
    """The release-wide alpha split over every regression test (Bonferroni)."""
    return policy.alpha / max(1, sum(tests_per_rule(r) for r in policy.metrics))


def _finding(rule: MetricRule, outcome: str, reason: str, **kw: object) -> Finding:
    base: dict[str, object] = {
        "metric": rule.label,
        "outcome": outcome,
        "candidate": None,
        "champion": None,
        "threshold": rule.max_ratio if rule.max_ratio is not None else rule.max_absolute,
        "candidate_n": 0,
        "champion_n": 0,
        "reason": reason,
        "action": rule.action,
        "critical": rule.critical,
    }
    base.update(kw)
    return Finding.model_validate(base)


def _fmt(spec: MetricSpec, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if spec.unit == "%":
        return f"{value:.2%}"
    return f"{value * spec.scale:.4g} {spec.unit}"


def _quality(x: Arr, n: Arr) -> str | None:
    """Counts CloudWatch should never produce: the metric is unusable, not zero."""
    both = np.isfinite(x) & np.isfinite(n)
    if np.any((x[both] < 0) | (n[both] < 0)):
        return "negative counts"
    if np.any(x[both] > n[both]):
        return "more bad events than requests in a period"
    if np.any(np.isfinite(n) & (n > 0) & ~np.isfinite(x)):
        return "requests without the bad-event metric in some periods (NaN or missing)"
    return None


def rate(
    rule: MetricRule, s: Series, policy: CanaryPolicy, a: float, intervals: bool = True
) -> Finding:
    spec = CATALOG[rule.metric]
    xc, nc = (
        s.get("candidate", _key(rule, policy.app_namespace, 0)),
        s.get("candidate", _key(rule, policy.app_namespace, 1)),
    )
    xh, nh = (
        s.get("champion", _key(rule, policy.app_namespace, 0)),
        s.get("champion", _key(rule, policy.app_namespace, 1)),
    )
    for who, (x, n) in (("candidate", (xc, nc)), ("champion", (xh, nh))):
        problem = _quality(x, n)
        if problem:
            return _finding(rule, "no_data", f"data quality ({who} {spec.numerator}): {problem}")
    # A variant with no traffic (the champion at 100 %, or after promotion) publishes
    # no datapoints: the candidate's own periods still count for its absolute ceiling;
    # only periods with both variants compare them.
    own = np.isfinite(nc) & np.isfinite(xc)
    both = own & np.isfinite(nh) & np.isfinite(xh)
    xc_own, nc_own = np.where(own, xc, 0.0), np.where(own, nc, 0.0)
    xc, nc, xh, nh = (np.where(both, v, 0.0) for v in (xc, nc, xh, nh))
    n_cand, n_champ = int(nc_own.sum()), int(nh.sum())
    n_step = int(nc_own[s.step].sum())
    if n_cand == 0:
        return _finding(rule, "no_data", f"no {spec.denominator} published for the candidate")
    p_c = float(xc_own.sum() / n_cand)
    p_h = float(xh.sum() / n_champ) if n_champ else None
    common: dict[str, object] = {
        "candidate": p_c,
        "champion": p_h,
        "candidate_n": n_cand,
        "champion_n": n_champ,
    }
    checks: list[tuple[str, seq.Evidence, seq.Evidence, int]] = []
    if rule.max_absolute is not None:
        up = seq.proportion_test(xc_own, nc_own, rule.max_absolute, a)
        down = seq.proportion_test(xc_own, nc_own, rule.max_absolute, a, side="below")
        need = seq.required_trials(
            rule.max_absolute, min(0.999, rule.max_absolute * 2), a, policy.power
        )
        # Power alone passes only an estimate inside the allowance.
        need = need if p_c <= rule.max_absolute else 10**12
        checks.append((f"above {rule.max_absolute:.2%}", up, down, need))
    interval = None
    no_champion = rule.max_ratio is not None and n_champ == 0
    if rule.max_ratio is not None and not no_champion:
        up = seq.rate_ratio_test(xc, nc, xh, nh, rule.max_ratio, a)
        down = seq.rate_ratio_test(xc, nc, xh, nh, rule.max_ratio, a, side="below")
        if intervals:  # evidence for people; never changes a decision
            interval = seq.ratio_interval(xc, nc, xh, nh, policy.alpha)
        detect = rule.detect_ratio or 2 * rule.max_ratio
        need = _needed_for_ratio(
            rule.max_ratio, detect, xh.sum(), n_champ, nc, nh, s.step, a, policy.power
        )
        estimate = (xc.sum() / max(nc.sum(), 1)) / max(xh.sum() / n_champ, 1e-12)
        need = need if estimate <= rule.max_ratio else 10**12
        checks.append((f"over {rule.max_ratio:g}x the champion", up, down, need))
    common["e_value"] = max((c[1].e_value for c in checks), default=None)
    text = f"candidate {_fmt(spec, p_c)} of {n_cand} vs champion {_fmt(spec, p_h)} of {n_champ}"
    if interval is not None:
        text += f"; rate ratio in [{interval[0]:.2g}, {interval[1]:.3g}]"
    elif intervals and rule.max_ratio is None and rule.max_absolute is not None:
        # On the threshold's scale, as ``threshold``: the candidate's own rate.
        interval = seq.proportion_interval(xc_own, nc_own, policy.alpha)
    common["interval"] = interval
    fired = [c for c in checks if c[1].rejected]
    if fired:
        what = ", ".join(c[0] for c in fired)
        return _finding(
            rule, "fail", f"conclusively {what}: {text} (e={common['e_value'] or 0:.3g})", **common
        )
    if no_champion:
        why = f"the champion served nothing to compare with; {text}"
        return _finding(rule, "no_data", why, **common)
    if n_step < rule.min_sample:
        return _finding(
            rule,
            "pending",
            f"{n_step} of {rule.min_sample} candidate requests this step; {text}",
            required_n=rule.min_sample - n_step,
            **common,
        )
    short = [c for c in checks if not (c[2].rejected or n_cand >= c[3])]
    if short:
        need = max(c[3] for c in short)
        if need >= 10**12:
            return _finding(
                rule, "pending", f"beyond the allowance, not yet conclusive: {text}", **common
            )
        return _finding(
            rule,
            "pending",
            f"no conclusive regression yet; {text}; evidence needs ~{need} candidate requests",
            required_n=max(0, need - n_cand),
            **common,
        )
    return _finding(rule, "pass", f"within the allowance: {text}", **common)


def _needed_for_ratio(
    r0: float,
    r1: float,
    champ_errors: float,
    n_champ: int,
    nc: Arr,
    nh: Arr,
    step: NDArray[np.bool_],
    a: float,
    power: float,
) -> int:
    """Candidate requests for the ratio test to catch ratio r1 with ``power``, at the
    current step's traffic split and the champion's observed error rate."""
    p_h = (champ_errors + 0.5) / (n_champ + 1.0)
    c_step, h_step = float(nc[step].sum()), float(nh[step].sum())
    q = c_step / h_step if c_step > 0 and h_step > 0 else float(nc.sum()) / max(1.0, nh.sum())
    q = max(q, 1e-6)
    events = seq.required_trials(
        float(seq.share(r0, q, 1.0)), float(seq.share(r1, q, 1.0)), a, power
    )
    per_request = p_h * (r1 + 1.0 / q)  # errors of both variants per candidate request
    return math.ceil(events / max(per_request, 1e-12))


def ordered(
    rule: MetricRule, s: Series, policy: CanaryPolicy, a: float, intervals: bool = True
) -> Finding:
    """Latency percentiles and per-request means: a sign test over periods."""
    spec = CATALOG[rule.metric]
    k0, k1 = _key(rule, policy.app_namespace, 0), _key(rule, policy.app_namespace, 1)
    if not s.published(k0):
        return _finding(rule, "no_data", f"no {spec.numerator} published for the candidate")
    c, h = s.get("candidate", k0), s.get("champion", k0)
    cn, hn = s.get("candidate", k1), s.get("champion", k1)
    if spec.kind == "mean":  # Sum of the quantity over Sum of requests
        c, h = c / np.where(cn > 0, cn, np.nan), h / np.where(hn > 0, hn, np.nan)
    bad = (np.isfinite(c) & (c < 0)) | (np.isfinite(h) & (h < 0))
    bad |= (np.isfinite(cn) & (cn < 0)) | (np.isfinite(hn) & (hn < 0))
    if np.any(bad):
        return _finding(
            rule, "no_data", f"data quality: negative {spec.numerator} or sample counts"
        )
    floor = policy.min_period_samples
    use = (
        np.isfinite(c)
        & np.isfinite(h)
        & (h > 0)
        & (np.nan_to_num(cn) >= floor)
        & (np.nan_to_num(hn) >= floor)
    )
    n_cand, n_champ = int(np.nansum(cn)), int(np.nansum(hn))
    n_step = int(np.nansum(cn[s.step]))
    assert rule.max_ratio is not None
    periods = int(use.sum())
    if periods == 0:
        return _finding(
            rule,
            "no_data",
            f"no period with {floor}+ {spec.numerator} samples on both variants yet",
            candidate_n=n_cand,
            champion_n=n_champ,
        )
    ratios = c[use] / h[use]
    exceed = (ratios > rule.max_ratio).astype(float)
    ones = np.ones_like(exceed)
    up = seq.proportion_test(exceed, ones, 0.5, a)
    down = seq.proportion_test(1 - exceed, ones, 0.5, a)
    cand_est, champ_est = float(np.median(c[use])), float(np.median(h[use]))
    common: dict[str, object] = {
        "candidate": cand_est,
        "champion": champ_est,
        "candidate_n": n_cand,
        "champion_n": n_champ,
        "ratio": float(np.median(ratios)),
        "e_value": up.e_value,
        "periods": periods,
        # For people, never a decision: where the median period ratio can be.
        "interval": seq.median_interval(ratios, policy.alpha) if intervals else None,
    }
    text = (
        f"candidate {_fmt(spec, cand_est)} vs champion {_fmt(spec, champ_est)} "
        f"(median ratio {np.median(ratios):.2f}x); above {rule.max_ratio:g}x in "
        f"{int(exceed.sum())} of {periods} periods"
    )
    if up.rejected:
        return _finding(rule, "fail", f"conclusively over {rule.max_ratio:g}x: {text}", **common)
    if n_step < rule.min_sample:
        return _finding(
            rule,
            "pending",
            f"{n_step} of {rule.min_sample} candidate samples this step; {text}",
            required_n=rule.min_sample - n_step,
            **common,
        )
    if not down.rejected:
        need = seq.required_trials(0.5, 0.1, a, policy.power)
        return _finding(
            rule,
            "pending",
            f"no conclusive answer yet: {text}; needs ~{need} clean periods",
            required_periods=max(0, need - periods),
            **common,
        )
    return _finding(rule, "pass", f"within the allowance: {text}", **common)


def evaluate(policy: CanaryPolicy, s: Series, intervals: bool = True) -> list[Finding]:
    a = alpha_each(policy)
    out = []
    for rule in policy.metrics:
        kind = CATALOG[rule.metric].kind
        if kind == "rate":
            out.append(rate(rule, s, policy, a, intervals))
        else:
            out.append(ordered(rule, s, policy, a, intervals))
    return out
