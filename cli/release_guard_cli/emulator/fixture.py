"""The standard emulated set-up shared by the demo, `invoke` and the end-to-end tests:
the stack deployed from template.yaml, a release policy in S3, and an endpoint whose
champion serves from model package version 1 of the demo group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
from release_guard_cli import ops
from release_guard_cli.emulator import sagemaker_gaps
from release_guard_cli.emulator.account import HEALTHY, EmulatedAccount
from release_guard_cli.emulator.stack import Stack

ENDPOINT = "demo-endpoint"
GROUP = "demo-models"
POLICY_BUCKET = "demo-release-policies"
# "<type> for endpoint usage" quotas of the standard account. A release of a one-instance
# champion needs 3 at its peak (the old fleet while the new one of champion + candidate
# is provisioned); 4 leaves room for one more. Tests lower them with
# sagemaker_gaps.quotas(account.gaps)["ml.g5.2xlarge"] = n.
QUOTAS = {"ml.g5.xlarge": 4, "ml.g5.2xlarge": 4}


@dataclass(frozen=True)
class Fixture:
    stack: Stack
    info: ops.StackInfo
    champion_package: str
    policy_uri: str


def standard(account: EmulatedAccount, root: Path, policy: Path) -> Fixture:
    sagemaker_gaps.quotas(account.gaps).update(QUOTAS)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=POLICY_BUCKET)
    s3.put_object(Bucket=POLICY_BUCKET, Key=policy.name, Body=policy.read_bytes())
    policy_uri = f"s3://{POLICY_BUCKET}/{policy.name}"
    # Approved before release-guard is installed, as a team's champion is: its creation
    # event reaches no rule and starts nothing.
    champion = account.register_package(GROUP, HEALTHY, approved=True)
    stack = account.deploy_stack(
        {
            "EndpointName": ENDPOINT,
            "ModelPackageGroupName": GROUP,
            "CandidateInstanceType": "ml.g5.2xlarge",
            "ReleasePolicyUri": policy_uri,
            # The demo's eval datasets and records live beside its policies.
            "EvalDataS3Uri": f"s3://{POLICY_BUCKET}/evals/",
        }
    )
    info = ops.stack_info(stack.name)
    capture = f"s3://{info.bucket}/datacapture" if info.bucket else None
    account.create_endpoint(ENDPOINT, champion, capture)
    return Fixture(stack=stack, info=info, champion_package=champion, policy_uri=policy_uri)


def release_on_approval(stack: Stack, enabled: bool) -> None:
    """What `sam deploy --parameter-overrides ReleaseOnApproval=...` does to the registry
    rule: disabled, an approval starts nothing and releases start from the CLI."""
    events = boto3.client("events")
    rule = stack.resources["StartReleaseFunctionModelApproved"]
    if enabled:
        events.enable_rule(Name=rule)
    else:
        events.disable_rule(Name=rule)
