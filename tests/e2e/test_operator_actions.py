"""The operator can act at any time (`release-guard release pause|resume|promote|list|
redrive`), with the stack's OperatorPolicy and nothing more: a pause keeps the canary at
its step while the judge would advance, resume lets it go on; promote skips the
remaining steps of a running release once a step passes, or answers a hold; list shows
the endpoint's releases and pending approvals; redrive replays FailedEventsQueue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from release_guard.aws import ledger as ledger_io
from release_guard_cli import main, operate, ops, timeline
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT, GROUP
from tests.e2e.support import (
    TEST_POLICY,
    assert_finished,
    assert_only,
    policy,
    register,
    shift_order,
    start,
    traffic,
    wait_for,
    why,
)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

OPERATOR = "e2e-operator"
# A step bakes at least 3 s: a mark written as soon as the release has its summary is
# there before the first step could pass.
BAKE = policy(**{"canary.min_bake_seconds": 3})
# No traffic reaches the candidate: no evidence by max_bake, so the step holds.
HOLD_SOON = policy(**{"canary.on_insufficient_data": "hold", "canary.max_bake_seconds": 2})


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False):
        yield env


def summary(env: Any, release_id: str, status: str = "running") -> dict[str, Any]:
    """The release's summary once it has ``status``."""

    def found() -> dict[str, Any] | None:
        meta = env.ledger(release_id).get("META")
        return meta if meta and meta.get("status") == status else None

    return dict(wait_for(found, 60, f"{release_id} to be {status}"))


def operator_records(env: Any, release_id: str) -> list[dict[str, Any]]:
    items = [i for k, i in env.ledger(release_id).items() if k.startswith("06#OPERATOR#")]
    return sorted(items, key=lambda i: str(i["at"]))


def looks(env: Any, release_id: str, step: int) -> list[dict[str, Any]]:
    prefix = f"02#STEP#{step:02d}#JUDGE#"
    return [i for k, i in sorted(env.ledger(release_id).items()) if k.startswith(prefix)]


def test_a_pause_holds_the_step_while_the_judge_would_advance_and_resume_goes_on(
    env: Any,
) -> None:
    champion = env.serving()
    package, candidate = register(env, HEALTHY)
    with traffic():
        started = start(env, package, BAKE)
        rid = started["release_id"]
        summary(env, rid)
        with env.operator():
            paused = operate.pause(env.info, rid, OPERATOR, "waiting for the data team")
        assert paused["paused"]["by"] == OPERATOR

        def withheld() -> list[dict[str, Any]] | None:
            held = [
                i
                for i in looks(env, rid, 0)
                if "without the pause: next_step" in i["verdict"]["reason"]
            ]
            return held if len(held) >= 2 else None

        # Twice the judge found step 0 passed and kept it baking: the canary stays put.
        # Generous: on a loaded machine the traffic takes longer to give step 0 its evidence.
        held = wait_for(withheld, 300, "two looks withheld by the pause")
        for look in held:
            assert look["verdict"]["action"] == "keep_baking"
            assert look["verdict"]["reason"].startswith(
                f"paused by {OPERATOR}: waiting for the data team; "
            )
        assert "02#STEP#01#SHIFT" not in env.ledger(rid), why(env, rid)
        assert env.weights() == {champion: 95.0, candidate: 5.0}

        with env.operator():
            resumed = operate.resume(env.info, rid, OPERATOR, "the data team agreed")
            assert resumed["was"]["reason"] == "waiting for the data team"
            again = operate.resume(env.info, rid, OPERATOR, None)
        assert again["detail"] == "was not paused"
        desc = env.wait(started["execution_arn"])
    assert desc["status"] == "SUCCEEDED", why(env, rid, desc)
    assert_only(env, candidate)
    ledger = assert_finished(env, rid, "promoted")
    assert shift_order(ledger) == [0, 1, 2, 3]
    assert ledger["META"]["paused"] is None
    assert [(r["action"], r["by"], r["reason"]) for r in operator_records(env, rid)] == [
        ("pause", OPERATOR, "waiting for the data team"),
        ("resume", OPERATOR, "the data team agreed"),
    ]
    # `release status` shows who paused and resumed it, one line each.
    with env.operator():
        items = ops.events(env.info, rid)
    lines = [
        line for i in items for line in timeline.describe(i, None, {}) if "  operator  " in line
    ]
    assert len(lines) == 2
    assert lines[0].endswith(f"operator  pause by {OPERATOR}: waiting for the data team")


def test_promote_skips_the_remaining_steps_of_a_running_release(env: Any) -> None:
    package, candidate = register(env, HEALTHY)
    with traffic():
        started = start(env, package, BAKE)
        rid = started["release_id"]
        summary(env, rid)
        with env.operator():
            asked = operate.promote(env.info, rid, OPERATOR, "hotfix, signed off")
        assert asked["promote_requested"]["reason"] == "hotfix, signed off"
        desc = env.wait(started["execution_arn"])
    assert desc["status"] == "SUCCEEDED", why(env, rid, desc)
    assert_only(env, candidate)
    ledger = assert_finished(env, rid, "promoted")
    # Step 0 passed its normal checks, then straight to 100 %.
    assert shift_order(ledger) == [0], why(env, rid, desc)
    decided = looks(env, rid, 0)[-1]["verdict"]
    assert decided["action"] == "promote"
    assert decided["reason"].startswith(f"promotion requested by {OPERATOR}: hotfix, signed off;")
    # Before the step had its evidence and its minimum bake, it kept baking.
    assert all(i["verdict"]["action"] == "keep_baking" for i in looks(env, rid, 0)[:-1])
    (rec,) = operator_records(env, rid)
    assert (rec["action"], rec["via"]) == ("promote", "promote_requested")


def test_promote_answers_a_hold(env: Any) -> None:
    package, candidate = register(env, HEALTHY)
    started = start(env, package, HOLD_SOON)
    rid = started["release_id"]
    meta = summary(env, rid, "awaiting_operator")
    assert "not enough evidence" in meta["hold_reason"]
    with env.operator():
        answered = operate.promote(env.info, rid, OPERATOR, "verified offline")
    assert answered["decision"] == {
        "decision": "promote",
        "operator": OPERATOR,
        "note": "verified offline",
    }
    desc = env.wait(started["execution_arn"])
    assert desc["status"] == "SUCCEEDED", why(env, rid, desc)
    assert_only(env, candidate)
    ledger = assert_finished(env, rid, "promoted")
    assert shift_order(ledger) == [0]  # from the held first step straight to 100 %
    (rec,) = operator_records(env, rid)
    assert (rec["action"], rec["via"]) == ("promote", "answered the hold")


def test_pause_and_promote_refuse_a_release_that_has_ended(env: Any) -> None:
    with env.operator():
        listing = operate.releases(env.info)
        done = next(r for r in listing["releases"] if r["status"] == "promoted")
        with pytest.raises(SystemExit, match="nothing to pause"):
            operate.pause(env.info, done["release_id"], OPERATOR, "too late")
        with pytest.raises(SystemExit, match="nothing to promote"):
            operate.promote(env.info, done["release_id"], OPERATOR, "too late")
    assert not env.ledger(done["release_id"])["META"].get("paused")


def test_redrive_replays_a_failed_event_and_deletes_it_once_handled(env: Any) -> None:
    sqs = boto3.client("sqs")
    url = env.info.failed_events_queue_url
    assert url

    def waiting(n: int) -> bool:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) == n and not int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    # A held release keeps the endpoint's lock: a release asked for meanwhile (from a
    # pipeline, asynchronously) fails with ReleaseLocked, three times, and Lambda keeps
    # its invocation record in FailedEventsQueue. So does a request that is simply wrong.
    holder, _ = register(env, HEALTHY)
    held = start(env, holder, HOLD_SOON)
    summary(env, held["release_id"], "awaiting_operator")
    package, _ = register(env, HEALTHY)
    later = {
        "endpoint_name": ENDPOINT,
        "model_package_arn": package,
        "trigger": "pipeline",
        "requested_by": "e2e",
        "release_id": "demo-endpoint-redriven",
        "policy": HOLD_SOON,
    }
    lam = boto3.client("lambda")
    start_fn = env.functions["StartReleaseFunction"]
    lam.invoke(FunctionName=start_fn, InvocationType="Event", Payload=json.dumps(later))
    lam.invoke(
        FunctionName=start_fn,
        InvocationType="Event",
        Payload=json.dumps({"endpoint_name": ENDPOINT, "trigger": "pipeline"}),  # no model
    )
    wait_for(lambda: waiting(2), 60, "two records in FailedEventsQueue")

    # Inspect: nothing replayed, nothing deleted.
    out = Lines()
    with env.operator():
        assert operate.redrive(env.info, OPERATOR, dry_run=True, out=out) == 0
    would = [line for line in out.lines if line.startswith("would replay")]
    assert len(would) == 2, out.lines
    assert any("ReleaseLocked" in line and package in line for line in would), out.lines
    assert any("InvalidReleaseRequest" in line for line in would), out.lines
    wait_for(lambda: waiting(2), 10, "both records visible again after the dry run")

    # The cause is fixed (the hold answered, its rollback verified): redrive.
    with env.operator():
        operate.abort(env.info, held["release_id"], OPERATOR, "making room")
    env.wait(held["execution_arn"])
    assert env.lock() is None
    out = Lines()
    with env.operator():
        assert operate.redrive(env.info, OPERATOR, out=out) == 1  # one still fails
    replayed = [line for line in out.lines if line.startswith("replayed")]
    kept = [line for line in out.lines if line.startswith("kept")]
    assert len(replayed) == 1 and "started:" in replayed[0] and "deleted" in replayed[0], out.lines
    assert len(kept) == 1 and "InvalidReleaseRequest" in kept[0], out.lines
    wait_for(lambda: waiting(1), 10, "the kept record visible again")
    # The replayed request started its release, recorded with who replayed it.
    rid = later["release_id"]
    summary(env, rid, "awaiting_operator")
    (rec,) = operator_records(env, rid)
    assert (rec["action"], rec["by"]) == ("redrive", OPERATOR)
    with env.operator():
        result, code = operate.abort(env.info, rid, OPERATOR, "done with the test")
    assert code == 0 and result["action"] == "decided"
    env.wait(f"{env.info.state_machine_arn.replace(':stateMachine:', ':execution:')}:{rid}")
    sqs.purge_queue(QueueUrl=url)


def test_list_shows_the_endpoints_releases_and_a_pending_approval(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    package, _ = register(env, HEALTHY)
    ops.use_table(env.info)
    ledger_io.put_pending(
        ENDPOINT,
        GROUP,
        {
            "model_package_arn": package,
            "model_package_version": 99,
            "release_id": "demo-endpoint-pending",
            "recorded_at": "2030-01-01T00:00:00+00:00",
            "reason": "pending: the endpoint was locked",
        },
    )
    try:
        with env.operator():
            assert main.main(["release", "--stack-name", env.fx.stack.name, "list", "--json"]) == 0
            listing = json.loads(capsys.readouterr().out)
            assert main.main(["release", "--stack-name", env.fx.stack.name, "list"]) == 0
            text = capsys.readouterr().out.splitlines()
    finally:
        ledger_io.take_pending(ENDPOINT, GROUP, "demo-endpoint-pending")
    releases = listing["releases"]
    assert len(releases) >= 4
    started = [r["started_at"] for r in releases]
    assert started == sorted(started, reverse=True)  # newest first
    outcomes = {r["release_id"]: r["status"] for r in releases}
    assert "promoted" in outcomes.values() and "rolled_back" in outcomes.values()
    assert outcomes["demo-endpoint-redriven"] == "rolled_back"
    promoted = next(r for r in releases if r["status"] == "promoted")
    assert promoted["finished_at"] and promoted["candidate"] and promoted["champion"]
    assert promoted["model_package_version"] is not None
    (pending,) = listing["pending"]
    assert pending["model_package_arn"] == package
    assert pending["release_id"] == "demo-endpoint-pending"
    assert text[0] == f"releases of {ENDPOINT} (newest first):"
    assert len([t for t in text if t.startswith("  demo-endpoint-")]) == len(releases) + 1
    assert any(" rolled_back " in t and "demo-endpoint-redriven" in t for t in text)
    assert text[-1].startswith("  demo-endpoint-pending  pending  recorded 2030-01-01")


class Lines:
    """A TextIO for redrive's output: the printed lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines += [line for line in text.splitlines() if line]
        return len(text)

    def flush(self) -> None:
        pass
