"""`release-guard baseline build|import|export` and `release-guard drift check`.

Baselines can be built on a laptop from a local dataset (no AWS at all) or from S3;
a path or an s3:// URI works wherever a file is named. ``--model-package`` records the
profile's URI on the package, where the scheduled check finds it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from release_guard.drift import modelmonitor
from release_guard.drift.baseline import build_baseline
from release_guard.drift.profile import load_profile
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import BaselineRequest
from release_guard.policy import DriftPolicy, parse_policy


class Files:
    """drift.check.Store over local paths and s3:// URIs alike."""

    def list_objects(self, prefix: str) -> list[tuple[str, int]]:
        if prefix.startswith("s3://"):
            from release_guard.aws import drift as aws

            return aws.list_objects(prefix)
        root = Path(prefix)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        return [(str(p), p.stat().st_size) for p in files]

    def read_bytes(self, uri: str) -> bytes | None:
        if uri.startswith("s3://"):
            from release_guard.aws import drift as aws

            return aws.read_bytes(uri)
        path = Path(uri)
        return path.read_bytes() if path.is_file() else None

    def write_bytes(self, uri: str, body: bytes, content_type: str) -> None:
        if uri.startswith("s3://"):
            from release_guard.aws import drift as aws

            aws.write_bytes(uri, body, content_type)
            return
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        Path(uri).write_bytes(body)


def _drift_policy(path: str) -> DriftPolicy:
    raw = Files().read_bytes(path)
    if raw is None:
        raise SystemExit(f"--policy {path}: no such file")
    try:
        drift = parse_policy(json.loads(raw), "policy").drift
    except (ValueError, InvalidReleaseRequest) as err:  # not JSON, or not a policy
        raise SystemExit(f"--policy {path}: {err}") from None
    if drift is None:
        raise SystemExit(f"--policy {path}: no drift section (docs/drift.md)")
    return drift


def _record(package: str, uri: str) -> None:
    from release_guard.aws import drift as aws

    aws.record_baseline(package, uri)


def build(args: argparse.Namespace) -> int:
    schema = _drift_policy(args.policy).payload
    # The request model checks S3 URIs; local paths are this command's own addition.
    req = BaselineRequest.model_construct(
        dataset_uri=args.dataset,
        format=args.format,
        output_uri=args.output,
        model_package_arn=args.model_package,
    )
    if args.output is None and args.model_package is None:
        raise SystemExit("--output (a path or s3:// URI), or --model-package with --baselines")
    base = args.baselines or "baselines"
    try:
        _, summary = build_baseline(req, schema, Files(), _record, base, datetime.now(UTC))
    except InvalidReleaseRequest as err:  # nothing was written: one line, exit 1
        raise SystemExit(f"baseline build: {err}") from None
    print(json.dumps(summary, indent=2))
    return 0


def _model_monitor_file(files: Files, flag: str, uri: str, name: str) -> Any:
    blob = files.read_bytes(uri)
    if blob is None:
        raise SystemExit(f"baseline import: {flag} {uri}: no such file")
    try:
        return modelmonitor.load_json(blob, name)
    except ValueError as err:
        raise SystemExit(f"baseline import: {flag} {uri}: {err}") from None


def import_(args: argparse.Namespace) -> int:
    files = Files()
    stats = _model_monitor_file(files, "--statistics", args.statistics, "statistics.json")
    constraints = (
        _model_monitor_file(files, "--constraints", args.constraints, "constraints.json")
        if args.constraints
        else None
    )
    schema = _drift_policy(args.policy).payload
    try:
        profile, notes = modelmonitor.from_statistics(
            stats,
            constraints,
            schema,
            datetime.now(UTC),
            dataset=args.statistics,
            model_package_arn=args.model_package,
        )
    except ValueError as err:  # the module's one error: names the file and JSON path
        raise SystemExit(f"baseline import: {err}") from None
    files.write_bytes(args.output, profile.to_json().encode(), "application/json")
    if args.model_package:
        _record(args.model_package, args.output)
    print(
        json.dumps(
            {
                "baseline_uri": args.output,
                "profile_id": profile.profile_id,
                "features": len(profile.features),
                "notes": notes,
            },
            indent=2,
        )
    )
    return 0


def export(args: argparse.Namespace) -> int:
    files = Files()
    blob = files.read_bytes(args.profile)
    if blob is None:
        raise SystemExit(f"--profile {args.profile}: no such file")
    profile = load_profile(blob)
    out = args.out.rstrip("/")
    for name, doc in (
        ("statistics.json", modelmonitor.to_statistics(profile)),
        ("constraints.json", modelmonitor.to_constraints(profile)),
    ):
        files.write_bytes(f"{out}/{name}", json.dumps(doc, indent=1).encode(), "application/json")
    print(
        json.dumps(
            {
                "written": [f"{out}/statistics.json", f"{out}/constraints.json"],
                "notes": modelmonitor.export_notes(profile),
            },
            indent=2,
        )
    )
    return 0


def check(args: argparse.Namespace) -> int:
    """Invoke the stack's DriftCheck function now (AWS, or the emulator behind
    AWS_ENDPOINT_URL), as its schedule would."""
    try:
        function = boto3.client("cloudformation").describe_stack_resource(
            StackName=args.stack_name, LogicalResourceId="DriftCheckFunction"
        )["StackResourceDetail"]["PhysicalResourceId"]
    except ClientError as err:  # no such stack, or no drift check in it
        raise SystemExit(f"drift check: stack {args.stack_name}: {err}") from None
    event: dict[str, Any] = {"endpoint": args.endpoint}
    if args.variant:
        event["variant"] = args.variant
    if args.at:
        event["at"] = args.at
    resp = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    body = json.loads(resp["Payload"].read() or b"null")
    print(json.dumps(body, indent=2))
    return 1 if resp.get("FunctionError") else 0


def add_arguments(sub: Any) -> None:
    base = sub.add_parser("baseline", help="baseline profiles for drift checks")
    bsub = base.add_subparsers(dest="action", required=True)
    b = bsub.add_parser("build", help="profile a reference dataset (local file or S3)")
    b.add_argument("--dataset", required=True, help="file, s3:// object, or capture prefix")
    b.add_argument("--format", choices=["csv", "jsonl", "capture"], default="csv")
    b.add_argument("--policy", required=True, help="release policy with a drift section")
    b.add_argument("--output", help="where the profile goes (path or s3:// URI)")
    b.add_argument("--model-package", help="record the profile on this model package")
    b.add_argument("--baselines", help="prefix for --model-package without --output")
    b.set_defaults(fn=build)
    i = bsub.add_parser("import", help="from Model Monitor's statistics.json/constraints.json")
    i.add_argument("--statistics", required=True)
    i.add_argument("--constraints")
    i.add_argument("--policy", required=True)
    i.add_argument("--output", required=True)
    i.add_argument("--model-package")
    i.set_defaults(fn=import_)
    e = bsub.add_parser("export", help="as Model Monitor's statistics.json/constraints.json")
    e.add_argument("--profile", required=True)
    e.add_argument("--out", required=True, help="a folder or s3:// prefix")
    e.set_defaults(fn=export)
    d = sub.add_parser("drift", help="run the stack's drift check now")
    dsub = d.add_subparsers(dest="action", required=True)
    c = dsub.add_parser("check")
    c.add_argument("--stack-name", default="release-guard")
    c.add_argument("--endpoint", required=True)
    c.add_argument("--variant")
    c.add_argument("--at", help="ISO time: check the window ending then")
    c.set_defaults(fn=check)
