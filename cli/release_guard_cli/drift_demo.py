"""`make demo` (e): a baseline from a training set, live traffic that matches it, then
traffic that shifts; the scheduled drift check (fired by the emulator's scheduler)
catches the shift and its event reaches an SQS queue through an EventBridge rule."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Callable
from typing import Any

import boto3

from release_guard_cli import ops
from release_guard_cli.emulator import scheduler
from release_guard_cli.emulator.account import EmulatedAccount
from release_guard_cli.emulator.model_server import score
from release_guard_cli.emulator.stack import Stack
from release_guard_cli.emulator.traffic import TrafficGenerator, tabular_body, tabular_rows

FEATURES = 8
SHIFTED = {2, 5}


def training_csv(n: int, seed: int = 7) -> bytes:
    """A training set from the live distribution, with the model's score per row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*(f"f{i}" for i in range(FEATURES)), "score"])
    for row in tabular_rows(n, FEATURES, seed):
        writer.writerow([*row, round(score(row), 6)])
    return out.getvalue().encode()


def _invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    resp = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    body = json.loads(resp["Payload"].read() or b"null")
    if resp.get("FunctionError"):
        raise SystemExit(f"{function} failed: {body}")
    return dict(body)


def _traffic(account: EmulatedAccount, endpoint: str, seconds: float, shift: float) -> int:
    gen = TrafficGenerator(
        endpoint,
        rate_per_s=250,
        make_body=tabular_body(FEATURES, shift=shift, shifted=SHIFTED),
        client_factory=lambda: boto3.client("sagemaker-runtime"),
        seed=random.randrange(1 << 30),
        duration_s=seconds,
    )
    gen.start()
    gen.wait(seconds + 30)
    stats = gen.stop()
    account.dataplane.flush()  # SageMaker writes capture files within minutes; now here
    return stats.sent


def event_queue(bus_rule: str) -> tuple[str, Callable[[], list[dict[str, Any]]]]:
    """An SQS queue behind an EventBridge rule for release-guard's drift events."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName=bus_rule)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=bus_rule,
        EventPattern=json.dumps(
            {"source": ["release-guard"], "detail-type": ["Model Drift Detected"]}
        ),
    )
    events.put_targets(Rule=bus_rule, Targets=[{"Id": "queue", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]

    return url, received


def run(
    account: EmulatedAccount,
    stack: Stack,
    info: ops.StackInfo,
    endpoint: str,
    champion_package: str,
    say: Callable[[str], None],
) -> bool:
    say("\n== (e) drift: a baseline from the training set, then live traffic that shifts")
    s3 = boto3.client("s3")
    s3.put_object(Bucket=info.bucket, Key="datasets/train.csv", Body=training_csv(20_000))
    built = _invoke(
        stack.resources["BuildBaselineFunction"],
        {
            "dataset_uri": f"s3://{info.bucket}/datasets/train.csv",
            "format": "csv",
            "model_package_arn": champion_package,
        },
    )
    say(
        f"  BuildBaseline: {built['features']} features from {built['rows']} training rows -> "
        f"{built['baseline_uri']} (recorded on {champion_package.rsplit('/', 2)[-2]}/"
        f"{champion_package.rsplit('/', 1)[-1]})"
    )
    _, received = event_queue("drift-events")
    schedule = stack.schedules["DriftCheckFunctionSchedule"]
    say(f"  schedule {schedule['expression']} -> DriftCheck {json.dumps(schedule['input'])}")

    sent = _traffic(account, endpoint, 6, shift=0.0)
    first = scheduler.fire(schedule)["checks"][0]
    say(f"  {sent} requests like the training data; the check reads the capture:")
    say(
        f"    {first['variant']}: {first['status']}, severity {first['severity']} "
        f"({first['objects_read']} capture files): {first['reason']}"
    )
    sent = _traffic(account, endpoint, 12, shift=1.5)
    second = scheduler.fire(schedule)["checks"][0]
    say(f"  {sent} requests with f2 and f5 shifted by +1.5 sd; the next scheduled check:")
    say(
        f"    {second['variant']}: {second['status']}, severity {second['severity']} "
        f"(read {second['objects_read']} new capture files only): {second['reason']}"
    )
    for top in second["top"][:4]:
        say(
            f"    - {top['feature']} ({top['severity']}; PSI {top['psi']}, KS {top['ks']}, "
            f"q {top['q_value']})"
        )
        for reason in top["reasons"][:2]:
            say(f"        {reason}")
    time.sleep(0.5)
    events = received()
    for e in events:
        detail = e["detail"]
        say(
            f"  EventBridge {e['detail-type']!r} -> SQS: severity {detail['severity']}, "
            f"top {[t['feature'] for t in detail['top_features']]}"
        )
    say(f"  report: {second['report_uri']} (and .md)")
    grade = {t["feature"]: t["severity"] for t in second["top"]}
    serious = {f for f, g in grade.items() if g in ("investigate", "act")}
    # A shifted feature must reach "investigate"; an untouched one may be "minor" at the
    # false discovery rate, never more.
    return bool(
        first["severity"] in ("none", "minor")
        and first["status"] == "checked"
        and {"f2", "f5"} <= serious
        and not serious & {"f0", "f1", "f3", "f4", "f6", "f7"}
        and events
    )
