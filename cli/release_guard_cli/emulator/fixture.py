"""The standard emulated set-up shared by the demo, `invoke` and the end-to-end tests:
the stack deployed from template.yaml, a release policy in S3, and an endpoint whose
champion serves from model package version 1 of the demo group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
from release_guard_cli import ops
from release_guard_cli.emulator.account import HEALTHY, EmulatedAccount
from release_guard_cli.emulator.stack import Stack

ENDPOINT = "demo-endpoint"
GROUP = "demo-models"
POLICY_BUCKET = "demo-release-policies"


@dataclass(frozen=True)
class Fixture:
    stack: Stack
    info: ops.StackInfo
    champion_package: str
    policy_uri: str


def standard(account: EmulatedAccount, root: Path, policy: Path) -> Fixture:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=POLICY_BUCKET)
    s3.put_object(Bucket=POLICY_BUCKET, Key=policy.name, Body=policy.read_bytes())
    policy_uri = f"s3://{POLICY_BUCKET}/{policy.name}"
    stack = account.deploy_stack(
        {
            "EndpointName": ENDPOINT,
            "ModelPackageGroupName": GROUP,
            "CandidateInstanceType": "ml.g5.2xlarge",
            "ReleasePolicyUri": policy_uri,
        }
    )
    info = ops.stack_info(stack.name)
    champion = account.register_package(GROUP, HEALTHY, approved=True)
    capture = f"s3://{info.bucket}/datacapture" if info.bucket else None
    account.create_endpoint(ENDPOINT, champion, capture)
    return Fixture(stack=stack, info=info, champion_package=champion, policy_uri=policy_uri)
