"""The operator's marks on a release (`release-guard release pause|resume|promote`) as the
judge applies them: pause withholds advancing only, promote skips the remaining steps
once the current one passes its normal checks; neither softens a rollback or a hold.
Also the timeline line of an operator record and the `release list` lines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from release_guard.canary import judging
from release_guard.canary.judge import PAUSED_MAX_WAIT, operator_overrides, paused_wait
from release_guard.events import Verdict
from release_guard.policy import CanaryPolicy
from release_guard_cli import operate, timeline

from tests.unit.fakes import FakeMetrics, steady
from tests.unit.test_judge import HEALTHY_C, HEALTHY_H, LAST, POLICY, T0, run
from tests.unit.test_release import CHAMPION, DELAY, HEALTHY, IDLE, canary_ready, shift

NOW = T0 + timedelta(seconds=720)  # where run() judges the 12 healthy periods


def mark(by: str = "ana", reason: str = "waiting on the data team", ago: float = 30) -> dict:
    return {"by": by, "reason": reason, "at": (NOW - timedelta(seconds=ago)).isoformat()}


def apply(verdict: Verdict, policy: CanaryPolicy = POLICY, **summary: Any) -> Verdict:
    return operator_overrides(verdict, policy, {"status": "running", **summary}, NOW, T0)


# --- pause ------------------------------------------------------------------------------------


def test_a_pause_keeps_a_passing_step_baking_and_says_what_it_withholds() -> None:
    normal = run(HEALTHY_C, HEALTHY_H)
    assert normal.action == "next_step"
    paused = apply(normal, paused=mark())
    assert paused.action == "keep_baking"
    assert paused.next_step_index is None
    assert paused.wait_seconds >= POLICY.check_interval_seconds
    assert paused.reason.startswith("paused by ana: waiting on the data team; ")
    assert "still rolls back or holds" in paused.reason
    assert f"without the pause: next_step: {normal.reason}" in paused.reason
    # Everything else of the look is the judge's.
    assert (paused.findings, paused.checks, paused.step_index) == (
        normal.findings,
        normal.checks,
        normal.step_index,
    )


def test_a_pause_withholds_promotion_at_the_last_step() -> None:
    normal = run(HEALTHY_C, HEALTHY_H, step=LAST)
    assert normal.action == "promote"
    paused = apply(normal, paused=mark())
    assert paused.action == "keep_baking"
    assert "without the pause: promote" in paused.reason


def test_a_pause_never_withholds_a_rollback_or_a_hold() -> None:
    faulty = run(steady(3, 200, 0.2), steady(3, 3800, 0.01), elapsed=180)
    assert apply(faulty, paused=mark()) == faulty
    cand = steady(20, 500, 0.01, app_rates={"NegativeFeedback": 0.05})
    champ = steady(20, 9500, 0.01, app_rates={"NegativeFeedback": 0.02})
    held = run(cand, champ, step=1)
    assert held.action == "hold"
    assert apply(held, paused=mark()) == held


@pytest.mark.parametrize("on_insufficient", ["hold", "rollback"])
def test_a_paused_step_without_evidence_still_ends_at_max_bake(on_insufficient: str) -> None:
    """The decision: a pause does not extend how long an unproven candidate takes
    traffic; max_bake without the evidence acts as the policy says."""
    policy = CanaryPolicy(on_insufficient_data=on_insufficient)  # type: ignore[arg-type]
    verdict = run(steady(60, 50, 0.001), steady(60, 950, 0.001), policy=policy)
    assert verdict.action == on_insufficient
    assert apply(verdict, policy, paused=mark()) == verdict


def test_a_pause_withholds_the_policys_advance_without_evidence() -> None:
    policy = CanaryPolicy(on_insufficient_data="advance")
    verdict = run(steady(60, 50, 0.001), steady(60, 950, 0.001), policy=policy)
    assert verdict.action == "next_step"
    assert apply(verdict, policy, paused=mark()).action == "keep_baking"


def test_a_paused_step_that_keeps_baking_anyway_keeps_its_wait() -> None:
    baking = run(steady(10, 50, 0.001), steady(10, 950, 0.001))
    assert baking.action == "keep_baking"
    paused = apply(baking, paused=mark())
    assert paused.action == "keep_baking" and paused.wait_seconds == baking.wait_seconds
    assert paused.reason == f"{baking.reason} (paused by ana: waiting on the data team)"


def test_a_long_pause_looks_less_often_up_to_an_hour_apart() -> None:
    policy = CanaryPolicy(check_interval_seconds=60, max_bake_seconds=3600)
    assert paused_wait(policy, 1, 60, paused_for=30) == 60
    assert paused_wait(policy, 1, 60, paused_for=6000) == 600
    assert paused_wait(policy, 1, 60, paused_for=10 * 86_400) == PAUSED_MAX_WAIT
    # Never sooner than the judge's own spacing of a step's looks.
    late = paused_wait(policy, policy.max_looks_per_step - 1, 100, paused_for=0)
    assert late >= 60
    normal = run(HEALTHY_C, HEALTHY_H)
    day = apply(normal, paused=mark(ago=86_400))
    assert day.wait_seconds == PAUSED_MAX_WAIT


def test_a_resumed_release_is_judged_as_before() -> None:
    normal = run(HEALTHY_C, HEALTHY_H)
    assert apply(normal, paused=None) == normal
    assert operator_overrides(normal, POLICY, None, NOW, T0) == normal


# --- promote ----------------------------------------------------------------------------------


def test_a_promotion_request_skips_the_remaining_steps_once_a_step_passes() -> None:
    normal = run(HEALTHY_C, HEALTHY_H)
    promoted = apply(normal, promote_requested=mark(reason="hotfix, signed off"))
    assert promoted.action == "promote"
    assert promoted.next_step_index is None and promoted.wait_seconds == 0
    assert promoted.reason.startswith("promotion requested by ana: hotfix, signed off; ")
    assert normal.reason in promoted.reason
    assert promoted.findings == normal.findings


def test_a_promotion_request_never_skips_evidence_the_minimum_bake_or_a_failure() -> None:
    policy = CanaryPolicy(min_bake_seconds=1200)
    early = run(HEALTHY_C, HEALTHY_H, elapsed=720, policy=policy)
    assert early.action == "keep_baking" and "minimum bake" in early.reason
    assert apply(early, policy, promote_requested=mark()).action == "keep_baking"
    short = run(steady(10, 50, 0.001), steady(10, 950, 0.001))
    assert apply(short, promote_requested=mark()).action == "keep_baking"
    faulty = run(steady(3, 200, 0.2), steady(3, 3800, 0.01), elapsed=180)
    assert apply(faulty, promote_requested=mark()) == faulty
    cand = steady(20, 500, 0.01, app_rates={"NegativeFeedback": 0.05})
    champ = steady(20, 9500, 0.01, app_rates={"NegativeFeedback": 0.02})
    held = run(cand, champ, step=1)
    assert apply(held, promote_requested=mark()) == held


def test_a_promotion_request_never_promotes_a_step_advanced_without_evidence() -> None:
    policy = CanaryPolicy(on_insufficient_data="advance")
    verdict = run(steady(60, 50, 0.001), steady(60, 950, 0.001), policy=policy)
    assert verdict.action == "next_step"
    still = apply(verdict, policy, promote_requested=mark())
    assert still.action == "next_step" and still.next_step_index == 1
    assert "once a step passes its checks" in still.reason


def test_a_pause_wins_over_a_promotion_request() -> None:
    normal = run(HEALTHY_C, HEALTHY_H)
    both = apply(normal, paused=mark(by="bo"), promote_requested=mark())
    assert both.action == "keep_baking"
    assert both.reason.startswith("paused by bo")
    assert "without the pause: promote: promotion requested by ana" in both.reason


# --- the Judge Canary state reads the marks from the ledger -----------------------------------


def judged(summary: dict[str, Any], watch: bool = False) -> Verdict:
    eps, ledger, ctx = canary_ready()
    t1 = T0 + timedelta(minutes=10)
    state = shift(eps, ledger, ctx, 0, t1)
    eps.settle()
    ledger.update_summary(ctx.release_id, summary)
    now = t1 + timedelta(seconds=700) + DELAY
    metrics = FakeMetrics({"v7": IDLE + HEALTHY, "v6": CHAMPION})
    _, verdict, _ = judging.judge_canary(ctx, state, metrics, ledger, now, watch)
    recorded = ledger.record(
        ctx.release_id, "02#STEP#00#" + ("WATCH" if watch else "JUDGE") + "#0001"
    )
    assert recorded["verdict"] == verdict.model_dump(mode="json")
    return verdict


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_judge_canary_honours_pause_resume_and_promote_from_the_summary() -> None:
    assert judged({}).action == "next_step"
    paused = judged({"paused": {"by": "ana", "reason": "r", "at": at(12)}})
    assert paused.action == "keep_baking" and paused.reason.startswith("paused by ana: r;")
    assert judged({"paused": None}).action == "next_step"  # resumed
    promoted = judged({"promote_requested": {"by": "bo", "reason": "go", "at": at(12)}})
    assert promoted.action == "promote" and promoted.next_step_index is None


def test_a_post_promotion_watch_ignores_the_marks() -> None:
    mark_ = {"by": "ana", "reason": "r", "at": at(12)}
    watched = judged({"paused": mark_, "promote_requested": mark_}, watch=True)
    assert watched.action == "promote"
    assert "paused" not in watched.reason and "requested" not in watched.reason


# --- what the CLI shows -----------------------------------------------------------------------


def test_the_timeline_shows_an_operator_record_on_one_line() -> None:
    t0 = datetime.fromisoformat(at(0))
    item = {
        "kind": "operator",
        "action": "pause",
        "by": "ana",
        "reason": "waiting on the data team",
        "at": at(1),
    }
    assert timeline.describe(item, t0, {}) == [
        "+  60.0s  operator  pause by ana: waiting on the data team"
    ]
    stopped = {**item, "action": "abort", "via": "stopped the execution", "reason": None}
    (line,) = timeline.describe(stopped, t0, {})
    assert line.endswith("abort by ana (stopped the execution): no reason given")


def test_the_list_has_one_line_per_release_and_pending_approval() -> None:
    listing = {
        "releases": [
            {
                "release_id": "ep-v3-abc",
                "status": "running",
                "started_at": at(5),
                "finished_at": None,
                "candidate": "v3",
                "champion": "v2",
                "model_package_version": 3,
                "reason": None,
                "paused": {"by": "ana", "reason": "r", "at": at(6)},
                "promote_requested": None,
            },
            {
                "release_id": "ep-v2-def",
                "status": "rolled_back",
                "started_at": at(0),
                "finished_at": at(3),
                "candidate": "v2",
                "champion": "v1",
                "model_package_version": 2,
                "reason": "5xx_rate conclusively above 5.00%\nand more",
                "paused": None,
                "promote_requested": None,
            },
        ],
        "pending": [
            {
                "model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/g/4",
                "model_package_version": 4,
                "release_id": "ep-v4-ghi",
                "recorded_at": at(7),
                "reason": "the endpoint is locked by ep-v3-abc",
                "supersedes": None,
            }
        ],
    }
    lines = operate.release_lines(listing, "ep")
    assert lines[0] == "releases of ep (newest first):"
    assert lines[1].startswith("  ep-v3-abc  running ")
    assert "v3 (package v3) vs v2 [paused by ana]" in lines[1]
    assert lines[2].startswith("  ep-v2-def  rolled_back ")
    assert lines[2].endswith("5xx_rate conclusively above 5.00% and more")
    assert lines[3] == "pending approvals (waiting for the endpoint's lock):"
    assert lines[4].startswith("  ep-v4-ghi  pending  recorded ")
    assert "package v4 arn:aws:sagemaker:us-east-1:1:model-package/g/4" in lines[4]
    assert len(lines) == 5
    empty = operate.release_lines({"releases": [], "pending": []}, "ep")
    assert empty == [
        "releases of ep (newest first):",
        "  none",
        "pending approvals (waiting for the endpoint's lock):",
        "  none",
    ]


def test_the_live_view_shows_the_marks_of_a_running_release() -> None:
    from release_guard_cli import status

    meta = {
        "release_id": "ep-v3-abc",
        "status": "running",
        "started_at": at(0),
        "paused": {"by": "ana", "reason": "waiting", "at": at(1)},
        "promote_requested": {"by": "bo", "reason": "hotfix", "at": at(2)},
    }
    lines = status.view(meta, [], datetime.fromisoformat(at(3)))
    assert "paused: advancing withheld (rollback and hold still act); by ana: waiting" in lines
    assert "promotion requested: 100 % once the current step passes; by bo: hotfix" in lines
    done = status.view({**meta, "status": "promoted"}, [], datetime.fromisoformat(at(3)))
    assert not any(line.startswith(("paused", "promotion requested")) for line in done)
