"""`release-guard release status <id> --watch`: a live view of a running release.

Current step and weights, how long the step has baked (a bar to the policy's minimum
bake), when the judge looks next, and the latest evidence; refreshed in place on a
terminal until the release ends. Not on a terminal (a pipe, a CI log), it prints plain
text only when something new is decided.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from release_guard.policy import ReleasePolicy

from release_guard_cli import ops, timeline

# A stopped release is "recovering" until Recover Release verifies the endpoint.
RUNNING = ("running", "awaiting_operator", "recovering")
CLEAR = "\x1b[H\x1b[2J"


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(str(value))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _secs(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def bar(fraction: float, width: int = 24) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    full = round(fraction * width)
    return "[" + "#" * full + "-" * (width - full) + "]"


def _policy(meta: dict[str, Any]) -> ReleasePolicy | None:
    try:
        return ReleasePolicy.model_validate(meta.get("policy") or {})
    except ValueError:
        return None


def _latest(items: list[dict[str, Any]], *kinds: str) -> dict[str, Any] | None:
    found = [i for i in items if i.get("kind") in kinds]
    return max(found, key=lambda i: str(i.get("at", ""))) if found else None


def view(
    meta: dict[str, Any],
    items: list[dict[str, Any]],
    now: datetime,
    endpoint: dict[str, Any] | None = None,
) -> list[str]:
    """The live view's lines. ``endpoint`` is DescribeEndpoint now, when readable."""
    rid = meta.get("release_id", "?")
    status = str(meta.get("status", "unknown"))
    t0 = _when(meta.get("started_at"))
    ctx = {"candidate": str(meta.get("candidate", "")), "champion": str(meta.get("champion", ""))}
    elapsed = (now - t0).total_seconds() if t0 else 0.0
    policy = _policy(meta)
    out = [
        f"release {rid}: {status}  (endpoint {meta.get('endpoint_name')}, "
        f"policy {meta.get('policy_version')}, {_secs(max(elapsed, 0))} since start)",
        f"candidate {ctx['candidate']} vs champion {ctx['champion']}",
    ]
    shift = _latest(items, "shift")
    look = _latest(items, "judge", "watch")
    kinds = {i.get("kind") for i in items}
    steps = len(policy.canary.steps) if policy else None

    # Where the release is.
    if status not in RUNNING:
        out.append(f"finished: {status.upper()}: {meta.get('reason') or ''}")
    elif status == "awaiting_operator":
        out.append(
            f"waiting for an operator: {meta.get('hold_reason') or ''}; answer with "
            f"`release-guard release approve|abort {rid}` (or promote)"
        )
    elif "rollback_started" in kinds:
        out.append("rolling back: all traffic to the champion, then the candidate removed")
    elif "promoted_to_100" in kinds:
        out.append("promoting: the candidate has 100 %; post-promotion watch, then retire")
    elif shift is not None:
        i = int(shift.get("step_index") or 0)
        out.append(f"canary step {i + 1} of {steps or '?'}: candidate at {shift.get('percent')} %")
    elif "deploy" in kinds:
        deadline = _when(((_latest(items, "deploy") or {}).get("result") or {}).get("deadline"))
        left = f" (deadline in {_secs((deadline - now).total_seconds())})" if deadline else ""
        out.append(f"deploying the candidate at weight 0: waiting for InService{left}")
    elif "gate" in kinds:
        out.append("eval gate decided; deploying next")
    else:
        out.append("starting: eval gate or deployment next")

    # The operator's marks (`release-guard release pause|promote`).
    if status in RUNNING:
        for key, what in (
            ("paused", "paused: advancing withheld (rollback and hold still act)"),
            ("promote_requested", "promotion requested: 100 % once the current step passes"),
        ):
            mark = meta.get(key)
            if isinstance(mark, dict):
                out.append(f"{what}; by {mark.get('by')}: {mark.get('reason')}")

    # Weights: DescribeEndpoint now, else the last recorded split.
    if endpoint and endpoint.get("ProductionVariants"):
        variants = endpoint["ProductionVariants"]
        total = sum(float(v.get("CurrentWeight") or 0) for v in variants) or 1.0
        split = " / ".join(
            f"{v['VariantName']} {100 * float(v.get('CurrentWeight') or 0) / total:.3g} %"
            for v in variants
        )
        out.append(f"weights: {split}  ({endpoint.get('EndpointStatus')}, DescribeEndpoint)")
    elif isinstance(meta.get("final_endpoint"), dict):
        variants = meta["final_endpoint"].get("variants") or []
        total = sum(float(v.get("current_weight") or 0) for v in variants) or 1.0
        split = " / ".join(
            f"{v.get('name')} {100 * float(v.get('current_weight') or 0) / total:.3g} %"
            for v in variants
        )
        out.append(f"weights: {split}  (when the release finished)")
    elif shift is not None:
        split = " / ".join(f"{k} {v:g} %" for k, v in (shift.get("weights") or {}).items())
        out.append(f"weights: {split}  (last recorded shift)")

    # The bake and the next decision, while a step is baking.
    if status == "running" and shift is not None and policy and "rollback_started" not in kinds:
        started = _when(shift.get("at"))
        step = int(shift.get("step_index") or 0)
        in_step = [
            i
            for i in items
            if i.get("kind") in ("judge", "watch")
            and int((i.get("verdict") or {}).get("step_index") or 0) == step
        ]
        last = max(in_step, key=lambda i: str(i.get("at", ""))) if in_step else None
        action = (last or {}).get("verdict", {}).get("action")
        canary = policy.canary
        if started is not None and action in (None, "keep_baking"):
            baked = (now - started).total_seconds()
            reached = "; minimum reached" if baked >= canary.min_bake_seconds else ""
            out.append(
                f"bake  {bar(baked / canary.min_bake_seconds)}  {_secs(max(baked, 0))} of min "
                f"{_secs(canary.min_bake_seconds)} (max {_secs(canary.max_bake_seconds)}{reached})"
            )
            if last is not None:
                due = _when(last.get("at"))
                wait = float((last.get("verdict") or {}).get("wait_seconds") or 0)
            else:
                due = started
                wait = float(max(1, min(canary.check_interval_seconds, canary.min_bake_seconds)))
            if due is not None:
                remaining = (due - now).total_seconds() + wait
                soon = f"in ~{_secs(remaining)}" if remaining > 0.5 else "due now"
                out.append(f"next decision: judge look {len(in_step) + 1} of this step {soon}")
        elif action:
            out.append(f"step decided: {action}")

    # The latest evidence.
    if look is not None:
        out.append("latest evidence:")
        out += ["  " + line for line in timeline.describe(look, t0, ctx)]
    return out


def _fetch(
    info: ops.StackInfo, release_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    meta = ops.summary(info, release_id)
    items = ops.events(info, release_id)
    try:
        endpoint = ops.endpoint_state(str(meta.get("endpoint_name")))
    except Exception:  # the view still shows the ledger without DescribeEndpoint
        endpoint = None
    return meta, items, endpoint


def watch(
    info: ops.StackInfo,
    release_id: str,
    interval: float = 2.0,
    out: TextIO = sys.stdout,
    fetch: Callable[..., Any] = _fetch,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    tty: bool | None = None,
) -> int:
    """Refresh until the release ends: in place on a terminal, else print what is new."""
    live = out.isatty() if tty is None else tty
    printed: tuple[Any, ...] | None = None
    waiting = False
    while True:
        try:
            meta, items, endpoint = fetch(info, release_id)
        except SystemExit:  # not in the ledger yet: the lock comes first
            if not waiting:
                print(f"waiting for release {release_id} to appear in the ledger", file=out)
                waiting = True
            sleep(interval)
            continue
        lines = view(meta, items, clock(), endpoint)
        done = meta.get("status") not in RUNNING
        if live:
            cols = shutil.get_terminal_size((120, 40)).columns
            out.write(CLEAR + "\n".join(line[:cols] for line in lines) + "\n")
            out.flush()
        else:
            key = (meta.get("status"), tuple(str(i.get("sk")) for i in items))
            if key != printed:
                if printed is not None:
                    print("", file=out)
                print("\n".join(lines), file=out, flush=True)
                printed = key
        if done:
            return 0
        sleep(interval)


def add_arguments(status_parser: Any) -> None:
    """--watch and --interval on `release-guard release status`."""
    status_parser.add_argument(
        "--watch", action="store_true", help="refresh until the release ends (live view)"
    )
    status_parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between refreshes (--watch)"
    )
