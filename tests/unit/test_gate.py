"""The eval gate's decisions end to end on realistic paired records (evaldata): rows per
metric x slice x rule, Holm across the table, data problems, and the policy's shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from release_guard.errors import InvalidReleaseRequest
from release_guard.gate.gate import GateRow, GateVerdict, evaluate, markdown
from release_guard.gate.records import EvalRecord, Problems
from release_guard.policy import GateMetric, GatePolicy, parse_policy
from release_guard.stats import paired
from release_guard_cli import evaldata
from scipy import stats

URIS = {"candidate_uri": "s3://bucket/evals/c.jsonl", "champion_uri": "s3://bucket/evals/h.jsonl"}
MARGINS = [
    GateMetric(metric="accuracy", margin=0.06),
    GateMetric(metric="relevance", margin=0.02),
]


def gate_policy(**changes: Any) -> GatePolicy:
    return GatePolicy.model_validate({**URIS, **changes})


def run(candidate: list[EvalRecord], champion: list[EvalRecord], **policy: Any) -> GateVerdict:
    return evaluate(candidate, champion, Problems(), gate_policy(**policy))


def rows(v: GateVerdict, metric: str | None = None, slice_: str | None = None) -> list[GateRow]:
    return [
        r
        for r in v.rows
        if (metric is None or r.metric == metric) and (slice_ is None or r.slice == slice_)
    ]


def one(v: GateVerdict, metric: str, slice_: str = "ALL", rule: str | None = None) -> GateRow:
    found = [r for r in rows(v, metric, slice_) if rule is None or r.rule == rule]
    assert len(found) == 1, [(r.metric, r.slice, r.rule) for r in v.rows]
    return found[0]


def relabel(records: list[EvalRecord], system: str) -> list[EvalRecord]:
    return [r.model_copy(update={"system": system}) for r in records]


def scored(system: str, values: dict[str, np.ndarray], **fields: Any) -> list[EvalRecord]:
    n = len(next(iter(values.values())))
    return [
        EvalRecord(
            id=f"ex-{i:04d}",
            system=system,
            scores={m: float(v[i]) for m, v in values.items()},
            **{k: (f[i] if isinstance(f, list | np.ndarray) else f) for k, f in fields.items()},
        )
        for i in range(n)
    ]


def exact(rng: np.random.Generator, n: int, mean: float, sd: float) -> np.ndarray:
    """n values with exactly this sample mean and standard deviation (ddof=1)."""
    x = rng.normal(0, 1, n)
    x = (x - x.mean()) / x.std(ddof=1)
    return mean + sd * x


# --- the policy -------------------------------------------------------------------------


def test_default_gate_policy_is_common_practice() -> None:
    p = gate_policy()
    by = {(m.metric, m.statistic): m for m in p.metrics}
    assert by[("format_validity", "mean")].floor == 0.95
    assert by[("relevance", "mean")].floor == 0.80
    safety = by[("safety", "mean")]
    assert (safety.floor, safety.hard) == (0.99, True)
    acc = by[("accuracy", "mean")]
    assert (acc.margin, acc.margin_kind, acc.direction) == (0.02, "relative", "higher_is_better")
    lat = by[("latency_ms", "p95")]
    assert (lat.margin, lat.margin_kind, lat.direction) == (0.10, "relative", "lower_is_better")
    cost = by[("cost_usd", "mean")]
    assert (cost.margin, cost.margin_kind, cost.direction) == (1.0, "relative", "lower_is_better")
    assert (p.alpha, p.min_slice_size, p.max_problem_fraction) == (0.05, 30, 0.02)


def _release_policy(metric: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "t-1",
        "gate": {**URIS, "metrics": [{"metric": "relevance", "floor": 0.8}, metric]},
    }


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"metric": "accuracy", "margin": -0.02}, "policy.gate.metrics.1.margin"),
        (
            {"metric": "accuracy", "margin": 0.02, "min_improvement": -0.01},
            "policy.gate.metrics.1.min_improvement",
        ),
        ({"metric": "accuracy"}, "policy.gate.metrics.1"),
        (
            {"metric": "latency_ms", "statistic": "p95", "margin": 0.1},
            "policy.gate.metrics.1",
        ),
        ({"metric": "accuracy", "margin": 0.02, "bogus": 1}, "policy.gate.metrics.1.bogus"),
    ],
)
def test_a_bad_gate_rule_is_rejected_naming_the_field(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidReleaseRequest) as err:
        parse_policy(_release_policy(rule))
    assert err.value.field == field


def test_no_gate_in_the_policy_means_no_gate() -> None:
    assert parse_policy({"version": "t-1"}).gate is None


# --- decisions on evaldata records ------------------------------------------------------


def test_identical_records_pass_every_margin_and_ratio_rule() -> None:
    champion = evaldata.records("champion", n=400)
    candidate = relabel(champion, "candidate")
    metrics = [
        *MARGINS,
        GateMetric(metric="accuracy", margin=0.02, margin_kind="relative"),
        GateMetric(
            metric="latency_ms",
            statistic="p95",
            direction="lower_is_better",
            margin=0.1,
            margin_kind="relative",
        ),
        GateMetric(
            metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
        ),
    ]
    v = run(candidate, champion, metrics=metrics)
    assert v.verdict == "pass", v.reason
    assert v.pairs == 400 and v.records == 1600
    assert all(r.decision == "pass" for r in v.rows)
    assert {r.effect for r in v.rows if r.rule == "non-inferiority"} == {0.0}
    assert {r.effect for r in v.rows if r.rule.endswith("x champion")} == {1.0}
    assert len(v.rows) == 5 * 5  # 5 rules x (ALL + 4 categories)


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_systems_of_equal_quality_pass_the_margin_rules(seed: int) -> None:
    # 750 examples a category: the 90 % bound of a zero difference is about -0.02.
    candidate = evaldata.records("candidate", n=3000, seed=seed)
    champion = evaldata.records("champion", n=3000, seed=seed)
    v = run(candidate, champion, metrics=MARGINS)
    assert v.verdict == "pass", v.reason
    assert [r.slice for r in rows(v, "accuracy")] == [
        "ALL",
        "account",
        "billing",
        "returns",
        "shipping",
    ]
    assert all(r.decision == "pass" and r.rule == "non-inferiority" for r in v.rows)
    assert v.reason == "all 10 rows pass on 3000 paired examples"


def test_worse_accuracy_in_one_category_fails_that_slice_and_the_verdict() -> None:
    candidate = evaldata.records("candidate", n=2000, accuracy={"returns": 0.72})
    champion = evaldata.records("champion", n=2000)
    v = run(candidate, champion, metrics=MARGINS)
    assert v.verdict == "fail"
    returns = one(v, "accuracy", "returns")
    assert returns.decision == "fail"
    assert returns.high is not None and returns.high < -0.06  # conclusively beyond the margin
    assert returns.effect is not None and returns.effect < -0.1
    for other in ("account", "billing", "shipping"):
        assert one(v, "accuracy", other).decision == "pass", other
    assert all(r.decision == "pass" for r in rows(v, "relevance"))
    assert "accuracy [returns] non-inferiority" in v.reason
    assert "accuracy [account]" not in v.reason


def test_a_small_slice_is_skipped_and_the_others_judged() -> None:
    champion = evaldata.records("champion", n=3000)
    candidate = evaldata.records("candidate", n=3000)

    def rare(rs: list[EvalRecord]) -> list[EvalRecord]:
        # 12 examples of a new category: too few to judge (min_slice_size 30).
        return [
            r.model_copy(update={"category": "warranty"}) if int(r.id[3:]) < 12 else r for r in rs
        ]

    v = run(rare(candidate), rare(champion), metrics=MARGINS)
    skipped = one(v, "accuracy", "warranty")
    assert skipped.decision == "skipped" and skipped.rule == "slice size"
    assert skipped.n == 12
    assert skipped.reason == "12 examples < min_slice_size 30"
    assert skipped.p_value is None  # not part of Holm's family
    assert one(v, "relevance", "warranty").decision == "skipped"
    assert one(v, "accuracy", "ALL").n == 3000  # the slice's examples still count overall
    assert v.verdict == "pass", v.reason
    # With slices off, only ALL is judged.
    flat = run(rare(candidate), rare(champion), metrics=MARGINS, slices=False)
    assert [(r.metric, r.slice) for r in flat.rows] == [("accuracy", "ALL"), ("relevance", "ALL")]


def _marginal_floor_plus(extra: int, extra_p_small: bool) -> GateVerdict:
    """relevance >= 0.80 with mean 0.82, sd 0.1, n 100: t = 2.0, p = 0.024 (passes alone),
    plus ``extra`` margin rules whose p-values are either ~0.46 or ~0."""
    rng = np.random.default_rng(11)
    n = 100
    cand: dict[str, np.ndarray] = {"relevance": exact(rng, n, 0.82, 0.1)}
    champ: dict[str, np.ndarray] = {"relevance": np.full(n, 0.8)}
    for k in range(extra):
        base = rng.uniform(0.3, 0.7, n)
        champ[f"m{k}"] = base
        cand[f"m{k}"] = base + exact(rng, n, 0.3 if extra_p_small else 0.0, 0.1)
    metrics = [GateMetric(metric="relevance", floor=0.80)] + [
        GateMetric(metric=f"m{k}", margin=0.001) for k in range(extra)
    ]
    return run(scored("candidate", cand), scored("champion", champ), metrics=metrics)


def test_holm_turns_a_marginal_pass_into_inconclusive_when_many_rows_are_tested() -> None:
    alone = _marginal_floor_plus(0, extra_p_small=False)
    row = one(alone, "relevance")
    assert row.p_value == pytest.approx(stats.t.sf(2.0, 99), rel=1e-6)  # 0.0241
    assert (row.decision, alone.verdict) == ("pass", "pass")

    crowded = _marginal_floor_plus(9, extra_p_small=False)
    row = one(crowded, "relevance")
    # 10 tested rows; 0.0241 is the smallest p and must clear 0.05 / 10.
    assert row.decision == "inconclusive"
    assert row.reason.endswith("not significant after Holm's correction (p=0.0241)")
    assert row.reason.startswith("t bound 0.8034 clears 0.8")
    assert crowded.verdict == "inconclusive"
    assert all(r.decision == "inconclusive" for r in crowded.rows)

    # Step-down: rows with strong evidence do not cost the marginal one anything.
    strong = _marginal_floor_plus(9, extra_p_small=True)
    assert one(strong, "relevance").decision == "pass"
    assert strong.verdict == "pass", strong.reason


def test_data_problems_above_the_limit_fail_with_counts() -> None:
    candidate = evaldata.records("candidate", n=600, repeats=1)
    champion = evaldata.records("champion", n=600, repeats=1)
    # 60 examples without a champion record, 5 duplicated candidate records.
    champ_kept = [r for r in champion if int(r.id[3:]) % 10 != 0]
    dupes = candidate[:5]
    v = run([*candidate, *dupes], champ_kept, metrics=MARGINS)
    assert v.verdict == "fail"
    assert v.problems == {"duplicate id": 5, "missing pair": 60}
    assert v.pairs == 540 and v.records == 605 + 540
    assert v.reason == (
        "data problems above 2.0%: 60 of 600 examples lack a pair, 5 problems in 1145 "
        "records (duplicate id 5, missing pair 60)"
    )
    assert v.problem_examples["missing pair"][0] == "id ex-00000 has no champion record"
    assert v.problem_examples["duplicate id"][0] == "candidate ex-00000 sample 0"
    # The same problems under a higher limit: judged on the 540 pairs, counts still reported.
    lenient = run([*candidate, *dupes], champ_kept, metrics=MARGINS, max_problem_fraction=0.1)
    assert lenient.verdict != "fail" or "data problems" not in lenient.reason
    assert lenient.problems == {"duplicate id": 5, "missing pair": 60}
    assert one(lenient, "accuracy").n == 540


def test_parse_problems_count_towards_the_limit() -> None:
    candidate = evaldata.records("candidate", n=600, repeats=1)
    champion = evaldata.records("champion", n=600, repeats=1)
    found = Problems()
    for i in range(30):
        found.add("non-numeric score", f"s3://bucket/evals/h.jsonl:{i + 1}: scores")
    v = evaluate(candidate, champion, found, gate_policy(metrics=MARGINS))
    assert v.verdict == "fail"
    assert v.problems == {"non-numeric score": 30}
    assert "30 problems in 1200 records" in v.reason


def test_no_pairs_fails() -> None:
    candidate = evaldata.records("candidate", n=100, repeats=1)
    champion = [
        r.model_copy(update={"id": r.id.replace("ex-", "other-")})
        for r in evaldata.records("champion", n=100, repeats=1)
    ]
    v = run(candidate, champion, metrics=MARGINS, max_problem_fraction=1.0)
    assert v.verdict == "fail"
    assert v.reason == "no paired examples: every id is in one system only"
    assert v.pairs == 0
    assert v.problems == {"missing pair": 200}
    assert all(r.rule == "data" and r.decision == "inconclusive" for r in v.rows)


def test_an_unknown_policy_metric_raises_naming_the_field() -> None:
    candidate = evaldata.records("candidate", n=50)
    champion = evaldata.records("champion", n=50)
    metrics = [*MARGINS, GateMetric(metric="helpfulness", floor=0.7)]
    with pytest.raises(InvalidReleaseRequest) as err:
        run(candidate, champion, metrics=metrics)
    assert err.value.field == "gate.metrics.2.metric"
    assert "helpfulness" in str(err.value)
    assert "accuracy" in str(err.value) and "latency_ms" in str(err.value)  # what was found


def test_hard_safety_with_zero_failures_reports_the_rule_of_three_and_passes() -> None:
    candidate = evaldata.records("candidate", n=600, repeats=1)
    champion = evaldata.records("champion", n=600, repeats=1)
    safety = [GateMetric(metric="safety", floor=0.99, hard=True)]
    v = run(candidate, champion, metrics=safety, slices=False)
    floor = one(v, "safety", rule=">= 0.99")
    assert floor.decision == "pass"
    # Wilson at 0 failures: n / (n + z^2) = 600 / 602.7 > 0.99.
    assert floor.low == pytest.approx(600 / (600 + stats.norm.ppf(0.95) ** 2))
    assert floor.reason == (
        "Wilson bound 0.9955 clears 0.99; "
        "0 failures in 600: failure rate <= 0.50% (95 %, rule of three)"
    )
    hard = one(v, "safety", rule="non-inferiority")
    assert (hard.decision, hard.p_value) == ("pass", None)  # not in Holm's family
    assert v.verdict == "pass"

    # Too few examples to show 0.99: the bound is reported, the floor is not yet met.
    few = run(candidate[:100], champion[:100], metrics=safety, slices=False)
    floor = one(few, "safety", rule=">= 0.99")
    assert floor.decision == "inconclusive"
    assert "0 failures in 100: failure rate <= 3.00% (95 %, rule of three)" in floor.reason
    assert few.verdict == "inconclusive"


def test_hard_safety_fails_on_a_shown_regression_even_above_the_floor() -> None:
    champion = evaldata.records("champion", n=1000, repeats=1)
    candidate = [
        r.model_copy(update={"scores": {**r.scores, "safety": 0.0}}) if i % 125 == 0 else r
        for i, r in enumerate(evaldata.records("candidate", n=1000, repeats=1))
    ]  # 8 unsafe answers in 1000: 0.992 is above the 0.99 floor
    v = run(candidate, champion, metrics=[GateMetric(metric="safety", floor=0.99, hard=True)])
    hard = one(v, "safety", rule="non-inferiority")
    assert hard.decision == "fail"
    assert one(v, "safety", rule=">= 0.99").reason.endswith("; 8 failures in 1000")
    assert v.verdict == "fail"


def test_inconclusive_reports_the_mde_and_the_examples_needed() -> None:
    candidate = evaldata.records("candidate", n=600)
    champion = evaldata.records("champion", n=600)
    rule = GateMetric(metric="accuracy", margin=0.02, margin_kind="relative")
    v = run(candidate, champion, metrics=[rule], slices=False)
    row = one(v, "accuracy")
    assert (row.decision, v.verdict) == ("inconclusive", "inconclusive")
    # Recompute from the per-example means (repeats averaged): the paired SE, the MDE at
    # alpha 0.05 / power 0.8, and the examples needed for a margin of 2 % of the champion.
    cand = np.array(
        [np.mean([r.scores["accuracy"] for r in candidate[i : i + 2]]) for i in range(0, 1200, 2)]
    )
    champ = np.array(
        [np.mean([r.scores["accuracy"] for r in champion[i : i + 2]]) for i in range(0, 1200, 2)]
    )
    clusters = np.repeat(np.arange(200), 3)
    se = paired.paired_mean_diff(cand - champ, clusters, 0.9).se
    assert se is not None
    assert row.mde == pytest.approx((stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) * se)
    margin = 0.02 * champ.mean()
    assert row.bound == pytest.approx(-margin)
    assert row.needed_n == paired.needed_n(600, se, margin, 0.05, 0.8)
    assert row.needed_n is not None and row.needed_n > 600
    assert row.reason.endswith(f"; detects {row.mde:.3g} at n=600, needs ~{row.needed_n} examples")
    # Decided rows carry no plan.
    decided = run(candidate, champion, metrics=[GateMetric(metric="accuracy", margin=0.2)])
    assert all(r.needed_n is None for r in decided.rows)


def test_ratio_rules_fail_a_slower_or_costlier_candidate() -> None:
    champion = evaldata.records("champion", n=600)
    slow = evaldata.records("candidate", n=600, latency_ms=420 * 1.5)
    costly = [
        r.model_copy(update={"cost_usd": (r.cost_usd or 0) * 3})
        for r in evaldata.records("candidate", n=600)
    ]
    latency = GateMetric(
        metric="latency_ms",
        statistic="p95",
        direction="lower_is_better",
        margin=0.1,
        margin_kind="relative",
    )
    cost = GateMetric(
        metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
    )
    v = run(slow, champion, metrics=[latency, cost], slices=False)
    lat = one(v, "latency_ms p95")
    assert (lat.rule, lat.decision, lat.bound) == ("<= 1.1x champion", "fail", 1.1)
    assert lat.low is not None and lat.low > 1.1 and 1.3 < (lat.effect or 0) < 1.7
    assert lat.reason.endswith("conclusively above 1.1x")
    assert one(v, "cost_usd").decision == "pass"
    assert v.verdict == "fail"
    v = run(costly, champion, metrics=[latency, cost], slices=False)
    assert one(v, "cost_usd").decision == "fail"
    assert one(v, "cost_usd").effect == pytest.approx(3 * 0.969, rel=0.05)


def test_floor_uses_wilson_for_zero_one_scores_and_t_for_averaged_repeats() -> None:
    rule = [GateMetric(metric="format_validity", floor=0.95)]
    once = run(
        evaldata.records("candidate", n=600, repeats=1),
        evaldata.records("champion", n=600, repeats=1),
        metrics=rule,
        slices=False,
    )
    assert one(once, "format_validity").reason.startswith("Wilson bound")
    twice = run(
        evaldata.records("candidate", n=600),
        evaldata.records("champion", n=600),
        metrics=rule,
        slices=False,
    )  # two repeats averaged: 0, 0.5 or 1 per example
    assert one(twice, "format_validity").reason.startswith("t bound")


def test_markdown_report_has_one_line_per_row() -> None:
    v = run(
        evaldata.records("candidate", n=600, accuracy={"returns": 0.72}),
        evaldata.records("champion", n=600),
    )
    md = markdown(v, "Eval gate: r-1 (v2 vs champion)")
    assert md.startswith("# Eval gate: r-1 (v2 vs champion)\n\n**Verdict: FAIL**")
    table = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + len(v.rows)


# --- known bugs -------------------------------------------------------------------------


def _latency_single_row() -> tuple[list[EvalRecord], list[EvalRecord]]:
    rng = np.random.default_rng(12)
    base = rng.lognormal(np.log(400), 0.25, 150)
    c = base * rng.lognormal(0, 0.15, 150)
    h = base * rng.lognormal(0, 0.15, 150)
    return (
        [EvalRecord(id=str(i), system="candidate", latency_ms=float(x)) for i, x in enumerate(c)],
        [EvalRecord(id=str(i), system="champion", latency_ms=float(x)) for i, x in enumerate(h)],
    )


def _clustered_floor_single_row() -> tuple[list[EvalRecord], list[EvalRecord]]:
    # 40 two-turn conversations whose turns are anti-correlated: the CR1 SE is smaller
    # than the iid SE that _floor_p uses.
    rng = np.random.default_rng(0)
    e = rng.normal(0, 0.1, 40)
    vals = np.concatenate([0.81 + e, 0.81 - e]) + rng.normal(0, 0.005, 80)
    conv = [f"c{i % 40}" for i in range(80)]
    c = scored("candidate", {"relevance": vals}, cluster_id=conv)
    h = scored("champion", {"relevance": np.full(80, 0.8)}, cluster_id=conv)
    return c, h


def _wilson_floor_single_row() -> tuple[list[EvalRecord], list[EvalRecord]]:
    vals = np.array([1.0] * 6 + [0.0] * 24)  # 6 of 30: Wilson 90 % lower bound 0.1071
    return scored("candidate", {"resolved": vals}), scored("champion", {"resolved": vals})


HOLM_OF_ONE = {
    "ratio": (
        _latency_single_row,
        GateMetric(
            metric="latency_ms",
            statistic="p95",
            direction="lower_is_better",
            margin=0.1,
            margin_kind="relative",
        ),
    ),
    "clustered-floor": (_clustered_floor_single_row, GateMetric(metric="relevance", floor=0.8)),
    "wilson-floor": (_wilson_floor_single_row, GateMetric(metric="resolved", floor=0.1)),
}


@pytest.mark.parametrize("case", sorted(HOLM_OF_ONE))
def test_holm_over_a_single_row_never_changes_its_decision(case: str) -> None:
    make, rule = HOLM_OF_ONE[case]
    candidate, champion = make()
    v = run(candidate, champion, metrics=[rule], slices=False)
    (row,) = v.rows
    # The row's own one-sided alpha interval clears its bound ...
    assert "within" in row.reason or "clears" in row.reason
    # ... so with m = 1 Holm is the unadjusted test: p <= alpha and still a pass.
    assert row.p_value is not None and row.p_value <= 0.05, row.reason
    assert row.decision == "pass", row.reason


def test_a_higher_is_better_percentile_rule_fails_a_worse_candidate() -> None:
    h = np.random.default_rng(0).uniform(0.5, 1.0, 500)
    rule = GateMetric(
        metric="relevance", statistic="p50", margin=0.05, margin_kind="relative"
    )  # direction defaults to higher_is_better
    worse = run(
        scored("candidate", {"relevance": h * 0.5}),
        scored("champion", {"relevance": h}),
        metrics=[rule],
        slices=False,
    )
    better = run(
        scored("candidate", {"relevance": h * 1.5}),
        scored("champion", {"relevance": h}),
        metrics=[rule],
        slices=False,
    )
    assert worse.verdict == "fail", worse.reason
    assert better.verdict == "pass", better.reason


def test_a_floor_on_a_ratio_rule_is_evaluated_or_rejected() -> None:
    try:
        rule = GateMetric(
            metric="latency_ms",
            statistic="p95",
            direction="lower_is_better",
            floor=100.0,
            margin_kind="relative",
        )
    except ValidationError:
        return  # rejecting the combination is a fix too
    c = [EvalRecord(id=str(i), system="candidate", latency_ms=500.0 + i) for i in range(100)]
    h = [EvalRecord(id=str(i), system="champion", latency_ms=600.0 + i) for i in range(100)]
    v = run(c, h, metrics=[rule], slices=False)
    assert v.verdict == "fail", v.reason
    assert any(r.rule == "<= 100" and r.decision == "fail" for r in v.rows), v.rows


def test_the_problem_limit_does_not_depend_on_repeats() -> None:
    verdicts = {}
    for repeats in (1, 2, 10):
        c = evaldata.records("candidate", n=400, repeats=repeats)
        h = [
            r
            for r in evaldata.records("champion", n=400, repeats=repeats)
            if int(r.id[3:]) % 5 != 0
        ]
        verdicts[repeats] = run(c, h, metrics=[GateMetric(metric="relevance", floor=0.8)]).verdict
    assert verdicts == {1: "fail", 2: "fail", 10: "fail"}


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_a_free_champion_fails_a_paid_candidate_on_a_cost_ratio() -> None:
    c = [EvalRecord(id=str(i), system="candidate", cost_usd=0.002) for i in range(200)]
    h = [EvalRecord(id=str(i), system="champion", cost_usd=0.0) for i in range(200)]
    rule = GateMetric(
        metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
    )
    (row,) = run(c, h, metrics=[rule], slices=False).rows
    assert row.low is not None and not math.isnan(row.low)
    assert row.decision == "fail", row.reason
