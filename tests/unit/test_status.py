"""`release-guard release status --watch`: the live view's lines at moments of a recorded
release (tests/fixtures/reports/promoted.json), and how it refreshes on a terminal and
in a log."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from release_guard_cli import ops, status

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "promoted.json"
INFO = ops.StackInfo(state_machine_arn="arn:sm", table="t", start_function="f")


def release() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    items = json.loads(FIXTURE.read_text())
    meta = next(i for i in items if i["sk"] == "META")
    events = sorted((i for i in items if i["sk"] != "META"), key=lambda i: i["at"])
    return meta, events


def at(seconds: float) -> tuple[dict[str, Any], list[dict[str, Any]], datetime]:
    """The release as the ledger held it ``seconds`` after it started, still running."""
    meta, events = release()
    t0 = datetime.fromisoformat(meta["started_at"])
    now = t0 + timedelta(seconds=seconds)
    running = {k: v for k, v in meta.items() if k not in ("finished_at", "reason", "report")}
    running.pop("final_endpoint", None)
    running["status"] = "running"
    return running, [e for e in events if datetime.fromisoformat(e["at"]) <= now], now


def test_while_a_step_bakes_it_shows_the_step_bar_next_look_and_evidence() -> None:
    meta, items, now = at(5.0)
    lines = status.view(meta, items, now)
    text = "\n".join(lines)
    assert "canary step 1 of 4: candidate at 5 %" in text
    assert "weights: champion 95 % / v2 5 %  (last recorded shift)" in text
    bake = next(line for line in lines if line.startswith("bake  ["))
    assert "of min 3.0 s (max 40 s" in bake
    assert next(line for line in lines if line.startswith("next decision: judge look"))
    assert "latest evidence:" in text and "keep_baking" in text


def test_the_bar_fills_to_the_minimum_bake() -> None:
    assert status.bar(0.0, 10) == "[----------]"
    assert status.bar(0.5, 10) == "[#####-----]"
    assert status.bar(3.0, 10) == "[##########]"


def test_weights_come_from_describe_endpoint_when_it_answers() -> None:
    meta, items, now = at(5.0)
    endpoint = {
        "EndpointStatus": "UpdatingWeights",
        "ProductionVariants": [
            {"VariantName": "champion", "CurrentWeight": 0.75},
            {"VariantName": "v2", "CurrentWeight": 0.25},
        ],
    }
    lines = status.view(meta, items, now, endpoint)
    assert "weights: champion 75 % / v2 25 %  (UpdatingWeights, DescribeEndpoint)" in lines


def test_before_the_first_step_it_says_the_candidate_is_deploying() -> None:
    meta, items, now = at(1.0)
    assert [i["kind"] for i in items] == ["deploy"]
    text = "\n".join(status.view(meta, items, now))
    assert "deploying the candidate at weight 0: waiting for InService (deadline in" in text


def test_a_hold_names_the_commands_that_answer_it() -> None:
    meta, items, now = at(5.0)
    meta.update(status="awaiting_operator", hold_reason="not enough evidence")
    text = "\n".join(status.view(meta, items, now))
    assert "waiting for an operator: not enough evidence" in text
    assert f"release-guard release approve|abort {meta['release_id']}" in text
    assert "bake  [" not in text


def test_a_finished_release_shows_its_outcome_and_final_endpoint() -> None:
    meta, items = release()
    lines = status.view(meta, items, datetime.fromisoformat(meta["finished_at"]))
    assert lines[2].startswith("finished: PROMOTED: ")
    assert "weights: v2 100 %  (when the release finished)" in lines


def _fetcher(moments: list[float]) -> Any:
    frames = iter(moments)

    def fetch(info: ops.StackInfo, release_id: str) -> Any:
        t = next(frames)
        if t < 0:
            meta, items = release()
            return meta, items, None
        meta, items, _ = at(t)
        return meta, items, None

    return fetch


def test_on_a_terminal_it_redraws_in_place_until_the_release_ends() -> None:
    out = io.StringIO()
    _, _, now = at(5.0)
    code = status.watch(
        INFO,
        "r",
        out=out,
        fetch=_fetcher([5.0, 5.0, -1]),
        clock=lambda: now,
        sleep=lambda _: None,
        tty=True,
    )
    assert code == 0
    frames = out.getvalue().split(status.CLEAR)[1:]
    assert len(frames) == 3 and "finished: PROMOTED" in frames[-1]


def test_in_a_log_it_prints_only_when_something_new_is_decided() -> None:
    out = io.StringIO()
    _, _, now = at(5.0)
    status.watch(
        INFO,
        "r",
        out=out,
        fetch=_fetcher([5.0, 5.0, 5.0, 9.0, -1]),
        clock=lambda: now,
        sleep=lambda _: None,
        tty=False,
    )
    text = out.getvalue()
    assert "\x1b[" not in text
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 3  # at 5 s, at 9 s (new looks), and the end
    assert "finished: PROMOTED" in blocks[-1]
