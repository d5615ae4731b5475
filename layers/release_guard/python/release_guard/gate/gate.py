"""The eval gate: is the candidate no worse than the champion, by more than we accept?

Records of both systems are reduced to one value per example (repeats averaged), paired
by id. Per metric, and per slice (``category``) large enough to judge, each rule is a
one-sided test. A row passes only when its bound clears the floor or margin, fails when
the regression is conclusively larger, and is inconclusive otherwise (with the effect it
could detect and the examples it would need). One fail fails the gate, so fails are
Holm-corrected across the whole table; a pass needs every required row (the ALL rows,
and slice rows only with ``slices_must_pass``) to pass, which needs no correction. What
the data can resolve is reported per margin rule, with a warning when the policy's
margin is below it. A pass also needs the examples that can resolve its margin, floor or
percentile without assuming a distribution (paired.min_n_*, docs/eval-gate.md): fewer,
and an interval such as [0, 0] from three identical pairs is inconclusive. Data problems
above the policy's limit fail the gate with their counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, itemgetter, not_
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from release_guard.errors import InvalidReleaseRequest
from release_guard.gate.records import EvalRecord, Problems
from release_guard.policy import GateMetric, GatePolicy
from release_guard.stats import paired

Decision = Literal["pass", "fail", "inconclusive", "skipped"]
BUILTIN = {"latency_ms", "cost_usd", "output_tokens", "input_tokens"}


class GateRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    slice: str
    rule: str
    n: int
    decision: Decision
    reason: str
    candidate: float | None = None
    champion: float | None = None
    effect: float | None = None  # candidate - champion, or candidate / champion for ratios
    low: float | None = None
    high: float | None = None
    bound: float | None = None  # the floor or margin-adjusted bound the interval is held to
    p_value: float | None = None  # of the row's pass: bound cleared
    p_fail: float | None = None  # of its fail: conclusively beyond the bound (Holm's family)
    mde: float | None = None
    needed_n: int | None = None
    # False for a slice row unless policy.slices_must_pass: it can fail the gate but
    # its not showing non-inferiority does not hold it.
    required: bool = True


class Resolution(BaseModel):
    """What one rule's ALL row can resolve at the gate's n (docs/eval-gate.md)."""

    model_config = ConfigDict(frozen=True)

    metric: str
    rule: str
    n: int
    margin_kind: str  # absolute | relative | ratio (relative, of a ratio) | hard
    margin: float  # the policy's
    resolvable: float | None  # the smallest such margin an equally good candidate passes
    power: float  # ... with this probability
    pass_chance: float | None  # an equally good candidate's chance at the policy's margin
    needed_n: int | None  # examples the policy's margin needs, when it is too small
    warning: bool  # the policy's margin is below what the data resolve


class GateVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    verdict: Literal["pass", "fail", "inconclusive"]
    reason: str
    rows: list[GateRow]
    problems: dict[str, int]
    problem_examples: dict[str, list[str]]
    pairs: int
    records: int
    policy_alpha: float
    resolution: list[Resolution] = []  # ALL rows of the margin rules, in policy order
    warnings: list[str] = []  # margins below what the data resolve


@dataclass
class Paired:
    """Per-example values of both systems, aligned by id."""

    ids: list[str]
    values: dict[str, NDArray[np.float64]]  # metric -> (n, 2): [:, 0] candidate, [:, 1] champion
    category: NDArray[np.object_]
    cluster: NDArray[np.int64] | None
    problems: Problems
    records: int
    examples: int  # distinct ids in either system


def pair(
    candidate: list[EvalRecord],
    champion: list[EvalRecord],
    metrics: list[str],
    problems: Problems,
) -> Paired:
    """Average repeats, drop duplicates (counted), keep ids present in both systems
    (the others counted as missing pairs). One pass over the records per field, the rest
    in numpy: at 100k examples Python work per record and metric was most of the time."""
    records = [*candidate, *champion]
    systems = list(map(attrgetter("system"), records))
    ids = list(map(attrgetter("id"), records))
    keys = list(zip(systems, ids, map(attrgetter("sample_index"), records), strict=True))
    kept = records
    if len(set(keys)) != len(keys):
        seen: set[tuple[str, str, int]] = set()
        kept = []
        for r, key in zip(records, keys, strict=True):
            if key in seen:
                problems.add("duplicate id", f"{r.system} {r.id} sample {r.sample_index}")
                continue
            seen.add(key)
            kept.append(r)
        systems = list(map(attrgetter("system"), kept))
        ids = list(map(attrgetter("id"), kept))
    is_champ = list(map("champion".__eq__, systems))
    by_system = {
        "candidate": set(compress(ids, map(not_, is_champ))),
        "champion": set(compress(ids, is_champ)),
    }
    both = sorted(by_system["candidate"] & by_system["champion"])
    for s, other in (("candidate", "champion"), ("champion", "candidate")):
        lacking = by_system[s] - by_system[other]
        for missing in sorted(lacking)[:1000]:
            problems.add("missing pair", f"id {missing} has no {other} record")
        extra = len(lacking) - 1000
        if extra > 0:
            problems.counts["missing pair"] += extra
    index = {i: k for k, i in enumerate(both)}
    n = len(both)
    rows = np.fromiter(map(index.get, ids, repeat(-1)), dtype=np.int64, count=len(kept))
    cols = np.array(is_champ, dtype=np.int64)
    paired_mask = rows >= 0
    category = np.full(n, None, dtype=object)
    cluster_names: list[str | None] = [None] * n
    # Each example's category (cluster) is that of its first record that has one.
    for attr, target in (("category", category), ("cluster_id", None)):
        values = np.array(list(map(attrgetter(attr), kept)), dtype=object)
        has = paired_mask & (values != None)  # noqa: E711 - elementwise on objects
        first_rows, first_at = np.unique(rows[has], return_index=True)
        chosen = values[has][first_at]
        if target is not None:
            target[first_rows] = chosen
        else:
            for k, name in zip(first_rows.tolist(), chosen.tolist(), strict=True):
                cluster_names[k] = name
    cell = rows * 2 + cols  # (example, system) flattened; -2/-1 for unpaired records
    scores = [r.scores for r in kept]
    named: set[str] = set().union(*scores)
    values_of: dict[str, NDArray[np.float64]] = {}
    for m in metrics:
        vals = _column(m, scores, kept, named)
        use = paired_mask & np.isfinite(vals)
        total = np.bincount(cell[use], weights=vals[use], minlength=2 * n)
        sums = total.astype(np.float64).reshape(n, 2)
        counts = np.bincount(cell[use], minlength=2 * n).astype(float).reshape(n, 2)
        values_of[m] = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    cluster = None
    if any(c is not None for c in cluster_names):
        labels = [
            c if c is not None else f"__id:{i}" for i, c in zip(both, cluster_names, strict=True)
        ]
        # Codes in sorted label order, as np.unique of the labels numbered them.
        code = {label: k for k, label in enumerate(sorted(set(labels)))}
        cluster = np.fromiter(map(code.__getitem__, labels), dtype=np.int64, count=n)
    examples = len(by_system["candidate"] | by_system["champion"])
    return Paired(
        both, values_of, category, cluster, problems, len(candidate) + len(champion), examples
    )


def _column(
    metric: str, scores: list[dict[str, float]], records: list[EvalRecord], named: set[str]
) -> NDArray[np.float64]:
    """One metric of every record, NaN where a record lacks it; a score wins over the
    built-in field (latency_ms, ...) of that name. ``named``: every score name there is."""
    if metric in named:
        try:  # the usual case, every record has it: a C-level loop
            return np.fromiter(map(itemgetter(metric), scores), dtype=float, count=len(scores))
        except KeyError:
            pass
    if metric in BUILTIN:
        fields = map(attrgetter(metric), records)
        if metric in named:
            raw = [sc.get(metric, v) for sc, v in zip(scores, fields, strict=True)]
        else:
            raw = list(fields)
    elif metric in named:
        raw = [sc.get(metric) for sc in scores]
    else:
        return np.full(len(scores), np.nan)
    return np.array(raw, dtype=float)  # None -> NaN


def _binary(v: NDArray[np.float64]) -> bool:
    return bool(np.all((v == 0) | (v == 1)))


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.4g}"


def _unit(v: NDArray[np.float64]) -> bool:
    return bool(np.all((v >= 0) & (v <= 1)))


def _spread(v: NDArray[np.float64], metric: str) -> float:
    """How far one pair can regress. A score: 1 when its values are all in [0, 1], else
    the range of both systems' values as observed but at least 1, so that a score just
    outside [0, 1] (or shifted out of it by a worse candidate) is never held to less.
    Latency, cost and tokens: the observed range (their largest magnitude when all are
    equal), since an unbounded metric has no range to rely on."""
    span = float(v.max() - v.min())
    if metric not in BUILTIN:
        return 1.0 if _unit(v) else max(span, 1.0)
    return span if span > 0 else float(np.abs(v).max()) or 1.0


def _min_n(allowed: float, v: NDArray[np.float64], metric: str, alpha: float) -> int | None:
    """paired.min_n_margin for an allowed regression (None when nothing is allowed: a
    hard rule, a superiority margin of 0, a free champion's ratio)."""
    return paired.min_n_margin(allowed, _spread(v, metric), alpha) if allowed > 0 else None


def _too_few(n: int, n_min: int, what: str) -> str:
    return f"{n} examples cannot resolve {what}: needs at least {n_min}"


def _p_t(t: float, df: float) -> float:
    """P(T > t): the one-sided p-value of a bound cleared by t standard errors."""
    if math.isfinite(t):
        return paired.t_sf(t, df)
    return 0.0 if t > 0 else 1.0


@dataclass
class _Resolve:
    """What the ALL rows tell about the margin the data resolve (GateVerdict.resolution)."""

    kind: str  # absolute | relative | ratio | hard
    margin: float  # the policy's, in the rule's unit
    se: float  # standard error of the row's statistic (log ratio for ratios)
    df: float
    scale: float  # relative margins: the champion's |mean|
    n_min: int | None  # examples the margin needs without assuming a distribution
    floor_margin: float  # the margin those examples' distribution-free bound resolves


def _rows_for(
    rule: GateMetric,
    name: str,
    vals: NDArray[np.float64],
    clusters: NDArray[np.int64] | None,
    policy: GatePolicy,
    resolve: list[tuple[GateRow, _Resolve]] | None = None,
) -> list[GateRow]:
    """The rows of one rule on one slice (one per floor / margin / improvement test).
    With ``resolve`` (the ALL slice), each margin row also leaves what it can resolve."""
    ok = np.isfinite(vals).all(axis=1)
    v = vals[ok]
    cl = clusters[ok] if clusters is not None else None
    n = int(v.shape[0])
    label = rule.metric if rule.statistic == "mean" else f"{rule.metric} {rule.statistic}"
    if n == 0:
        return [
            GateRow(
                metric=label,
                slice=name,
                rule="data",
                n=0,
                decision="inconclusive",
                reason="no example has this metric for both systems",
            )
        ]
    a = policy.alpha
    conf = 1 - 2 * a  # two-sided interval whose ends are one-sided alpha bounds
    sign = 1.0 if rule.direction == "higher_is_better" else -1.0
    cand, champ = v[:, 0], v[:, 1]
    rows: list[GateRow] = []
    # Percentiles, and relative ceilings such as cost (<= 2x), compare as ratios; a
    # relative margin on a score (accuracy within 2 %) stays a paired difference.
    ratio_rule = rule.margin is not None and (
        rule.statistic != "mean" or (rule.margin_kind == "relative" and sign < 0)
    )
    if ratio_rule:
        # Percentiles: paired bootstrap; means: studentised bootstrap of the log ratio,
        # by cluster when there are clusters. Higher-is-better allows down to
        # 1 - margin; lower-is-better up to 1 + margin.
        margin = float(rule.margin or 0.0)
        allowed = 1 + margin if sign < 0 else 1 - margin
        if rule.statistic == "mean":
            ci = paired.ratio_of_means(
                cand,
                champ,
                conf,
                allowed,
                clusters=cl,
                resamples=policy.bootstrap_resamples,
                seed=policy.seed,
            )
        else:
            ci = paired.bootstrap_ratio(
                cand,
                champ,
                rule.statistic,
                policy.bootstrap_resamples,
                policy.seed,
                conf,
                bound=allowed,
            )
        if rule.statistic == "mean":
            c_stat, h_stat = float(cand.mean()), float(champ.mean())
        else:
            q = float(rule.statistic[1:])
            c_stat, h_stat = float(np.percentile(cand, q)), float(np.percentile(champ, q))
        within, beyond = (
            (ci.high <= allowed, ci.low > allowed)
            if sign < 0
            else (
                ci.low >= allowed,
                ci.high < allowed,
            )
        )
        shown = f"ratio {ci.estimate:.3f} in [{ci.low:.3f}, {ci.high:.3f}]"
        if within:
            decision: Decision = "pass"
            why = f"{shown}, within {allowed:g}x"
        elif beyond:
            decision = "fail"
            why = f"{shown}, conclusively {'above' if sign < 0 else 'below'} {allowed:g}x"
        else:
            decision = "inconclusive"
            why = f"{shown} straddles {allowed:g}x"
        if rule.statistic != "mean":
            ratio_min: int | None = paired.min_n_quantile(float(rule.statistic[1:]) / 100, a)
            what = f"a {rule.statistic} without assuming a distribution"
        else:
            ratio_min = _min_n(margin * abs(h_stat), v, rule.metric, a)
            what = f"a margin of {margin * abs(h_stat):.4g} (x{allowed:g} the champion's mean)"
        ratio_need = None
        if ratio_min is not None and n < ratio_min and decision != "fail":
            # A fail is a regression shown beyond the margin; a pass needs enough data
            # to have been able to show one.
            decision, ratio_need = "inconclusive", ratio_min
            why += "; " + _too_few(n, ratio_min, what)
        # p-values of the same tests: "within" (p_value) and "beyond" (p_fail).
        p_ratio, p_beyond = (ci.p_above, ci.p_below) if sign < 0 else (ci.p_below, ci.p_above)
        row = GateRow(
            metric=label,
            slice=name,
            rule=f"{'<=' if sign < 0 else '>='} {allowed:g}x champion",
            n=n,
            candidate=c_stat,
            champion=h_stat,
            effect=ci.estimate,
            low=ci.low,
            high=ci.high,
            bound=allowed,
            p_value=p_ratio,
            p_fail=p_beyond,
            decision=decision,
            reason=why,
            needed_n=ratio_need,
        )
        rows.append(row)
        if resolve is not None and margin > 0:
            # The log ratio's standard error: the studentised one for means, from the
            # percentile interval's width for percentiles.
            if ci.se is not None:
                se_log, df = ci.se, ci.df or float(n - 1)
            elif ci.low > 0 and math.isfinite(ci.high) and ci.high > 0:
                se_log = math.log(ci.high / ci.low) / (2 * paired.z(1 - a))
                df = float(n - 1)
            else:
                se_log, df = math.inf, float(n - 1)
            resolve.append((row, _Resolve("ratio", margin, se_log, df, 1.0, ratio_min, 0.0)))
        if rule.statistic != "mean":
            return rows
    diff = cand - champ
    cand_mean, champ_mean = float(cand.mean()), float(champ.mean())
    if rule.floor is not None:
        clustered = False
        if _binary(cand) and cl is not None:
            ci = paired.clustered_proportion(cand, cl, conf)
            how, clustered = "clustered Clopper-Pearson", True
        elif _binary(cand):
            ci = paired.wilson(float(cand.sum()), n, conf)
            how = "Wilson"
        else:
            ci = paired.paired_mean_diff(cand, cl, conf)  # one-sample: the mean itself
            how = "t"
        lo, hi = (ci.low, ci.high) if sign > 0 else (-ci.high, -ci.low)
        bound = rule.floor * sign
        if lo >= bound:
            decision, why = (
                "pass",
                f"{how} bound {_fmt(ci.low if sign > 0 else ci.high)} clears {rule.floor:g}",
            )
        elif hi < bound:
            decision, why = (
                "fail",
                f"conclusively {'below' if sign > 0 else 'above'} {rule.floor:g}: "
                f"{how} interval [{_fmt(ci.low)}, {_fmt(ci.high)}]",
            )
        else:
            decision, why = (
                "inconclusive",
                f"{how} interval [{_fmt(ci.low)}, {_fmt(ci.high)}] straddles {rule.floor:g}",
            )
        if clustered and ci.n_eff is not None:
            why += f" (effective n {ci.n_eff:.0f} of {n}: examples share clusters)"
        # A score in [0, 1] is held to what a 0/1 score could show: a perfect one clears
        # the floor by Wilson only from floor_min examples (a t interval of identical
        # values, [m, m], would pass at any n).
        floor_min = (
            paired.min_n_proportion(rule.floor if sign > 0 else 1 - rule.floor, conf)
            if rule.metric not in BUILTIN and _unit(cand)
            else None
        )
        floor_need = None
        if floor_min is not None and n < floor_min and decision != "fail":
            decision, floor_need = "inconclusive", floor_min
            why += "; " + _too_few(n, floor_min, f"a floor of {rule.floor:g}")
        if _binary(cand) and rule.hard:
            failures = int(n - cand.sum()) if sign > 0 else int(cand.sum())
            if failures == 0:
                bound3 = paired.rule_of_three(n)
                why += f"; 0 failures in {n}: failure rate <= {bound3:.2%} (95 %, rule of three)"
            else:
                why += f"; {failures} failures in {n}"
        # The p-values of the tests the interval came from, so Holm agrees with it:
        # "clears the floor" (p_value) and "conclusively on the wrong side" (p_fail).
        if clustered and ci.n_eff is not None:
            p = paired.exact_p(cand_mean, ci.n_eff, rule.floor, sign)
            p_wrong = paired.exact_p(cand_mean, ci.n_eff, rule.floor, -sign)
        elif _binary(cand):
            p = paired.score_test_p(float(cand.sum()), n, rule.floor, sign)
            p_wrong = paired.score_test_p(float(cand.sum()), n, rule.floor, -sign)
        elif ci.se:
            t_floor = (cand_mean - rule.floor) * sign / ci.se
            p, p_wrong = _p_t(t_floor, ci.df or 1.0), _p_t(-t_floor, ci.df or 1.0)
        else:
            above = (cand_mean - rule.floor) * sign
            p = 0.0 if above > 0 else 1.0
            p_wrong = 0.0 if above < 0 else 1.0
        rows.append(
            GateRow(
                metric=label,
                slice=name,
                rule=f"{'>=' if sign > 0 else '<='} {rule.floor:g}",
                n=n,
                candidate=cand_mean,
                champion=champ_mean,
                low=ci.low,
                high=ci.high,
                bound=rule.floor,
                p_value=p,
                p_fail=p_wrong,
                decision=decision,
                reason=why,
                needed_n=floor_need,
            )
        )
    margins: list[tuple[str, float]] = []
    if (rule.margin is not None and not ratio_rule) or rule.hard:
        m = 0.0 if rule.hard else float(rule.margin or 0.0)
        if rule.margin_kind == "relative":
            m *= abs(champ_mean)
        margins.append(("non-inferiority", m))
    if rule.min_improvement is not None:
        margins.append(("improvement", -rule.min_improvement * abs(champ_mean)))
    for kind, m in margins:
        # The difference the row must resolve: the allowed regression, or the required
        # improvement (none for hard rules, which pass unless a regression is shown).
        hard = rule.hard and kind == "non-inferiority"
        n_min = None if hard else _min_n(abs(m), v, rule.metric, a)
        short = n_min is not None and n < n_min
        ci = paired.paired_mean_diff(sign * diff, cl, conf)  # oriented: > 0 is better
        bound = -m
        se = ci.se or 0.0
        if ci.low > bound:
            decision = "pass"
        elif ci.high < bound:
            decision = "fail"
        else:
            decision = "inconclusive"
        if hard and decision == "inconclusive":
            # Hard gates allow no regression: pass unless one is shown.
            decision = "pass"
        if short and decision == "pass":
            decision = "inconclusive"
        t = (
            (ci.estimate - bound) / se
            if se > 0
            else (math.inf if ci.estimate > bound else -math.inf if ci.estimate < bound else 0.0)
        )
        # "No worse than the margin" (p_value) and "worse beyond it" (p_fail, the test a
        # fail rests on, corrected by Holm with every other row's).
        p_margin: float | None = _p_t(t, ci.df or 1.0) if se > 0 or t != 0 else 1.0
        p_worse = _p_t(-t, ci.df or 1.0) if se > 0 or t != 0 else 1.0
        if hard:
            p_margin = None  # no claim to test: a hard rule passes unless a regression shows
        mde = (paired.z(1 - a) + paired.z(policy.power)) * se if se > 0 else None
        need = None
        if decision == "inconclusive":
            need = paired.needed_n(n, se, abs(m) if m else (mde or 0.0), a, policy.power)
            if short and n_min is not None:
                need = max(need, n_min)
            if need <= n:  # the difference sits at the margin: n is not what is missing
                need = None
        what = "no worse than" if kind == "non-inferiority" else "better than"
        margin_text = f"{abs(m):.4g}" if kind == "non-inferiority" else f"{-m:.4g}"
        lo_shown = ci.low if sign > 0 else -ci.high
        hi_shown = ci.high if sign > 0 else -ci.low
        why = (
            f"paired difference {sign * ci.estimate:+.4g} (candidate {_fmt(cand_mean)} vs "
            f"champion {_fmt(champ_mean)}), interval [{_fmt(lo_shown)}, {_fmt(hi_shown)}]; "
            f"must be {what} the champion by {margin_text}"
        )
        if decision == "inconclusive":
            if mde is not None:
                why += f"; detects {mde:.3g} at n={n}"
            if short and n_min is not None:
                what = (
                    f"a {'margin' if kind == 'non-inferiority' else 'difference'} of {abs(m):.4g}"
                )
                why += "; " + _too_few(n, n_min, what)
            elif need is not None:
                why += f", needs ~{need} examples"
        row = GateRow(
            metric=label,
            slice=name,
            rule=kind,
            n=n,
            candidate=cand_mean,
            champion=champ_mean,
            effect=float(diff.mean()),
            low=ci.low * sign,
            high=ci.high * sign,
            bound=bound * sign,
            p_value=p_margin,
            p_fail=p_worse,
            decision=decision,
            reason=why,
            mde=mde,
            needed_n=need,
        )
        rows.append(row)
        if resolve is not None and kind == "non-inferiority":
            spread = _spread(v, rule.metric)
            relative = rule.margin_kind == "relative" and not hard
            resolve.append(
                (
                    row,
                    _Resolve(
                        "hard" if hard else rule.margin_kind,
                        0.0 if hard else float(rule.margin or 0.0),
                        se,
                        ci.df or float(n - 1),
                        abs(champ_mean) if relative else 1.0,
                        n_min,
                        spread * (1 - a ** (1 / n)),
                    ),
                )
            )
    return rows


def _resolution(row: GateRow, r: _Resolve, policy: GatePolicy) -> Resolution:
    """The margin one ALL row resolves: the smallest margin of the rule's kind that an
    equally good candidate would pass with the policy's power at this n (and the
    distribution-free minimum), the chance it passes the policy's margin, and the
    examples that margin needs."""
    a, power = policy.alpha, policy.power
    q = paired.t_ppf(1 - a, r.df)
    k = q + paired.z(power)
    n = row.n
    short = r.n_min is not None and n < r.n_min
    resolvable: float | None
    chance: float | None
    needed: int | None = None
    if r.kind == "ratio":
        lower = row.rule.startswith("<=")
        log_margin = math.log1p(r.margin) if lower else -math.log1p(-min(r.margin, 1 - 1e-12))
        if math.isfinite(r.se) and r.se > 0:
            resolvable = math.expm1(k * r.se) if lower else -math.expm1(-k * r.se)
            chance = _norm_cdf(log_margin / r.se - q)
            needed = math.ceil(n * (k * r.se / log_margin) ** 2)
        elif r.se == 0:
            resolvable, chance = 0.0, 1.0
        else:
            resolvable, chance = None, None
    else:
        resolvable = max(k * r.se, r.floor_margin) / (r.scale or 1.0)
        m_abs = r.margin * r.scale
        if r.kind == "hard":
            chance = None  # a hard rule passes unless a regression shows
        elif r.se > 0:
            chance = _norm_cdf(m_abs / r.se - q)
            needed = paired.needed_n(n, r.se, m_abs, a, power) if m_abs > 0 else None
        else:
            chance = 1.0
    if short and r.kind != "hard":
        chance = 0.0
    if needed is not None or short:
        needed = max(needed or 0, r.n_min or 0) or None
    if needed is not None and needed <= n:
        needed = None
    warn = r.kind != "hard" and resolvable is not None and r.margin < resolvable
    return Resolution(
        metric=row.metric,
        rule=row.rule,
        n=n,
        margin_kind=r.kind,
        margin=r.margin,
        resolvable=resolvable,
        power=power,
        pass_chance=chance,
        needed_n=needed if warn or short else None,
        warning=warn,
    )


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _warning(r: Resolution) -> str:
    unit = {"absolute": "", "relative": " relative", "ratio": " relative (ratio)"}
    kind = unit.get(r.margin_kind, "")
    text = (
        f"{r.metric} {r.rule}: the margin {r.margin:.4g}{kind} is below what {r.n} examples "
        f"resolve, {_fmt(r.resolvable)} at power {r.power:g}"
    )
    if r.pass_chance is not None:
        text += f": an equally good candidate passes this row about {r.pass_chance:.0%} of the time"
    if r.needed_n is not None:
        text += f"; the margin needs about {r.needed_n} examples"
    return text


def evaluate(
    candidate: list[EvalRecord],
    champion: list[EvalRecord],
    problems: Problems,
    policy: GatePolicy,
) -> GateVerdict:
    metrics = list(dict.fromkeys(r.metric for r in policy.metrics))
    everyone = (*candidate, *champion)
    named: set[str] = set().union(*(r.scores for r in everyone))

    def present_as_field(m: str) -> bool:  # only for the fields a rule names: 200k reads
        return m in BUILTIN and any(getattr(r, m) is not None for r in everyone)

    for i, rule in enumerate(policy.metrics):
        if rule.metric not in named and not present_as_field(rule.metric):
            present = named | {m for m in BUILTIN if present_as_field(m)}
            raise InvalidReleaseRequest(
                f"gate.metrics.{i}.metric",
                f"a metric present in the eval records (found: {sorted(present)})",
                rule.metric,
            )
    data = pair(candidate, champion, metrics, problems)
    rows: list[GateRow] = []
    slices: list[tuple[str, NDArray[np.bool_]]] = [("ALL", np.ones(len(data.ids), dtype=bool))]
    if policy.slices:
        # Categories as integer codes once: 20 comparisons of 100k Python objects were
        # a tenth of a second.
        names = sorted({c for c in data.category if c is not None})
        code = {c: k for k, c in enumerate(names)}
        codes = np.fromiter(map(code.get, data.category, repeat(-1)), np.int64, len(data.ids))
        for k, cat in enumerate(names):
            slices.append((str(cat), codes == k))
    resolve: list[tuple[GateRow, _Resolve]] = []
    for rule in policy.metrics:
        for name, mask in slices:
            if name != "ALL" and int(mask.sum()) < policy.min_slice_size:
                rows.append(
                    GateRow(
                        metric=rule.metric,
                        slice=name,
                        rule="slice size",
                        n=int(mask.sum()),
                        decision="skipped",
                        reason=f"{int(mask.sum())} examples < min_slice_size "
                        f"{policy.min_slice_size}",
                        required=False,
                    )
                )
                continue
            cl = data.cluster[mask] if data.cluster is not None else None
            found = _rows_for(
                rule,
                name,
                data.values[rule.metric][mask],
                cl,
                policy,
                resolve if name == "ALL" else None,
            )
            if name != "ALL" and not policy.slices_must_pass:
                # A slice too small to show non-inferiority would hold every release;
                # slices are there to catch a regression the whole set hides, which a
                # fail shows (docs/eval-gate.md).
                found = [r.model_copy(update={"required": False}) for r in found]
            rows.extend(found)
    # Holm's step-down across every fail test of the table (metrics x slices x rules):
    # one fail fails the gate, so the family-wise false-fail rate is what must stay at
    # alpha. A fail it does not confirm is inconclusive; for a hard rule, which passes
    # unless a regression is shown, a pass.
    tested = [i for i, r in enumerate(rows) if r.p_fail is not None]
    confirmed = paired.holm([float(rows[i].p_fail or 0.0) for i in tested], policy.alpha)
    for i, ok in zip(tested, confirmed, strict=True):
        r = rows[i]
        if r.decision == "fail" and not ok:
            hard = r.rule == "non-inferiority" and r.p_value is None
            rows[i] = r.model_copy(
                update={
                    "decision": "pass" if hard else "inconclusive",
                    "reason": r.reason
                    + f"; {'a regression is not shown' if hard else 'not conclusive'} after "
                    f"Holm's correction across {len(tested)} fail tests (p={r.p_fail:.3g})",
                }
            )
    # A pass needs every required row to pass at alpha: an intersection-union test,
    # whose false-pass rate is at most alpha with no correction (Berger 1982), so the
    # passes are not adjusted.
    resolution = [_resolution(row, r, policy) for row, r in resolve]
    warnings = [_warning(r) for r in resolution if r.warning]
    # Missing pairs are per example, the rest per record: each against its own total,
    # so the limit means the same with 1 repeat or 10.
    examples = max(1, data.examples)
    missing = problems.counts.get("missing pair", 0)
    per_record = sum(n for k, n in problems.counts.items() if k != "missing pair")
    total = max(1, data.records)
    fails = [r for r in rows if r.decision == "fail"]
    open_ = [r for r in rows if r.decision == "inconclusive" and r.required]
    limit = policy.max_problem_fraction
    if not data.ids:
        verdict, reason = "fail", "no paired examples: every id is in one system only"
    elif missing / examples > limit or per_record / total > limit:
        verdict = "fail"
        reason = (
            f"data problems above {limit:.1%}: {missing} of {examples} examples lack a pair, "
            f"{per_record} problems in {total} records ("
            + ", ".join(f"{k} {v}" for k, v in problems.counts.items())
            + ")"
        )
    elif fails:
        verdict = "fail"
        reason = "; ".join(f"{r.metric} [{r.slice}] {r.rule}: {r.reason}" for r in fails[:5])
    elif open_:
        verdict = "inconclusive"
        reason = "; ".join(f"{r.metric} [{r.slice}] {r.rule}: {r.reason}" for r in open_[:5])
    else:
        # Skipped rows (slices below min_slice_size) decided nothing, and slice rows
        # that could not show non-inferiority only looked for a regression: say so,
        # rather than count them among the rows that pass.
        skipped = sum(1 for r in rows if r.decision == "skipped")
        unresolved = sum(1 for r in rows if r.decision == "inconclusive")
        verdict = "pass"
        if unresolved:
            required = sum(1 for r in rows if r.required)
            reason = (
                f"all {required} required rows pass on {len(data.ids)} paired examples; "
                f"{unresolved} slice rows show no regression but cannot show "
                "non-inferiority (slices fail on a shown regression only)"
            )
        elif skipped:
            n_rows = len(rows) - skipped
            reason = f"all {n_rows} tested rows pass on {len(data.ids)} paired examples"
        else:
            reason = f"all {len(rows)} rows pass on {len(data.ids)} paired examples"
        if skipped:
            reason += (
                f"; {skipped} rows skipped (slices below min_slice_size {policy.min_slice_size})"
            )
    return GateVerdict(
        verdict=verdict,
        reason=reason,
        rows=rows,
        problems=dict(problems.counts),
        problem_examples=problems.examples,
        pairs=len(data.ids),
        records=data.records,
        policy_alpha=policy.alpha,
        resolution=resolution,
        warnings=warnings,
    )


def markdown(v: GateVerdict, title: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"**Verdict: {v.verdict.upper()}** — {v.reason}",
        "",
        f"{v.pairs} paired examples from {v.records} records; alpha {v.policy_alpha} "
        "(one-sided; fails Holm-corrected across the table, a pass needs every required "
        "row).",
        "",
    ]
    if v.resolution:
        lines += [
            "What these examples resolve (an equally good candidate, at the policy's power):",
            "",
        ]
        for res in v.resolution:
            if res.margin_kind == "hard":
                lines.append(
                    f"- {res.metric} {res.rule} (hard): detects a regression of "
                    f"{_fmt(res.resolvable)} at n={res.n}"
                )
                continue
            chance = (
                "" if res.pass_chance is None else f", passes {res.pass_chance:.0%} of the time"
            )
            lines.append(
                f"- {res.metric} {res.rule}: margin {res.margin:.4g} ({res.margin_kind}), resolves "
                f"{_fmt(res.resolvable)} at n={res.n}{chance}"
                + (" — **too small**" if res.warning else "")
            )
        lines.append("")
    for w in v.warnings:
        lines += [f"> Warning: {w}", ""]
    lines += [
        "| metric | slice | rule | n | candidate | champion | effect | interval | decision "
        "| reason |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in v.rows:
        interval = f"[{_fmt(r.low)}, {_fmt(r.high)}]" if r.low is not None else ""
        decision = r.decision if r.required or r.decision != "inconclusive" else "no regression"
        lines.append(
            f"| {r.metric} | {r.slice} | {r.rule} | {r.n} | {_fmt(r.candidate)} | "
            f"{_fmt(r.champion)} | {_fmt(r.effect)} | {interval} | {decision} | {r.reason} |"
        )
    if v.problems:
        lines += ["", "Data problems: " + ", ".join(f"{k}: {n}" for k, n in v.problems.items())]
    return "\n".join(lines) + "\n"
