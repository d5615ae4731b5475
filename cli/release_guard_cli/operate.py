"""What an operator can do at any time (`release-guard release abort|pause|resume|promote|
list|redrive`), over plain boto3 as ops.py: the same code drives AWS and the emulator.

Every action is recorded in the release's ledger, ``06#OPERATOR#<at>#<action>``, with
who and why, before it acts (docs/operations.md, "Operator commands").
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from release_guard.aws import ledger, workflow

from release_guard_cli import ops

LIVE = ("running", "awaiting_operator")
# SendTaskSuccess on the token of an execution that has ended.
STALE_TOKEN = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})
HANDLED = ("recovered", "nothing_to_do")
# A synchronous invoke waits for its function (Recover Release and Drift Check may run
# 900 s) and is never re-sent by botocore: a retried read timeout would run it twice.
SYNC_INVOKE = Config(read_timeout=960, connect_timeout=10, retries={"total_max_attempts": 1})
REDRIVE_VISIBILITY = 960  # seconds a message being replayed stays hidden from others
DRY_RUN_VISIBILITY = 60


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def record(
    info: ops.StackInfo, release_id: str, action: str, by: str, reason: str | None, **extra: Any
) -> dict[str, Any]:
    """The operator's action in the release's ledger (one item per action)."""
    ops.use_table(info)
    at = now_iso()
    item = {"kind": "operator", "action": action, "by": by, "reason": reason, "at": at, **extra}
    ledger.record_once(release_id, f"06#OPERATOR#{at}#{action}", item)
    return item


def _meta(info: ops.StackInfo, release_id: str) -> dict[str, Any] | None:
    ops.use_table(info)
    return ledger.summary(release_id)


def execution_status(
    info: ops.StackInfo, release_id: str, meta: dict[str, Any] | None
) -> tuple[str, str | None]:
    """(execution ARN, its status or None when there is no such execution)."""
    arn = str(
        (meta or {}).get("execution_arn")
        or workflow.execution_arn(info.state_machine_arn, release_id)
    )
    try:
        return arn, str(ops.execution(arn)["status"])
    except ClientError as err:
        if _code(err) == "ExecutionDoesNotExist":
            return arn, None
        raise


def _live(info: ops.StackInfo, release_id: str, what: str) -> dict[str, Any]:
    """The summary of a release whose execution still runs, else SystemExit."""
    meta = _meta(info, release_id)
    if meta is None:
        raise SystemExit(f"no release {release_id} in the ledger {info.table}")
    status = meta.get("status")
    _, running = execution_status(info, release_id, meta)
    if status not in LIVE or running != "RUNNING":
        raise SystemExit(
            f"release {release_id} is {status} (execution {running or 'not found'}): "
            f"nothing to {what}; `release-guard release abort` recovers a release that "
            "ended without a verified end"
        )
    return meta


# --- abort -------------------------------------------------------------------------------


def recover(
    info: ops.StackInfo, release_id: str, operator: str, reason: str | None
) -> dict[str, Any]:
    """Invoke Recover Release synchronously: a verified rollback and finish of a release
    whose execution has ended (nothing_to_do when it already has a verified end)."""
    if not info.recover_function:
        raise SystemExit(
            "the stack has no RecoverReleaseFunctionName output: deploy the current "
            "template (Recover Release) to abort a release that is not held"
        )
    request = {"release_id": release_id, "reason": reason or "", "requested_by": operator}
    lam = boto3.client("lambda", config=SYNC_INVOKE)
    for attempt in range(5):
        resp = lam.invoke(FunctionName=info.recover_function, Payload=json.dumps(request).encode())
        payload = json.loads(resp["Payload"].read() or b"{}")
        if resp.get("FunctionError"):
            return {
                "release_id": release_id,
                "action": "error",
                "outcome": None,
                "detail": f"{payload.get('errorType')}: {payload.get('errorMessage')}",
            }
        # busy: Step Functions still shows the stopped execution running, for a moment.
        if payload.get("action") != "busy" or attempt == 4:
            return dict(payload)
        time.sleep(2)
    raise AssertionError("unreachable")


def _wait_ended(arn: str, timeout: float = 60) -> str:
    desc = ops.wait(arn, timeout, poll=0.2, max_poll=2.0)
    return str(desc["status"])


def abort(
    info: ops.StackInfo, release_id: str, operator: str, note: str | None
) -> tuple[dict[str, Any], int]:
    """Abort a release at any point: answer its hold; else stop its execution and
    recover it (verified rollback, finish); an execution that already ended is
    recovered directly. Returns (what happened, exit code)."""
    meta = _meta(info, release_id)
    arn, status = execution_status(info, release_id, meta)
    if meta is None and status is None:
        raise SystemExit(f"no release {release_id}: neither in the ledger nor an execution")
    token = (meta or {}).get("task_token")
    if (meta or {}).get("status") == "awaiting_operator" and token and status == "RUNNING":
        record(info, release_id, "abort", operator, note, via="answered the hold")
        try:
            body = ops.answer(info, release_id, str(token), "abort", operator, note)
            return {"release_id": release_id, "action": "decided", "decision": body}, 0
        except ClientError as err:
            if _code(err) not in STALE_TOKEN:
                raise
        _, status = execution_status(info, release_id, meta)  # ended meanwhile
    if status == "RUNNING":
        record(info, release_id, "abort", operator, note, via="stopped the execution")
        cause = f"aborted by {operator}: {note or 'no reason given'}"
        try:
            boto3.client("stepfunctions").stop_execution(
                executionArn=arn, error="OperatorAbort", cause=cause[:32768]
            )
        except ClientError as err:
            if _code(err) != "ExecutionDoesNotExist":
                raise
        _wait_ended(arn)
    else:
        record(info, release_id, "abort", operator, note, via="recovery (execution ended)")
    result = recover(info, release_id, operator, note)
    return result, 0 if result.get("action") in HANDLED else 1


# --- pause, resume, promote --------------------------------------------------------------


def pause(info: ops.StackInfo, release_id: str, operator: str, reason: str) -> dict[str, Any]:
    """Withhold advancing (next step, promotion) until resumed; rollback and hold still
    act. The judge reads the mark at each look."""
    _live(info, release_id, "pause")
    mark = {"by": operator, "reason": reason, "at": now_iso()}
    record(info, release_id, "pause", operator, reason)
    ledger.update_summary(release_id, {"paused": mark})
    return {"release_id": release_id, "paused": mark}


def resume(
    info: ops.StackInfo, release_id: str, operator: str, reason: str | None
) -> dict[str, Any]:
    meta = _meta(info, release_id)
    if meta is None:
        raise SystemExit(f"no release {release_id} in the ledger {info.table}")
    if not meta.get("paused"):
        return {"release_id": release_id, "paused": None, "detail": "was not paused"}
    record(info, release_id, "resume", operator, reason, was=meta["paused"])
    ledger.update_summary(release_id, {"paused": None})
    return {"release_id": release_id, "paused": None, "was": meta["paused"]}


def promote(info: ops.StackInfo, release_id: str, operator: str, reason: str) -> dict[str, Any]:
    """Skip to 100 % after the normal checks: a held release is answered "promote" (to
    promotion at once); a running one gets the mark and the judge promotes when the
    current step passes (every critical rule with its evidence, minimum bake over)."""
    meta = _live(info, release_id, "promote")
    token = meta.get("task_token")
    if meta.get("status") == "awaiting_operator" and token:
        record(info, release_id, "promote", operator, reason, via="answered the hold")
        try:
            body = ops.answer(info, release_id, str(token), "promote", operator, reason)
        except ClientError as err:
            if _code(err) not in STALE_TOKEN:
                raise
            raise SystemExit(f"release {release_id} ended while held: {err}") from err
        return {"release_id": release_id, "action": "decided", "decision": body}
    mark = {"by": operator, "reason": reason, "at": now_iso()}
    record(info, release_id, "promote", operator, reason, via="promote_requested")
    ledger.update_summary(release_id, {"promote_requested": mark})
    return {
        "release_id": release_id,
        "promote_requested": mark,
        "detail": "promoted once the current step passes its checks",
    }


def approve(
    info: ops.StackInfo, release_id: str, operator: str, note: str | None
) -> dict[str, Any]:
    """Answer a hold: continue (the verdict's next step, or promotion at the last)."""
    meta = ops.summary(info, release_id)
    if meta.get("status") != "awaiting_operator" or not meta.get("task_token"):
        raise SystemExit(
            f"release {release_id} is {meta.get('status')}, not awaiting an operator decision"
        )
    record(info, release_id, "approve", operator, note, via="answered the hold")
    return ops.answer(info, release_id, str(meta["task_token"]), "approve", operator, note)


# --- list --------------------------------------------------------------------------------

RELEASE_FIELDS = (
    "release_id",
    "status",
    "started_at",
    "finished_at",
    "candidate",
    "champion",
    "model_package_version",
    "reason",
    "paused",
    "promote_requested",
)
PENDING_FIELDS = (
    "model_package_arn",
    "model_package_version",
    "release_id",
    "recorded_at",
    "reason",
    "supersedes",
)


def releases(info: ops.StackInfo, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
    """The endpoint's releases (newest first) and approvals waiting for its lock."""
    if not info.endpoint_name:
        raise SystemExit("the stack has neither an EndpointName output nor parameter")
    ops.use_table(info)
    found = ledger.recent_releases(info.endpoint_name, limit)
    pending = ledger.pending_approvals(info.endpoint_name)
    return {
        "releases": [{k: m.get(k) for k in RELEASE_FIELDS} for m in found],
        "pending": [{k: p.get(k) for k in PENDING_FIELDS} for p in pending],
    }


def _cut(text: Any, width: int = 100) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def release_lines(listing: dict[str, list[dict[str, Any]]], endpoint: str) -> list[str]:
    """One line per release, then one per pending approval."""
    out = [f"releases of {endpoint} (newest first):"]
    if not listing["releases"]:
        out.append("  none")
    for r in listing["releases"]:
        version = r.get("model_package_version")
        cand = f"{r.get('candidate')}" + (f" (package v{version})" if version is not None else "")
        marks = "".join(
            f" [{name} by {(r.get(key) or {}).get('by')}]"
            for key, name in (("paused", "paused"), ("promote_requested", "promote requested"))
            if r.get(key)
        )
        out.append(
            f"  {r.get('release_id')}  {r.get('status')!s:<19} "
            f"{r.get('started_at') or '?'} -> {r.get('finished_at') or '...'}  "
            f"{cand} vs {r.get('champion')}{marks}  {_cut(r.get('reason'))}".rstrip()
        )
    out.append("pending approvals (waiting for the endpoint's lock):")
    if not listing["pending"]:
        out.append("  none")
    for p in listing["pending"]:
        replaces = f" (supersedes {p['supersedes']})" if p.get("supersedes") else ""
        out.append(
            f"  {p.get('release_id')}  pending  recorded {p.get('recorded_at')}  package "
            f"v{p.get('model_package_version')} {p.get('model_package_arn')}{replaces}  "
            f"{_cut(p.get('reason'))}".rstrip()
        )
    return out


# --- redrive -----------------------------------------------------------------------------


def _function(arn: str) -> str:
    """The function to invoke: the record's ARN without ``:$LATEST`` (the operator's
    policy names the stack's functions unqualified, as their Arn attribute is)."""
    return arn.removesuffix(":$LATEST")


def _short(fn: str) -> str:
    return fn.split(":function:")[-1] if ":function:" in fn else fn


def _what(payload: Any) -> str:
    """What an event is about, in a few words."""
    if isinstance(payload, dict):
        found = payload.get("detail")
        detail: dict[str, Any] = found if isinstance(found, dict) else {}
        for label, value in (
            ("package", detail.get("ModelPackageArn")),
            ("package", payload.get("model_package_arn")),
            ("release", payload.get("release_id")),
            ("endpoint", payload.get("endpoint")),
        ):
            if value:
                return f"{label} {value}"
    return _cut(json.dumps(payload, default=str), 80)


def _answer_text(payload: Any) -> str:
    if isinstance(payload, dict):
        if "status" in payload:
            return _cut(f"{payload['status']}: {payload.get('reason') or ''}", 160)
        if "action" in payload:
            return _cut(f"{payload['action']}: {payload.get('detail') or ''}", 160)
    return _cut(json.dumps(payload, default=str), 160)


def _error_text(payload: Any) -> str:
    if isinstance(payload, dict) and (payload.get("errorType") or payload.get("errorMessage")):
        return _cut(f"{payload.get('errorType')}: {payload.get('errorMessage')}", 200)
    return _cut(json.dumps(payload, default=str), 200)


def _release_of(request: Any, answer: Any) -> str | None:
    for doc in (answer, request):
        if isinstance(doc, dict) and isinstance(doc.get("release_id"), str):
            return str(doc["release_id"])
    return None


def _replay(info: ops.StackInfo, rec: dict[str, Any], operator: str, lam: Any) -> tuple[bool, str]:
    """Invoke the record's function with its event, synchronously: (handled, text)."""
    ctx = rec["requestContext"]
    fn = _function(str(ctx["functionArn"]))
    try:
        resp = lam.invoke(
            FunctionName=fn,
            InvocationType="RequestResponse",
            Payload=json.dumps(rec.get("requestPayload"), default=str).encode(),
        )
    except ClientError as err:
        return False, f"{_code(err)}: {_cut(err, 200)}"
    answer = json.loads(resp["Payload"].read() or b"null")
    if resp.get("FunctionError"):
        return False, _error_text(answer)
    release_id = _release_of(rec.get("requestPayload"), answer)
    if release_id:
        try:
            record(
                info,
                release_id,
                "redrive",
                operator,
                f"replayed {_short(fn)} request {ctx.get('requestId')} from FailedEventsQueue",
                answer=_answer_text(answer),
            )
        except ClientError as err:  # the replay happened; say so, keep going
            return True, f"{_answer_text(answer)} (not recorded in the ledger: {_code(err)})"
    return True, _answer_text(answer)


def redrive(
    info: ops.StackInfo, operator: str, dry_run: bool = False, out: TextIO = sys.stdout
) -> int:
    """Replay every record in FailedEventsQueue: the function again, synchronously, with
    the original event. A record is deleted once its function returned without a
    FunctionError (refused, duplicate or ignored count as handled) and kept otherwise,
    visible again for the alarm and the next redrive. 0 when nothing was kept."""
    url = info.failed_events_queue_url
    if not url:
        raise SystemExit("the stack has no FailedEventsQueueUrl output")
    sqs = boto3.client("sqs")
    lam = boto3.client("lambda", config=SYNC_INVOKE)
    count = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ].get("ApproximateNumberOfMessages", "0")
    print(f"{count} failed event(s) in {url}{' (dry run)' if dry_run else ''}", file=out)
    seen: set[str] = set()
    hidden: list[str] = []  # receipt handles to make visible again at the end
    kept = 0
    try:
        while True:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=1,
                VisibilityTimeout=DRY_RUN_VISIBILITY if dry_run else REDRIVE_VISIBILITY,
            ).get("Messages", [])
            if not got:
                break
            msg = got[0]
            if msg["MessageId"] in seen:  # back after its visibility timeout: done
                hidden.append(msg["ReceiptHandle"])
                break
            seen.add(msg["MessageId"])
            try:
                rec = json.loads(msg["Body"])
                ctx = rec["requestContext"]
                fn = _function(str(ctx["functionArn"]))
            except (ValueError, KeyError, TypeError):
                kept += 1
                hidden.append(msg["ReceiptHandle"])
                print(f"kept {msg['MessageId']}: not a Lambda invocation record", file=out)
                continue
            about = (
                f"{_short(fn)} request {ctx.get('requestId')} "
                f"({ctx.get('condition')} after {ctx.get('approximateInvokeCount')} attempt(s): "
                f"{_error_text(rec.get('responsePayload'))}): {_what(rec.get('requestPayload'))}"
            )
            if dry_run:
                hidden.append(msg["ReceiptHandle"])
                print(f"would replay {about}", file=out)
                continue
            handled, text = _replay(info, rec, operator, lam)
            if handled:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
                print(f"replayed {about} -> {text}; deleted", file=out)
            else:
                kept += 1
                hidden.append(msg["ReceiptHandle"])
                print(f"kept {about} -> still failing: {text}", file=out)
    finally:
        for handle in hidden:
            try:
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
                )
            except ClientError as err:  # it reappears after its visibility timeout anyway
                print(f"note: a kept message stays hidden for a while ({_code(err)})", file=out)
    return 1 if kept else 0
