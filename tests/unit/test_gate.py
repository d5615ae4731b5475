"""The eval gate's decisions end to end on realistic paired records (evaldata): rows per
metric x slice x rule, Holm across the table, data problems, and the policy's shape."""

from __future__ import annotations

import math
from pathlib import Path
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
    # Margins that about 1,000 examples resolve (bench/gate_calibration.py).
    acc = by[("accuracy", "mean")]
    assert (acc.margin, acc.margin_kind, acc.direction) == (0.05, "absolute", "higher_is_better")
    lat = by[("latency_ms", "p95")]
    assert (lat.margin, lat.margin_kind, lat.direction) == (0.25, "relative", "lower_is_better")
    cost = by[("cost_usd", "mean")]
    assert (cost.margin, cost.margin_kind, cost.direction) == (1.0, "relative", "lower_is_better")
    assert (p.alpha, p.min_slice_size, p.max_problem_fraction) == (0.05, 30, 0.02)
    assert (p.slices, p.slices_must_pass) == (True, False)


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


@pytest.mark.parametrize(
    ("gate", "field", "message"),
    [
        (
            {"promptfoo": {"candidate_provider": "a", "champion_provider": "b"}},
            "policy.gate.promptfoo",
            "gate.format 'promptfoo' without a mapping (it names promptfoo providers), "
            "got format 'records'",
        ),
        (
            {
                "format": "promptfoo",
                "mapping": {"id": "x"},
                "promptfoo": {"candidate_provider": "a", "champion_provider": "b"},
            },
            "policy.gate.promptfoo",
            "got format 'promptfoo' with a mapping",
        ),
        (
            {"format": "promptfoo", "promptfoo": {"candidate_provider": "a"}},
            "policy.gate.promptfoo.champion_provider",
            "Field required",
        ),
        (
            {
                "format": "promptfoo",
                "promptfoo": {"candidate_provider": "", "champion_provider": "b"},
            },
            "policy.gate.promptfoo.candidate_provider",
            "at least 1 character",
        ),
        (
            {
                "format": "promptfoo",
                "promptfoo": {"candidate_provider": "v2", "champion_provider": "v2"},
            },
            "policy.gate.promptfoo",
            "candidate_provider and champion_provider name the same provider 'v2'",
        ),
        (
            {
                "format": "promptfoo",
                "promptfoo": {
                    "candidate_provider": "a",
                    "champion_provider": "b",
                    "ignore_providers": ["b"],
                },
            },
            "policy.gate.promptfoo",
            "champion_provider 'b' is also in ignore_providers",
        ),
        (
            {
                "format": "promptfoo",
                "promptfoo": {"candidate_provider": "a", "champion_provider": "b", "ignore": []},
            },
            "policy.gate.promptfoo.ignore",
            "no such field",
        ),
    ],
)
def test_gate_promptfoo_mistakes_are_refused_naming_the_field(
    gate: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidReleaseRequest) as err:
        parse_policy({"version": "t-1", "gate": {**URIS, **gate}})
    assert err.value.field == field
    assert message in str(err.value)


def test_gate_promptfoo_names_both_systems() -> None:
    providers = {"candidate_provider": "openai:gpt-4.1", "champion_provider": "openai:gpt-4o"}
    gate = parse_policy(
        {"version": "t-1", "gate": {**URIS, "format": "promptfoo", "promptfoo": providers}}
    ).gate
    assert gate is not None and gate.promptfoo is not None
    assert (gate.promptfoo.candidate_provider, gate.promptfoo.ignore_providers) == (
        "openai:gpt-4.1",
        [],
    )
    assert gate_policy().promptfoo is None  # absent unless given


def test_no_gate_in_the_policy_means_no_gate() -> None:
    assert parse_policy({"version": "t-1"}).gate is None


# --- decisions on evaldata records ------------------------------------------------------


def test_identical_records_pass_every_margin_and_ratio_rule() -> None:
    # 200 examples a category: enough to resolve each margin (paired.min_n_margin: 149
    # for relevance's 0.02, 177 for 2 % of accuracy 0.84).
    champion = evaldata.records("champion", n=800)
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
    assert v.pairs == 800 and v.records == 3200
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


def _marginal_floor_plus(extra: int, extra_p_small: bool, mean: float = 0.82) -> GateVerdict:
    """relevance >= 0.80 with mean 0.82, sd 0.1, n 100: t = 2.0, p = 0.024 (passes alone;
    ``mean`` 0.78: fails alone), plus ``extra`` margin rules whose p-values are either
    ~0.46 or ~0."""
    rng = np.random.default_rng(11)
    n = 100
    cand: dict[str, np.ndarray] = {"relevance": exact(rng, n, mean, 0.1)}
    champ: dict[str, np.ndarray] = {"relevance": np.full(n, 0.8)}
    for k in range(extra):
        base = rng.uniform(0.3, 0.7, n)
        champ[f"m{k}"] = base
        cand[f"m{k}"] = base + exact(rng, n, 0.3 if extra_p_small else 0.0, 0.1)
    # The strong rows' margin is one 100 examples can resolve (paired.min_n_margin: 59
    # for 0.05); the weak rows are inconclusive whatever n they would need.
    metrics = [GateMetric(metric="relevance", floor=0.80)] + [
        GateMetric(metric=f"m{k}", margin=0.05 if extra_p_small else 0.001) for k in range(extra)
    ]
    return run(scored("candidate", cand), scored("champion", champ), metrics=metrics)


def test_a_marginal_pass_stays_a_pass_however_many_rows_are_tested() -> None:
    # A pass needs every row to pass: an intersection-union test, whose false-pass rate
    # is at most alpha without any correction, so many rows cost a pass nothing.
    alone = _marginal_floor_plus(0, extra_p_small=False)
    row = one(alone, "relevance")
    assert row.p_value == pytest.approx(stats.t.sf(2.0, 99), rel=1e-6)  # 0.0241
    assert (row.decision, alone.verdict) == ("pass", "pass")
    crowded = _marginal_floor_plus(9, extra_p_small=True)
    assert one(crowded, "relevance").decision == "pass"
    assert crowded.verdict == "pass", crowded.reason
    # ... but every row must pass: nine inconclusive rows hold the verdict.
    weak = _marginal_floor_plus(9, extra_p_small=False)
    assert one(weak, "relevance").decision == "pass"
    assert weak.verdict == "inconclusive"


def test_holm_turns_a_marginal_fail_into_inconclusive_when_many_rows_are_tested() -> None:
    # One fail fails the gate: fails are Holm-corrected across the whole table.
    alone = _marginal_floor_plus(0, extra_p_small=False, mean=0.78)
    row = one(alone, "relevance")
    assert row.p_fail == pytest.approx(stats.t.sf(2.0, 99), rel=1e-6)  # 0.0241
    assert (row.decision, alone.verdict) == ("fail", "fail")
    crowded = _marginal_floor_plus(9, extra_p_small=False, mean=0.78)
    row = one(crowded, "relevance")
    # 10 fail tests; 0.0241 is the smallest p and must clear 0.05 / 10.
    assert row.decision == "inconclusive"
    assert row.reason.startswith("conclusively below 0.8: t interval [0.7634, 0.7966]")
    assert row.reason.endswith(
        "; not conclusive after Holm's correction across 10 fail tests (p=0.0241)"
    )
    assert crowded.verdict == "inconclusive"


def test_a_hard_rule_whose_regression_holm_does_not_confirm_passes() -> None:
    # A hard rule passes unless a regression is shown; shown means after Holm's
    # correction. 1 of 2 rows alone fails (p ~ 0.024 <= 0.05), among 10 it does not.
    rng = np.random.default_rng(2)
    n = 100
    base = rng.uniform(0.3, 0.7, n)
    cand: dict[str, np.ndarray] = {"relevance": base + exact(rng, n, -0.02, 0.1)}
    champ: dict[str, np.ndarray] = {"relevance": base}
    rules = [GateMetric(metric="relevance", hard=True)]
    for k in range(9):
        champ[f"m{k}"] = base
        cand[f"m{k}"] = base + exact(rng, n, 0.0, 0.1)
        rules.append(GateMetric(metric=f"m{k}", hard=True))
    alone = run(scored("candidate", cand), scored("champion", champ), metrics=rules[:1])
    assert one(alone, "relevance").decision == "fail" and alone.verdict == "fail"
    crowded = run(scored("candidate", cand), scored("champion", champ), metrics=rules)
    hard = one(crowded, "relevance")
    assert hard.decision == "pass"
    assert "a regression is not shown after Holm's correction across 10 fail tests" in hard.reason
    assert crowded.verdict == "pass", crowded.reason


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


def unclustered(records: list[EvalRecord]) -> list[EvalRecord]:
    return [r.model_copy(update={"cluster_id": None}) for r in records]


def test_hard_safety_with_zero_failures_reports_the_rule_of_three_and_passes() -> None:
    candidate = unclustered(evaldata.records("candidate", n=600, repeats=1))
    champion = unclustered(evaldata.records("champion", n=600, repeats=1))
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
    # In conversations of three (200 clusters): Clopper-Pearson at the effective n, with
    # no failure to show a design effect 600 (t_599 / t_199)^2 rounded down; its bound
    # alpha^(1/n*).
    clustered = run(
        evaldata.records("candidate", n=600, repeats=1),
        evaldata.records("champion", n=600, repeats=1),
        metrics=safety,
        slices=False,
    )
    floor = one(clustered, "safety", rule=">= 0.99")
    n_eff = math.floor(600 * (stats.t.ppf(0.95, 599) / stats.t.ppf(0.95, 199)) ** 2)
    assert floor.low == pytest.approx(0.05 ** (1 / n_eff), rel=1e-9)
    assert floor.decision == "pass"
    assert floor.reason.startswith(
        f"clustered Clopper-Pearson bound {floor.low:.4g} clears 0.99 (effective n "
        f"{n_eff:.0f} of 600: examples share clusters)"
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
        unclustered(evaldata.records("candidate", n=600, repeats=1)),
        unclustered(evaldata.records("champion", n=600, repeats=1)),
        metrics=rule,
        slices=False,
    )
    assert one(once, "format_validity").reason.startswith("Wilson bound")
    in_conversations = run(
        evaldata.records("candidate", n=600, repeats=1),
        evaldata.records("champion", n=600, repeats=1),
        metrics=rule,
        slices=False,
    )
    assert one(in_conversations, "format_validity").reason.startswith(
        "clustered Clopper-Pearson bound"
    )
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


# --- the examples a rule needs before it can pass (paired.min_n_*) ----------------------


def _same(
    metric: str, values: np.ndarray, **fields: Any
) -> tuple[list[EvalRecord], list[EvalRecord]]:
    """Both systems with identical values: the best evidence of no regression."""
    return (
        scored("candidate", {metric: values}, **fields),
        scored("champion", {metric: values}, **fields),
    )


@pytest.mark.parametrize(
    ("n", "decision"), [(3, "inconclusive"), (148, "inconclusive"), (149, "pass")]
)
def test_a_margin_passes_only_from_the_examples_that_can_resolve_it(n: int, decision: str) -> None:
    # The reported case: 3 identical pairs gave the interval [0, 0] and passed.
    rng = np.random.default_rng(4)
    cand, champ = _same("relevance", rng.uniform(0.6, 1.0, n))
    v = run(cand, champ, metrics=[GateMetric(metric="relevance", margin=0.02)], slices=False)
    row = one(v, "relevance", rule="non-inferiority")
    assert (row.low, row.high, row.effect) == (0.0, 0.0, 0.0)
    # 149 = ceil(ln 0.05 / ln 0.98): with no pair worse, a share 1 - 0.05^(1/n) may still
    # be worse by up to 1; that is at most the margin 0.02 from n = 149 on.
    assert 1 - 0.05 ** (1 / 149) <= 0.02 < 1 - 0.05 ** (1 / 148)
    assert row.decision == decision and v.verdict == decision
    if decision == "inconclusive":
        assert row.needed_n == 149
        assert row.reason.endswith(
            f"; {n} examples cannot resolve a margin of 0.02: needs at least 149"
        )
        assert "interval [0, 0]" in row.reason
        assert v.reason == f"relevance [ALL] non-inferiority: {row.reason}"
    else:
        assert row.needed_n is None and "cannot resolve" not in row.reason
        assert v.reason == "all 1 rows pass on 149 paired examples"


def test_the_examples_needed_scale_with_the_margin_and_alpha() -> None:
    assert paired.min_n_margin(0.02, 1.0, 0.05) == 149
    assert paired.min_n_margin(0.1, 1.0, 0.05) == 29
    assert paired.min_n_margin(0.02, 1.0, 0.01) == 228  # ceil(ln 0.01 / ln 0.98)
    assert paired.min_n_margin(0.5, 0.4, 0.05) == 1  # a margin wider than any regression
    # A relative margin on a score: 2 % of a champion at 0.84 is 0.0168.
    assert paired.min_n_margin(0.0168, 1.0, 0.05) == math.ceil(math.log(0.05) / math.log(0.9832))


@pytest.mark.parametrize(("n", "decision"), [(10, "inconclusive"), (11, "pass")])
def test_a_floor_on_a_unit_score_needs_what_a_perfect_0_1_score_needs(
    n: int, decision: str
) -> None:
    # Identical values: the t interval is [0.9, 0.9] at any n. A 0/1 score clears 0.8 by
    # Wilson (90 %) only from n / (n + z^2) >= 0.8, n >= 4 z^2 = 10.8.
    z2 = stats.norm.ppf(0.95) ** 2
    assert 10 / (10 + z2) < 0.8 <= 11 / (11 + z2)
    assert paired.min_n_proportion(0.8, 0.9) == 11
    c = scored("candidate", {"relevance": np.full(n, 0.9)})
    h = scored("champion", {"relevance": np.full(n, 0.9)})
    v = run(c, h, metrics=[GateMetric(metric="relevance", floor=0.8)], slices=False)
    row = one(v, "relevance")
    assert (row.low, row.high, row.decision) == (0.9, 0.9, decision)
    assert row.needed_n == (11 if decision == "inconclusive" else None)
    # The same numbers for a 0/1 score: Wilson decides, and agrees.
    ones = scored("candidate", {"relevance": np.ones(n)})
    w = one(
        run(
            ones,
            relabel(ones, "champion"),
            metrics=[GateMetric(metric="relevance", floor=0.8)],
            slices=False,
        ),
        "relevance",
    )
    assert w.decision == decision
    assert w.low == pytest.approx(n / (n + z2))
    if decision == "inconclusive":
        assert w.reason.endswith(f"; {n} examples cannot resolve a floor of 0.8: needs at least 11")


@pytest.mark.parametrize(("n", "decision"), [(58, "inconclusive"), (59, "pass")])
def test_a_percentile_ratio_needs_a_distribution_free_bound(n: int, decision: str) -> None:
    # All n below the p95 has probability 0.95^n: at most 0.05 from n = 59.
    assert 0.95**59 <= 0.05 < 0.95**58
    latency = np.random.default_rng(2).lognormal(6, 0.3, n)
    c = [EvalRecord(id=str(i), system="candidate", latency_ms=x) for i, x in enumerate(latency)]
    h = relabel(c, "champion")
    rule = GateMetric(
        metric="latency_ms",
        statistic="p95",
        direction="lower_is_better",
        margin=0.1,
        margin_kind="relative",
    )
    row = one(run(c, h, metrics=[rule], slices=False), "latency_ms p95")
    assert (row.low, row.high) == (1.0, 1.0)
    assert row.decision == decision
    if decision == "inconclusive":
        assert row.needed_n == 59
        assert row.reason == (
            "ratio 1.000 in [1.000, 1.000], within 1.1x; 58 examples cannot resolve a p95 "
            "without assuming a distribution: needs at least 59"
        )


def test_a_shown_regression_fails_even_below_the_examples_a_pass_needs() -> None:
    # A fail is conservative: it is reported whatever n (here 20 < 149).
    c = scored("candidate", {"relevance": np.full(20, 0.5)})
    h = scored("champion", {"relevance": np.linspace(0.85, 0.95, 20)})
    v = run(c, h, metrics=[GateMetric(metric="relevance", margin=0.02)], slices=False)
    row = one(v, "relevance")
    assert row.decision == "fail" and row.needed_n is None and v.verdict == "fail"


def test_an_inconclusive_row_never_asks_for_fewer_examples_than_it_has() -> None:
    # A difference right at the margin: more data under "no difference" is not the story.
    rng = np.random.default_rng(8)
    base = rng.uniform(0.3, 0.7, 2000)
    c = scored("candidate", {"relevance": base - 0.02 + exact(rng, 2000, 0, 0.05)})
    h = scored("champion", {"relevance": base})
    row = one(
        run(c, h, metrics=[GateMetric(metric="relevance", margin=0.02)], slices=False), "relevance"
    )
    assert row.decision == "inconclusive"
    assert row.needed_n is None or row.needed_n > 2000
    assert ("needs ~" in row.reason) == (row.needed_n is not None)


def test_a_pass_with_skipped_slices_says_what_was_tested() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0.85, 1.0, 400)
    category = ["big"] * 380 + ["small"] * 20
    c = scored("candidate", {"relevance": values}, category=category)
    h = scored("champion", {"relevance": values}, category=category)
    v = run(c, h, metrics=[GateMetric(metric="relevance", floor=0.8)])
    assert [r.decision for r in v.rows] == ["pass", "pass", "skipped"]
    assert v.reason == (
        "all 2 tested rows pass on 400 paired examples; 1 rows skipped "
        "(slices below min_slice_size 30)"
    )


# --- pair() gives what the record-by-record version gave --------------------------------


def _plain_pair(
    candidate: list[EvalRecord], champion: list[EvalRecord], metrics: list[str]
) -> tuple[Any, ...]:
    """gate.pair as it was before it was vectorised: one record, one metric at a time."""
    from release_guard.gate.gate import BUILTIN

    def value(record: EvalRecord, metric: str) -> float | None:
        if metric in record.scores:
            return record.scores[metric]
        if metric in BUILTIN:
            v = getattr(record, metric)
            return None if v is None else float(v)
        return None

    problems = Problems()
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
    index = {i: k for k, i in enumerate(both)}
    n = len(both)
    category = np.full(n, None, dtype=object)
    cluster_names: list[str | None] = [None] * n
    rows = np.array([index.get(r.id, -1) for r in kept], dtype=np.int64)
    cols = np.array([r.system == "champion" for r in kept], dtype=np.int64)
    for r, k in zip(kept, rows, strict=True):
        if k >= 0:
            if category[k] is None and r.category is not None:
                category[k] = r.category
            if cluster_names[k] is None and r.cluster_id is not None:
                cluster_names[k] = r.cluster_id
    cell = rows * 2 + cols
    values = {}
    for m in metrics:
        vals = np.array([value(r, m) for r in kept], dtype=float)
        use = (rows >= 0) & np.isfinite(vals)
        sums = np.bincount(cell[use], weights=vals[use], minlength=2 * n).reshape(n, 2)
        counts = np.bincount(cell[use], minlength=2 * n).astype(float).reshape(n, 2)
        values[m] = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    cluster = None
    if any(c is not None for c in cluster_names):
        labels = [
            c if c is not None else f"__id:{i}" for i, c in zip(both, cluster_names, strict=True)
        ]
        _, inv = np.unique(np.array(labels, dtype=object).astype(str), return_inverse=True)
        cluster = inv.astype(np.int64)
    return both, values, category, cluster, problems.counts, problems.examples


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_is_identical_to_the_record_by_record_version(seed: int) -> None:
    from release_guard.gate.gate import pair

    rng = np.random.default_rng(seed)
    candidate = evaldata.records("candidate", n=300, seed=seed)
    champion = evaldata.records("champion", n=300, seed=seed)
    # The awkward cases: duplicates, unpaired ids, missing scores and fields, a score
    # named like a built-in field, categories and clusters on some records only.
    mixed = []
    for i, r in enumerate(candidate):
        update: dict[str, Any] = {}
        if i % 7 == 0:
            update["scores"] = {k: v for k, v in r.scores.items() if k != "relevance"}
        if i % 11 == 0:
            update["category"] = None
        if i % 5 == 0:
            update["cluster_id"] = None
        if i % 13 == 0:
            update["latency_ms"] = None
        if i % 17 == 0:
            update["scores"] = {**r.scores, "cost_usd": float(rng.random())}
        mixed.append(r.model_copy(update=update))
    mixed += mixed[:9]  # duplicates
    mixed.append(candidate[0].model_copy(update={"id": "only-candidate"}))
    champ = [r for r in champion if int(r.id[3:]) % 19 != 0]  # missing pairs
    metrics = ["accuracy", "relevance", "latency_ms", "cost_usd", "output_tokens", "nothing"]
    got = pair(mixed, champ, metrics, Problems())
    want = _plain_pair(mixed, champ, metrics)
    assert got.ids == want[0]
    for m in metrics:
        np.testing.assert_array_equal(got.values[m], want[1][m])
    assert got.category.tolist() == want[2].tolist()
    assert got.cluster is not None and want[3] is not None
    np.testing.assert_array_equal(got.cluster, want[3])
    assert (got.problems.counts, got.problems.examples) == (want[4], want[5])


def test_the_verdict_is_identical_to_the_one_before_the_speed_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole gate, fixed seed: the vectorised pair() and the rank-selection bootstrap
    against their record-by-record and partition versions (bench/gate_bench.py's ten
    rules on 2,000 examples in 20 categories)."""
    import sys

    from release_guard.gate import gate as gate_module
    from release_guard.gate.gate import Paired

    from tests.unit.test_paired import plain_bootstrap_ratio

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        import gate_bench
    finally:
        sys.path.pop(0)
    n = 2000
    candidate = gate_bench.build("candidate", gate_bench.arrays("candidate", n, 3))
    champion = gate_bench.build("champion", gate_bench.arrays("champion", n, 3))
    policy = gate_bench.policy(300)
    fast = evaluate(candidate, champion, Problems(), policy)

    def plain_pair(
        c: list[EvalRecord], h: list[EvalRecord], metrics: list[str], problems: Problems
    ) -> Paired:
        ids, values, category, cluster, counts, examples = _plain_pair(c, h, metrics)
        for kind, k in counts.items():
            problems.counts[kind] += k
            problems.examples.setdefault(kind, []).extend(examples[kind])
        everyone = {r.id for r in (*c, *h)}
        return Paired(ids, values, category, cluster, problems, len(c) + len(h), len(everyone))

    monkeypatch.setattr(gate_module, "pair", plain_pair)
    monkeypatch.setattr(paired, "bootstrap_ratio", plain_bootstrap_ratio)
    plain = evaluate(candidate, champion, Problems(), policy)
    # 21 bootstrapped p95 ratios and 21 ratios of means among them
    assert sum(r.rule.endswith("x champion") for r in fast.rows) == 42
    assert fast == plain


# --- issue 13: what the data resolve, slices, fails across the table --------------------


def _calibration() -> Any:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        import gate_calibration
    finally:
        sys.path.pop(0)
    return gate_calibration


def _equal(n: int, seed: int, safety: float = 0.998) -> tuple[list[EvalRecord], ...]:
    cal = _calibration()
    c, h, conv = cal.equal_quality(np.random.default_rng(seed), n, safety=safety)
    return cal.records("candidate", c, conv), cal.records("champion", h, conv)


def test_the_gate_reports_the_margin_its_data_resolve_and_warns_below_it() -> None:
    candidate, champion = _equal(1000, 0)
    old = [
        GateMetric(metric="accuracy", margin=0.02, margin_kind="relative"),
        GateMetric(
            metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
        ),
    ]
    v = run(candidate, champion, metrics=old)
    acc, cost = v.resolution
    assert (acc.metric, acc.rule, acc.n, acc.margin_kind) == (
        "accuracy",
        "non-inferiority",
        1000,
        "relative",
    )
    row = one(v, "accuracy", rule="non-inferiority")
    se = (row.mde or 0) / (stats.norm.ppf(0.95) + stats.norm.ppf(0.8))
    # (t quantile + z_power) * SE, relative to the champion's mean.
    clusters = len({r.cluster_id for r in candidate})  # conversations of three: 334
    k = stats.t.ppf(0.95, clusters - 1) + stats.norm.ppf(0.8)
    assert acc.resolvable == pytest.approx(k * se / (row.champion or 1), rel=1e-6)
    assert acc.warning and acc.resolvable is not None and acc.resolvable > 0.02
    assert acc.pass_chance is not None and acc.pass_chance < 0.5
    assert acc.needed_n is not None and acc.needed_n > 1000
    assert not cost.warning and cost.margin_kind == "ratio" and cost.pass_chance == pytest.approx(1)
    (warning,) = v.warnings
    assert warning.startswith(
        f"accuracy non-inferiority: the margin 0.02 relative is below what 1000 examples "
        f"resolve, {acc.resolvable:.4g} at power 0.8: an equally good candidate passes this "
        f"row about {acc.pass_chance:.0%} of the time; the margin needs about "
        f"{acc.needed_n} examples"
    )
    md = markdown(v, "Eval gate")
    assert "What these examples resolve" in md and f"> Warning: {warning}" in md
    assert "— **too small**" in md
    # The shipped defaults are resolvable at this n: no warning.
    assert run(candidate, champion).warnings == []


def test_slice_rows_fail_the_gate_but_do_not_hold_it_unless_told_to() -> None:
    candidate, champion = _equal(1000, 1)
    v = run(candidate, champion)
    slices = [r for r in v.rows if r.slice != "ALL"]
    assert slices and not any(r.required for r in slices)
    assert all(r.required for r in v.rows if r.slice == "ALL")
    unresolved = [r for r in slices if r.decision == "inconclusive"]
    assert unresolved  # 125 examples a slice cannot show a 5-point margin ...
    assert v.verdict == "pass", v.reason  # ... and need not
    assert f"{len(unresolved)} slice rows show no regression" in v.reason
    assert "| no regression |" in markdown(v, "t")
    strict = run(candidate, champion, slices_must_pass=True)
    assert strict.verdict == "inconclusive"
    assert all(r.required for r in strict.rows if r.decision != "skipped")


def test_an_equally_good_candidate_passes_the_shipped_defaults_at_1000_examples() -> None:
    """Issue 13: under the old defaults (2 % relative accuracy, 10 % p95 latency, every
    slice row required) an equally good candidate passed 0 % of 1,000-example gates.
    Fixed seeds: bench/gate_calibration.py measures 87 % on more draws."""
    verdicts = [run(*_equal(1000, seed)).verdict for seed in range(30)]
    assert verdicts.count("pass") >= 21, verdicts  # 70 %; 26 of 30 on these seeds
    assert "fail" not in verdicts


def test_holm_holds_the_false_fail_rate_across_rows_and_slices() -> None:
    """Issue 13: equal quality (true difference 0), three hard rules (difference 0 is
    their fail boundary) on ALL and 8 slices: 27 fail tests. Without Holm's correction
    on fails, most of these gates failed. Fixed seeds."""
    rules = [GateMetric(metric=m, hard=True) for m in ("accuracy", "relevance", "format_validity")]
    fails = uncorrected = 0
    for seed in range(40):
        v = run(*_equal(1000, seed, safety=0.99), metrics=rules)
        fails += v.verdict == "fail"
        uncorrected += any(r.decision == "fail" or "correction across" in r.reason for r in v.rows)
    assert fails <= 3, fails
    assert uncorrected >= 20, uncorrected


def test_a_clustered_ratio_of_means_resamples_whole_clusters() -> None:
    rng = np.random.default_rng(5)
    conv = np.repeat(np.arange(100), 3)
    shared = np.repeat(rng.lognormal(0, 1.0, 100), 3)  # conversations share their cost
    # ... and the candidate's verbosity: its excess cost is correlated within one.
    verbose = np.repeat(rng.lognormal(0, 0.3, 100), 3)
    c = [
        EvalRecord(id=str(i), system="candidate", cost_usd=float(x), cluster_id=f"c{conv[i]}")
        for i, x in enumerate(shared * verbose * rng.lognormal(0, 0.1, 300))
    ]
    h = [
        EvalRecord(id=str(i), system="champion", cost_usd=float(x), cluster_id=f"c{conv[i]}")
        for i, x in enumerate(shared * rng.lognormal(0, 0.1, 300))
    ]
    rule = GateMetric(
        metric="cost_usd", direction="lower_is_better", margin=0.5, margin_kind="relative"
    )
    by_cluster = one(run(c, h, metrics=[rule], slices=False), "cost_usd")
    flat = [r.model_copy(update={"cluster_id": None}) for r in (*c, *h)]
    iid = one(run(flat[:300], flat[300:], metrics=[rule], slices=False), "cost_usd")
    assert by_cluster.effect == pytest.approx(iid.effect or 0)
    width = math.log((by_cluster.high or 1) / (by_cluster.low or 1))
    assert width > 1.3 * math.log((iid.high or 1) / (iid.low or 1))  # 100 units, not 300
