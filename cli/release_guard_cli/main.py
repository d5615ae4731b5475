"""The `release-guard` command."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import boto3


def _root() -> Path:
    here = Path.cwd()
    for p in (here, *here.parents):
        if (p / "template.yaml").exists() and (p / "functions").is_dir():
            return p
    raise SystemExit("run release-guard from the project checkout (template.yaml not found)")


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_demo(args: argparse.Namespace) -> int:
    from release_guard_cli import demo

    return demo.run(_root())


def cmd_invoke(args: argparse.Namespace) -> int:
    from release_guard_cli import local

    result = local.invoke(_root(), args.function, Path(args.event))
    _print(result)
    return 1 if result.get("FunctionError") else 0


def cmd_release(args: argparse.Namespace) -> int:
    from release_guard_cli import ops, timeline

    info = ops.stack_info(args.stack_name)
    if args.action == "start":
        request: dict[str, Any] = {
            "endpoint_name": args.endpoint,
            "model_package_arn": args.package,
            "trigger": "cli",
            "requested_by": getpass.getuser(),
        }
        if args.policy:
            request["policy"] = json.loads(Path(args.policy).read_text())
        if args.release_id:
            request["release_id"] = args.release_id
        if args.force:
            request["force"] = True
        result = ops.start(info, request)
        _print(result)
        if result.get("status") == "refused":
            print(f"release refused: {result.get('reason')}", file=sys.stderr)
            return 1
        if args.wait and result.get("execution_arn"):
            desc = ops.wait(result["execution_arn"], args.timeout)
            print(f"execution {desc['status']}")
            return 0 if desc["status"] == "SUCCEEDED" else 1
        return 0
    if args.action == "status":
        if args.watch:
            from release_guard_cli import status

            return status.watch(info, args.release_id, args.interval)
        meta = ops.summary(info, args.release_id)
        items = ops.events(info, args.release_id)
        ctx = {"candidate": meta.get("candidate", ""), "champion": meta.get("champion", "")}
        print(
            f"release {args.release_id}: {meta.get('status')} "
            f"(endpoint {meta.get('endpoint_name')}, policy {meta.get('policy_version')})"
        )
        print(f"  {timeline.versions_line(meta)}")
        from datetime import datetime

        t0 = datetime.fromisoformat(str(meta["started_at"])) if meta.get("started_at") else None
        for item in items:
            for line in timeline.describe(item, t0, ctx):
                print("  " + line)
        try:
            for line in timeline.endpoint_lines(ops.endpoint_state(str(meta["endpoint_name"]))):
                print("  " + line)
        except boto3.client("sagemaker").exceptions.ClientError as err:
            print(f"  endpoint not readable: {err}")
        return 0
    return operate(info, args)


def operate(info: Any, args: argparse.Namespace) -> int:
    """The operator's actions on a release (operate.py), each recorded with who and why."""
    from release_guard_cli import operate as op

    who = getpass.getuser()
    if args.action == "approve":
        _print(op.approve(info, args.release_id, who, args.note))
        return 0
    if args.action == "abort":
        result, code = op.abort(info, args.release_id, who, args.note)
        _print(result)
        return code
    if args.action == "pause":
        _print(op.pause(info, args.release_id, who, args.reason))
        return 0
    if args.action == "resume":
        _print(op.resume(info, args.release_id, who, args.reason))
        return 0
    if args.action == "promote":
        _print(op.promote(info, args.release_id, who, args.reason))
        return 0
    if args.action == "list":
        listing = op.releases(info, args.limit)
        if args.json:
            _print(listing)
        else:
            print("\n".join(op.release_lines(listing, str(info.endpoint_name))))
        return 0
    if args.action == "redrive":
        return op.redrive(info, who, args.dry_run)
    raise SystemExit(f"unknown action {args.action}")


def cmd_serve(args: argparse.Namespace) -> int:
    from release_guard_cli import serve

    return serve.run(_root(), args.port, args.rate, args.seconds)


def cmd_eval(args: argparse.Namespace) -> int:
    from release_guard_cli import evalcmd

    return evalcmd.run(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="release-guard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the release story in the emulated account").set_defaults(
        fn=cmd_demo
    )
    inv = sub.add_parser("invoke", help="run one handler against the emulated account")
    inv.add_argument("function", help="logical id (StartReleaseFunction) or folder (start_release)")
    inv.add_argument("--event", required=True, help="events/<function>/<case>.json")
    inv.set_defaults(fn=cmd_invoke)
    emu = sub.add_parser("emulator", help="the emulated account as a local server")
    esub = emu.add_subparsers(dest="action", required=True)
    srv = esub.add_parser("serve", help="serve it on 127.0.0.1 for the CLI in other shells")
    srv.add_argument("--port", type=int, default=5757)
    srv.add_argument("--rate", type=float, default=40, help="traffic, requests per second")
    srv.add_argument("--seconds", type=float, default=None, help="stop after (default: Ctrl-C)")
    srv.set_defaults(fn=cmd_serve)
    ev = sub.add_parser("eval", help="eval datasets against candidate and champion variants")
    evsub = ev.add_subparsers(dest="action", required=True)
    er = evsub.add_parser("run", help="invoke both variants (TargetVariant), score, write records")
    from release_guard_cli import evalcmd

    evalcmd.add_arguments(er)
    er.set_defaults(fn=cmd_eval)
    from release_guard_cli import driftcmd

    driftcmd.add_arguments(sub)
    from release_guard_cli import manifestcmd

    manifestcmd.add_arguments(sub)
    from release_guard_cli import report, status

    report.add_arguments(sub)
    rel = sub.add_parser("release", help="start, inspect and answer releases (AWS or emulated)")
    rel.add_argument("--stack-name", default="release-guard")
    rsub = rel.add_subparsers(dest="action", required=True)
    st = rsub.add_parser("start")
    st.add_argument("--endpoint", required=True)
    st.add_argument("--package", required=True, help="model package ARN")
    st.add_argument("--policy", help="a release policy JSON file (default: the stack's)")
    st.add_argument("--release-id")
    st.add_argument(
        "--force",
        action="store_true",
        help="release a package that already has a release-guard outcome (e.g. rolled back)",
    )
    st.add_argument("--wait", action="store_true")
    st.add_argument("--timeout", type=float, default=7200)
    a = rsub.add_parser("status", help="the timeline of a release (--watch: live)")
    a.add_argument("release_id")
    status.add_arguments(a)
    a = rsub.add_parser("approve", help="answer a hold: continue")
    a.add_argument("release_id")
    a.add_argument("--note")
    a = rsub.add_parser(
        "abort",
        help="roll back (verified) now: a held release, a running one, or one "
        "whose execution ended without a verified end",
    )
    a.add_argument("release_id")
    a.add_argument("--note", required=True, help="why (recorded in the ledger)")
    a = rsub.add_parser("pause", help="withhold the next step and promotion until resumed")
    a.add_argument("release_id")
    a.add_argument("--reason", required=True, help="why (recorded in the ledger)")
    a = rsub.add_parser("resume", help="let a paused release advance again")
    a.add_argument("release_id")
    a.add_argument("--reason")
    a = rsub.add_parser(
        "promote", help="skip the remaining steps once the current one passes (or answer a hold)"
    )
    a.add_argument("release_id")
    a.add_argument("--reason", required=True, help="why (recorded in the ledger)")
    a = rsub.add_parser("list", help="running, pending and recent releases of the endpoint")
    a.add_argument("--json", action="store_true")
    a.add_argument("--limit", type=int, default=50)
    a = rsub.add_parser("redrive", help="replay the events in FailedEventsQueue")
    a.add_argument("--dry-run", action="store_true", help="print what would be replayed")
    rel.set_defaults(fn=cmd_release)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
