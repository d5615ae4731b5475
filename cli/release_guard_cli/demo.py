"""`make demo`: the release story in the emulated account, printed as a timeline.

(a) a healthy candidate, approved in the model registry, is promoted through every
    canary step; (b) a faulty candidate (more 5XX, slower), started from the CLI, is
    rolled back at its first step; (c) the eval gate rejects a candidate before it is
    deployed; (d) a commit to a release manifest (prompt v1) is released from git; (e) a
    scheduled drift check catches live traffic that shifts. Real
    template, real ASL, real handlers.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from release_guard.policy import MetricRule

from release_guard_cli import drift_demo, evaldata, git_demo, operate, ops, report, timeline
from release_guard_cli.emulator import fixture
from release_guard_cli.emulator.account import FAULTY, HEALTHY, EmulatedAccount
from release_guard_cli.emulator.traffic import TrafficGenerator, tabular_body

ENDPOINT, GROUP = fixture.ENDPOINT, fixture.GROUP


def say(text: str = "") -> None:
    print(text, flush=True)


def follow(info: ops.StackInfo, release_id: str, arn: str, timeout: float) -> dict[str, Any]:
    """Print ledger entries as they are written until the execution ends."""
    seen: set[str] = set()
    t0: datetime | None = None
    ctx: dict[str, str] = {}
    deadline = time.time() + timeout
    while True:
        desc = ops.execution(arn)
        try:
            meta = ops.summary(info, release_id)
            ctx = {"candidate": meta.get("candidate", ""), "champion": meta.get("champion", "")}
            t0 = t0 or datetime.fromisoformat(str(meta["started_at"]))
        except SystemExit:
            pass  # not locked yet
        for item in ops.events(info, release_id) if ctx else []:
            if item["sk"] in seen:
                continue
            seen.add(item["sk"])
            for line in timeline.describe(item, t0, ctx):
                say("  " + line)
        if desc["status"] != "RUNNING":
            return desc
        if time.time() > deadline:
            raise SystemExit(f"release {release_id} still running after {timeout} s")
        time.sleep(0.4)


def wait_for_execution(machine: str, after: set[str], timeout: float = 20) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.time() + timeout
    while time.time() < deadline:
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]:
            if e["executionArn"] not in after:
                return dict(e)
        time.sleep(0.2)
    raise SystemExit("no release started from the registry event")


def run(root: Path) -> int:
    started = time.time()
    say("release-guard demo: an emulated AWS account (moto), the real template.yaml,")
    say("the real statemachines/release.asl.json and the real Lambda handlers.\n")
    with EmulatedAccount(root) as account:
        fx = fixture.standard(account, root, root / "policies" / "demo.json")
        stack, info = fx.stack, fx.info
        say(f"stack {stack.name}: {len(stack.resources)} resources created from template.yaml")
        if stack.skipped:
            say(f"  (moto does not create: {', '.join(stack.skipped)})")
        policy = json.loads((root / "policies" / "demo.json").read_text())
        say(
            f"policy {policy['version']}: steps {policy['canary']['steps']} %, min bake "
            f"{policy['canary']['min_bake_seconds']} s, release-wide alpha "
            f"{policy['canary']['alpha']}; rules:"
        )
        for rule in policy["canary"]["metrics"]:
            critical = "" if rule.get("critical", True) else " (not critical)"
            say(f"  - {MetricRule.model_validate(rule).label} -> {rule['action']}{critical}")
        say(f"endpoint {ENDPOINT}: champion variant on ml.g5.2xlarge, data capture on\n")

        traffic = TrafficGenerator(
            ENDPOINT,
            rate_per_s=150,
            make_body=tabular_body(n_features=8),
            client_factory=lambda: boto3.client("sagemaker-runtime"),
            seed=random.randrange(1 << 30),
        )
        traffic.start()
        ok = True
        try:
            # (a) healthy candidate, from the model registry's approval event.
            say("== (a) healthy candidate v2: approved in the model registry")
            pkg = account.register_package(GROUP, HEALTHY, approved=False)
            before = {
                e["executionArn"]
                for e in boto3.client("stepfunctions").list_executions(
                    stateMachineArn=info.state_machine_arn
                )["executions"]
            }
            boto3.client("sagemaker").update_model_package(
                ModelPackageArn=pkg, ModelApprovalStatus="Approved"
            )
            execution = wait_for_execution(info.state_machine_arn, before)
            say(f"  EventBridge -> StartRelease -> execution {execution['name']}")
            desc = follow(info, execution["name"], execution["executionArn"], 120)
            ok &= _report(desc, "SUCCEEDED", ENDPOINT)
            _release_report(info, execution["name"], root)
            ok &= _one_approval_one_release(info, pkg, before)

            # From here on releases start from the CLI and from git, as for a team that
            # deploys with ReleaseOnApproval=false: an approval alone starts nothing.
            fixture.release_on_approval(stack, False)

            # (b) faulty candidate, from the CLI.
            say("\n== (b) faulty candidate v3 (12 % 5XX, 3x slower): `release-guard release start`")
            bad = account.register_package(GROUP, FAULTY, approved=True)
            result = ops.start(
                info,
                {
                    "endpoint_name": ENDPOINT,
                    "model_package_arn": bad,
                    "trigger": "cli",
                    "requested_by": "demo",
                },
            )
            say(f"  {result['status']}: {result['reason']}")
            desc = follow(info, result["release_id"], result["execution_arn"], 120)
            ok &= _report(desc, "FAILED", ENDPOINT)
            _release_report(info, result["release_id"], root)
            ok &= _gate_release(account, info, root)
            ok &= _stopped_release(account, info)

            # (d) a release from git: the pipeline's Release stage, here.
            promoted, from_git = git_demo.run(info, root, ENDPOINT, pkg, say)
            ok &= promoted
            for line in timeline.endpoint_lines(ops.endpoint_state(ENDPOINT)):
                say("  " + line)
            for release_id in from_git:
                _release_report(info, release_id, root)
        finally:
            traffic.stop()
        stats = traffic.stats()
        say(
            f"\ntraffic: {stats.sent} requests in {stats.elapsed_s:.0f} s, answered per variant "
            f"{stats.by_variant}, errors {stats.errors}"
        )
        ok &= drift_demo.run(account, stack, info, ENDPOINT, pkg, say)
        say(
            f"demo finished in {time.time() - started:.0f} s: "
            f"{'OK' if ok else 'UNEXPECTED OUTCOME'}"
        )
        say(f"handler logs: {account.gaps.log}")
    return 0 if ok else 1


def _one_approval_one_release(info: ops.StackInfo, pkg: str, before: set[str]) -> bool:
    """FinishRelease's note on the package is an update SageMaker announces too
    (UpdatedModelPackageFields: CustomerMetadataProperties); it must start nothing."""
    sm = boto3.client("sagemaker")
    notes = sm.describe_model_package(ModelPackageName=pkg).get("CustomerMetadataProperties", {})
    started = [e for e in ops.executions(info) if e["executionArn"] not in before]
    say(
        f"  registry note on the package: {notes.get('release-guard:summary', '?')!r}; "
        f"its metadata-only change event started {len(started) - 1} more release(s)"
    )
    return len(started) == 1


def _gate_release(account: EmulatedAccount, info: ops.StackInfo, root: Path) -> bool:
    """(c) the eval gate rejects a candidate before it is deployed."""
    say("\n== (c) candidate v4, weaker on 'returns' questions: the eval gate runs first")
    sm = boto3.client("sagemaker")
    before = ops.endpoint_state(ENDPOINT)
    pkg = account.register_package(GROUP, HEALTHY, approved=True)
    version = pkg.rsplit("/", 1)[-1]
    prefix = f"evals/v{version}"
    s3 = boto3.client("s3")
    for system, recs in (
        ("candidate", evaldata.records("candidate", accuracy={"returns": 0.72})),
        ("champion", evaldata.records("champion")),
    ):
        s3.put_object(Bucket=info.bucket, Key=f"{prefix}/{system}.jsonl", Body=evaldata.jsonl(recs))
    policy = json.loads((root / "policies" / "demo.json").read_text())
    policy["gate"] = {
        "candidate_uri": f"s3://{info.bucket}/{prefix}/candidate.jsonl",
        "champion_uri": f"s3://{info.bucket}/{prefix}/champion.jsonl",
        "on_inconclusive": "fail",
    }
    result = ops.start(
        info,
        {
            "endpoint_name": ENDPOINT,
            "model_package_arn": pkg,
            "policy": policy,
            "trigger": "cli",
            "requested_by": "demo",
        },
    )
    say(f"  {result['status']}: eval records in s3://{info.bucket}/{prefix}/")
    desc = follow(info, result["release_id"], result["execution_arn"], 120)
    gate = next((i for i in ops.events(info, result["release_id"]) if i.get("kind") == "gate"), {})
    for line in timeline.gate_table(gate.get("rows", [])):
        say("    " + line)
    md = gate.get("markdown_uri")
    if md:
        bucket, key = md.removeprefix("s3://").split("/", 1)
        local = root / "out" / "demo" / "eval-gate.md"
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        say(f"  gate report: {md} (copy: {local})")
    package = sm.describe_model_package(ModelPackageName=pkg)
    say(
        f"  model registry: {pkg.rsplit(':', 1)[-1]} is {package['ModelApprovalStatus']}: "
        f"{package.get('ApprovalDescription', '')[:160]}"
    )
    after = ops.endpoint_state(ENDPOINT)
    untouched = after["EndpointConfigName"] == before["EndpointConfigName"]
    say(f"  execution {desc['status']} ({desc.get('error')}); endpoint untouched: {untouched}")
    _release_report(info, result["release_id"], root)
    return bool(
        desc["status"] == "FAILED"
        and desc.get("error") == "EvalGateFailed"
        and package["ModelApprovalStatus"] == "Rejected"
        and untouched
    )


def _stopped_release(account: EmulatedAccount, info: ops.StackInfo) -> bool:
    """(c2) a release aborted mid-canary (StopExecution, then Recover Release; Step
    Functions' status-change event starts it too) ends on the champion alone, verified."""
    say("\n== (c2) candidate v5 aborted mid-canary, at 25 %: `release-guard release abort`")
    champion = ops.endpoint_state(ENDPOINT)["ProductionVariants"][0]["VariantName"]
    pkg = account.register_package(GROUP, HEALTHY, approved=True)
    request = {"endpoint_name": ENDPOINT, "model_package_arn": pkg, "trigger": "cli"}
    result = ops.start(info, {**request, "requested_by": "demo"})
    release_id = result["release_id"]
    wait_until(lambda: any(i["sk"] == "02#STEP#01#SHIFT" for i in ops.events(info, release_id)))
    before = _weights()
    say(f"  release-guard release abort {release_id} --note 'wrong prompt in this build'")
    answer, _ = operate.abort(info, release_id, "demo", "wrong prompt in this build")
    # The status-change event usually recovers it first; abort's own call then finds
    # it done (nothing_to_do): either way one recovery, verified.
    say(f"  weights when stopped: {before}; abort's recovery call: {answer.get('action')}")
    wait_until(lambda: ops.summary(info, release_id).get("status") == "aborted")
    meta = ops.summary(info, release_id)
    rec = next(i for i in ops.events(info, release_id) if i["sk"] == "10#RECOVERED")
    say(
        f"  Recover Release: {rec['outcome']} after {rec['attempts']} rollback pass(es): "
        f"{meta['reason']}"
    )
    for line in timeline.endpoint_lines(ops.endpoint_state(ENDPOINT)):
        say("  " + line)
    lock = ops.lock(info, ENDPOINT)
    say(f"  lock: {'free' if lock is None else lock}; ledger outcome {meta['status']}")
    return list(_weights()) == [champion] and lock is None


def _weights() -> dict[str, float]:
    variants = ops.endpoint_state(ENDPOINT)["ProductionVariants"]
    return {v["VariantName"]: float(v.get("CurrentWeight", 0)) for v in variants}


def wait_until(probe: Any, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not probe():
        if time.time() > deadline:
            raise SystemExit("demo: timed out waiting for the release")
        time.sleep(0.3)


def _release_report(info: ops.StackInfo, release_id: str, root: Path) -> None:
    """The release report from the ledger into out/demo/; FinishRelease wrote the same
    pair to the stack bucket."""
    html, md = report.write_release(info, release_id, root / "out" / "demo")
    written = ops.summary(info, release_id).get("report") or {}
    s3 = written.get("html") or f"not written ({written.get('error', 'no record')})"
    say(f"  release report: {html.relative_to(root)} and {md.relative_to(root)} (S3: {s3})")


def _report(desc: dict[str, Any], expected: str, endpoint: str) -> bool:
    say(
        f"  execution {desc['status']}"
        + (f" ({desc.get('error')}: {desc.get('cause')})" if desc.get("error") else "")
    )
    for line in timeline.endpoint_lines(ops.endpoint_state(endpoint)):
        say("  " + line)
    return bool(desc["status"] == expected)


if __name__ == "__main__":
    sys.exit(run(Path.cwd()))
