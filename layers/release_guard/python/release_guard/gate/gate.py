"""The eval gate: is the candidate no worse than the champion, by more than we accept?

Records of both systems are reduced to one value per example (repeats averaged), paired
by id. Per metric, and per slice (``category``) large enough to judge, each rule is a
one-sided test; Holm's correction runs across the whole table. A row passes only when
its bound clears the floor or margin, fails when the regression is conclusively larger,
and is inconclusive otherwise (with the effect it could detect and the examples it
would need). Data problems above the policy's limit fail the gate with their counts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
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
    p_value: float | None = None
    mde: float | None = None
    needed_n: int | None = None


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


def _value(record: EvalRecord, metric: str) -> float | None:
    if metric in record.scores:
        return record.scores[metric]
    if metric in BUILTIN:
        v = getattr(record, metric)
        return None if v is None else float(v)
    return None


def pair(
    candidate: list[EvalRecord],
    champion: list[EvalRecord],
    metrics: list[str],
    problems: Problems,
) -> Paired:
    """Average repeats, drop duplicates (counted), keep ids present in both systems
    (the others counted as missing pairs)."""
    seen: set[tuple[str, str, int]] = set()
    kept: list[EvalRecord] = []
    for r in (*candidate, *champion):
        key = (r.system, r.id, r.sample_index)
        if key in seen:
            problems.add("duplicate id", f"{r.system} {r.id} sample {r.sample_index}")
            continue
        seen.add(key)
        kept.append(r)
    by_system = {s: {r.id for r in kept if r.system == s} for s in ("candidate", "champion")}
    both = sorted(by_system["candidate"] & by_system["champion"])
    for s, other in (("candidate", "champion"), ("champion", "candidate")):
        for missing in sorted(by_system[s] - by_system[other])[:1000]:
            problems.add("missing pair", f"id {missing} has no {other} record")
        extra = len(by_system[s] - by_system[other]) - 1000
        if extra > 0:
            problems.counts["missing pair"] += extra
    index = {i: k for k, i in enumerate(both)}
    n = len(both)
    category = np.full(n, None, dtype=object)
    cluster_names: list[str | None] = [None] * n
    rows = np.fromiter((index.get(r.id, -1) for r in kept), dtype=np.int64, count=len(kept))
    cols = np.fromiter((r.system == "champion" for r in kept), dtype=np.int64, count=len(kept))
    for r, k in zip(kept, rows, strict=True):
        if k >= 0:
            if category[k] is None and r.category is not None:
                category[k] = r.category
            if cluster_names[k] is None and r.cluster_id is not None:
                cluster_names[k] = r.cluster_id
    cell = rows * 2 + cols  # (example, system) flattened; -2/-1 for unpaired records
    paired_mask = rows >= 0
    sums: dict[str, NDArray[np.float64]] = {}
    counts: dict[str, NDArray[np.float64]] = {}
    for m in metrics:
        raw = [_value(r, m) for r in kept]
        vals = np.array(raw, dtype=float)  # None -> NaN
        use = paired_mask & np.isfinite(vals)
        total = np.bincount(cell[use], weights=vals[use], minlength=2 * n)
        sums[m] = total.astype(np.float64).reshape(n, 2)
        counts[m] = np.bincount(cell[use], minlength=2 * n).astype(float).reshape(n, 2)
    values = {
        m: np.where(counts[m] > 0, sums[m] / np.where(counts[m] > 0, counts[m], 1), np.nan)
        for m in metrics
    }
    cluster = None
    if any(c is not None for c in cluster_names):
        labels = [
            c if c is not None else f"__id:{i}" for i, c in zip(both, cluster_names, strict=True)
        ]
        _, inv = np.unique(np.array(labels, dtype=object).astype(str), return_inverse=True)
        cluster = inv.astype(np.int64)
    examples = len(by_system["candidate"] | by_system["champion"])
    return Paired(
        both, values, category, cluster, problems, len(candidate) + len(champion), examples
    )


def _binary(v: NDArray[np.float64]) -> bool:
    return bool(np.all((v == 0) | (v == 1)))


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.4g}"


def _rows_for(
    rule: GateMetric,
    name: str,
    vals: NDArray[np.float64],
    clusters: NDArray[np.int64] | None,
    policy: GatePolicy,
) -> list[GateRow]:
    """The rows of one rule on one slice (one per floor / margin / improvement test)."""
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
        # Percentiles and relative margins: candidate / champion, paired bootstrap.
        # Higher-is-better allows down to 1 - margin; lower-is-better up to 1 + margin.
        margin = float(rule.margin or 0.0)
        allowed = 1 + margin if sign < 0 else 1 - margin
        if rule.statistic == "mean":
            ci = paired.ratio_of_means(cand, champ, conf, allowed)
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
        # The bootstrap p-value of the same test: the share of resamples on the wrong side.
        p_ratio = ci.p_above if sign < 0 else (1.0 - (ci.p_above or 0.0))
        rows.append(
            GateRow(
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
                decision=decision,
                reason=why,
            )
        )
        if rule.statistic != "mean":
            return rows
    diff = cand - champ
    cand_mean, champ_mean = float(cand.mean()), float(champ.mean())
    if rule.floor is not None:
        if _binary(cand):
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
        if _binary(cand) and rule.hard:
            failures = int(n - cand.sum()) if sign > 0 else int(cand.sum())
            if failures == 0:
                bound3 = paired.rule_of_three(n)
                why += f"; 0 failures in {n}: failure rate <= {bound3:.2%} (95 %, rule of three)"
            else:
                why += f"; {failures} failures in {n}"
        # The p-value of the test the interval came from, so Holm agrees with it.
        if _binary(cand):
            p = paired.score_test_p(float(cand.sum()), n, rule.floor, sign)
        elif ci.se:
            p = paired.t_sf((cand_mean - rule.floor) * sign / ci.se, ci.df or 1.0)
        else:
            p = 0.0 if (cand_mean - rule.floor) * sign > 0 else 1.0
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
                decision=decision,
                reason=why,
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
        ci = paired.paired_mean_diff(sign * diff, cl, conf)  # oriented: > 0 is better
        bound = -m
        se = ci.se or 0.0
        if ci.low > bound:
            decision = "pass"
        elif ci.high < bound:
            decision = "fail"
        else:
            decision = "inconclusive"
        hard_rule = kind == "non-inferiority" and rule.hard
        if hard_rule and decision == "inconclusive":
            # Hard gates allow no regression: pass unless one is shown.
            decision = "pass" if ci.high >= 0 else "fail"
        t = (
            (ci.estimate - bound) / se
            if se > 0
            else (math.inf if ci.estimate > bound else -math.inf)
        )
        p_margin: float | None = (
            paired.t_sf(t, ci.df or 1.0) if math.isfinite(t) else (0.0 if t > 0 else 1.0)
        )
        if hard_rule:
            p_margin = None  # not a test to correct: a shown regression fails, else passes
        mde = (paired.z(1 - a) + paired.z(policy.power)) * se if se > 0 else None
        need = (
            paired.needed_n(n, se, abs(m) if m else (mde or 0.0), a, policy.power)
            if decision == "inconclusive"
            else None
        )
        what = "no worse than" if kind == "non-inferiority" else "better than"
        margin_text = f"{abs(m):.4g}" if kind == "non-inferiority" else f"{-m:.4g}"
        lo_shown = ci.low if sign > 0 else -ci.high
        hi_shown = ci.high if sign > 0 else -ci.low
        why = (
            f"paired difference {sign * ci.estimate:+.4g} (candidate {_fmt(cand_mean)} vs "
            f"champion {_fmt(champ_mean)}), interval [{_fmt(lo_shown)}, {_fmt(hi_shown)}]; "
            f"must be {what} the champion by {margin_text}"
        )
        if decision == "inconclusive" and mde is not None:
            why += f"; detects {mde:.3g} at n={n}, needs ~{need} examples"
        rows.append(
            GateRow(
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
                decision=decision,
                reason=why,
                mde=mde,
                needed_n=need,
            )
        )
    return rows


def evaluate(
    candidate: list[EvalRecord],
    champion: list[EvalRecord],
    problems: Problems,
    policy: GatePolicy,
) -> GateVerdict:
    metrics = list(dict.fromkeys(r.metric for r in policy.metrics))
    present = {m for r in (*candidate, *champion) for m in r.scores} | {
        m for m in BUILTIN if any(getattr(r, m) is not None for r in (*candidate, *champion))
    }
    for i, rule in enumerate(policy.metrics):
        if rule.metric not in present:
            raise InvalidReleaseRequest(
                f"gate.metrics.{i}.metric",
                f"a metric present in the eval records (found: {sorted(present)})",
                rule.metric,
            )
    data = pair(candidate, champion, metrics, problems)
    rows: list[GateRow] = []
    slices: list[tuple[str, NDArray[np.bool_]]] = [("ALL", np.ones(len(data.ids), dtype=bool))]
    if policy.slices:
        names = Counter(c for c in data.category if c is not None)
        for cat in sorted(names):
            slices.append((str(cat), data.category == cat))
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
                    )
                )
                continue
            cl = data.cluster[mask] if data.cluster is not None else None
            rows.extend(_rows_for(rule, name, data.values[rule.metric][mask], cl, policy))
    # Holm across every tested row: a pass must survive the correction.
    tested = [i for i, r in enumerate(rows) if r.p_value is not None]
    rejected = paired.holm([float(rows[i].p_value or 0.0) for i in tested], policy.alpha)
    for i, ok in zip(tested, rejected, strict=True):
        r = rows[i]
        if r.decision == "pass" and not ok:
            rows[i] = r.model_copy(
                update={
                    "decision": "inconclusive",
                    "reason": r.reason
                    + f"; not significant after Holm's correction (p={r.p_value:.3g})",
                }
            )
    # Missing pairs are per example, the rest per record: each against its own total,
    # so the limit means the same with 1 repeat or 10.
    examples = max(1, data.examples)
    missing = problems.counts.get("missing pair", 0)
    per_record = sum(n for k, n in problems.counts.items() if k != "missing pair")
    total = max(1, data.records)
    fails = [r for r in rows if r.decision == "fail"]
    open_ = [r for r in rows if r.decision == "inconclusive"]
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
        verdict, reason = "pass", f"all {len(rows)} rows pass on {len(data.ids)} paired examples"
    return GateVerdict(
        verdict=verdict,
        reason=reason,
        rows=rows,
        problems=dict(problems.counts),
        problem_examples=problems.examples,
        pairs=len(data.ids),
        records=data.records,
        policy_alpha=policy.alpha,
    )


def markdown(v: GateVerdict, title: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"**Verdict: {v.verdict.upper()}** — {v.reason}",
        "",
        f"{v.pairs} paired examples from {v.records} records; alpha {v.policy_alpha} "
        "(one-sided, Holm across the table).",
        "",
        "| metric | slice | rule | n | candidate | champion | effect | interval | decision "
        "| reason |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in v.rows:
        interval = f"[{_fmt(r.low)}, {_fmt(r.high)}]" if r.low is not None else ""
        lines.append(
            f"| {r.metric} | {r.slice} | {r.rule} | {r.n} | {_fmt(r.candidate)} | "
            f"{_fmt(r.champion)} | {_fmt(r.effect)} | {interval} | {r.decision} | {r.reason} |"
        )
    if v.problems:
        lines += ["", "Data problems: " + ", ".join(f"{k}: {n}" for k, n in v.problems.items())]
    return "\n".join(lines) + "\n"
