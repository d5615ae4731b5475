"""What pipeline/ promises: Source -> Build -> Deploy -> Release, least-privilege roles, an
encrypted TLS-only artifact bucket, a Build stage that runs the README's commands, and a
Release stage that diffs against the last released commit.

The deploy role is checked against the application template as CloudFormation will see
it: template.yaml is translated with aws-sam-translator, and every resource's handler
permissions (cfn-lint's copy of the CloudFormation registry schemas) must be granted on
that resource's ARN, so a resource added to template.yaml fails here until the role
covers it.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import itertools
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import pytest
import yaml

from scripts import validate_asl

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "pipeline/template.yaml"
BUILDSPEC = ROOT / "pipeline/buildspec.yml"
RELEASE_BUILDSPEC = ROOT / "pipeline/buildspec-release.yml"
RELEASE_BASE = ROOT / "pipeline/release-base.sh"
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"

# Stand-ins for what CloudFormation substitutes, to turn the templates' ARNs into strings.
REGION = "us-east-1"
ACCOUNT = "123456789012"
APP = "release-guard"  # ApplicationStackName's default
PIPELINE_STACK = "release-guard-pipeline"
ARTIFACTS = "release-guard-pipeline-artifactbucket-0123456789ab"
SUBSTITUTIONS = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": PIPELINE_STACK,
    "ApplicationStackName": APP,
    "ArtifactBucket": ARTIFACTS,
    "ArtifactBucket.Arn": f"arn:aws:s3:::{ARTIFACTS}",
    "CodeCommitRepositoryName": "release-guard-repo",
    "BranchName": "main",
    "Pipeline": PIPELINE_STACK,
}

# Actions AWS authorises only on Resource "*".
UNSCOPABLE = {
    "cloudformation:ValidateTemplate",
    "logs:CreateLogDelivery",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
}


# ------------------------------------------------------------------ loading
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return validate_asl.load_template(PIPELINE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve(value: Any) -> str:
    """A CloudFormation string expression as the string it becomes (stand-in values)."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return SUBSTITUTIONS.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        name = ".".join(value["Fn::GetAtt"])
        return SUBSTITUTIONS.get(name, f"<{name}>")
    if "Fn::Sub" in value:
        text = value["Fn::Sub"]
        assert isinstance(text, str), "no Fn::Sub variable maps in this template"
        return re.sub(r"\$\{([^}]+)\}", lambda m: SUBSTITUTIONS.get(m[1], f"<{m[1]}>"), text)
    if "Fn::If" in value:
        return resolve(value["Fn::If"][1])
    raise AssertionError(f"unexpected expression {value}")


def branches(statement: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A statement, or both sides of a conditional one (AWS::NoValue left out)."""
    if "Fn::If" in statement:
        for side in statement["Fn::If"][1:]:
            if side != {"Ref": "AWS::NoValue"}:
                yield side
    else:
        yield statement


# Permissions boundaries grant nothing (tests/unit/test_security.py checks them).
BOUNDARIES = {"ApplicationBoundary"}


def policy_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) of every identity policy in the template."""
    for name, res in resources.items():
        props = res.get("Properties") or {}
        docs = []
        if res["Type"] == "AWS::IAM::Role":
            docs = [p["PolicyDocument"] for p in props.get("Policies") or []]
        elif res["Type"] == "AWS::IAM::ManagedPolicy" and name not in BOUNDARIES:
            docs = [props["PolicyDocument"]]
        for doc in docs:
            for statement in doc["Statement"]:
                for side in branches(statement):
                    yield name, side


def role_statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """A role's statements: inline policies and the managed policies it attaches."""
    owners = {role} | {
        ref["Ref"]
        for ref in resources[role]["Properties"].get("ManagedPolicyArns") or []
        if isinstance(ref, dict) and "Ref" in ref
    }
    return [s for owner, s in policy_statements(resources) if owner in owners]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in _as_list(s["Action"])}


def resources_of(statement: dict[str, Any]) -> list[str]:
    return [resolve(r) for r in _as_list(statement["Resource"])]


def allows(statements: list[dict[str, Any]], action: str, arn: str) -> bool:
    """Whether an Allow statement names ``action`` on a pattern matching ``arn``."""
    return any(
        s["Effect"] == "Allow"
        and action in _as_list(s["Action"])
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources_of(s))
        for s in statements
    )


def stages(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return list(resources["Pipeline"]["Properties"]["Stages"])


def stage(resources: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [s for s in stages(resources) if s["Name"] == name]
    return found


# ------------------------------------------------------------------ the template itself
def test_cfn_lint_clean() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(PIPELINE)
    assert [str(m) for m in matches] == []


def test_stages_run_source_build_deploy_release(resources: dict[str, Any]) -> None:
    assert [s["Name"] for s in stages(resources)] == ["Source", "Build", "Deploy", "Release"]
    providers = {
        s["Name"]: [a["ActionTypeId"]["Provider"] for a in s["Actions"] if "ActionTypeId" in a]
        for s in stages(resources)
    }
    assert providers["Build"] == ["CodeBuild"]
    assert providers["Deploy"] == ["CloudFormation", "CloudFormation"]
    assert providers["Release"] == ["CodeBuild"]


def test_pipeline_is_v2_and_queues_pushes_in_order(resources: dict[str, Any]) -> None:
    props = resources["Pipeline"]["Properties"]
    assert props["PipelineType"] == "V2"
    # SUPERSEDED would let a newer push overtake a waiting one; every push is released in order.
    assert props["ExecutionMode"] == "QUEUED"


def test_source_is_a_clone_reference_from_either_provider(resources: dict[str, Any]) -> None:
    [action] = stage(resources, "Source")["Actions"]
    condition, connection, codecommit = action["Fn::If"]
    assert condition == "UseConnection"
    assert connection["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert codecommit["ActionTypeId"]["Provider"] == "CodeCommit"
    for side in (connection, codecommit):
        # Release needs git history to find the manifests a push changed.
        assert side["Configuration"]["OutputArtifactFormat"] == "CODEBUILD_CLONE_REF"
        assert side["Configuration"]["BranchName"] == {"Ref": "BranchName"}
        assert side["OutputArtifacts"] == [{"Name": "SourceOutput"}]
    assert set(connection["Configuration"]) >= {"ConnectionArn", "FullRepositoryId"}
    assert codecommit["Configuration"]["PollForSourceChanges"] is False
    assert resources["CodeCommitPushRule"]["Condition"] == "UseCodeCommit"


def test_deploy_stage_replaces_then_executes_one_change_set(resources: dict[str, Any]) -> None:
    replace, execute = sorted(stage(resources, "Deploy")["Actions"], key=lambda a: a["RunOrder"])
    assert replace["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"
    assert execute["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"
    assert replace["RunOrder"] < execute["RunOrder"]
    for action in (replace, execute):
        assert action["Configuration"]["StackName"] == {"Ref": "ApplicationStackName"}
    assert replace["Configuration"]["ChangeSetName"] == execute["Configuration"]["ChangeSetName"]
    assert replace["Configuration"]["RoleArn"] == {"Fn::GetAtt": ["DeployRole", "Arn"]}
    assert set(replace["Configuration"]["Capabilities"].split(",")) == {
        "CAPABILITY_IAM",
        "CAPABILITY_AUTO_EXPAND",  # the SAM transform
    }
    assert replace["InputArtifacts"] == [{"Name": "BuildOutput"}]


def test_release_stage_builds_the_source_clone(resources: dict[str, Any]) -> None:
    [action] = stage(resources, "Release")["Actions"]
    assert action["Configuration"]["ProjectName"] == {"Ref": "ReleaseProject"}
    assert action["InputArtifacts"] == [{"Name": "SourceOutput"}]
    env = json.loads(action["Configuration"]["EnvironmentVariables"])
    assert env == [
        {"name": "RELEASE_FROM", "value": "#{variables.ReleaseFrom}", "type": "PLAINTEXT"}
    ]
    variables = resources["Pipeline"]["Properties"]["Variables"]
    assert [(v["Name"], v["DefaultValue"]) for v in variables] == [("ReleaseFrom", "auto")]


# ------------------------------------------------------------------ artifacts
KEY = {
    "Fn::If": [
        "CreateArtifactKey",
        {"Fn::GetAtt": ["ArtifactKey", "Arn"]},
        {"Ref": "ArtifactKmsKeyArn"},
    ]
}


def test_artifact_bucket_is_kms_encrypted_private_versioned(resources: dict[str, Any]) -> None:
    bucket = resources["ArtifactBucket"]
    props = bucket["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": KEY,
    }
    assert rule["BucketKeyEnabled"] is True
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any("ExpirationInDays" in r and "NoncurrentVersionExpiration" in r for r in rules)
    # The deployed application keeps referring to its packaged code.
    assert bucket["DeletionPolicy"] == "Retain"


def test_artifact_bucket_refuses_requests_without_tls(resources: dict[str, Any]) -> None:
    policy = resources["ArtifactBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ArtifactBucket"}
    [deny] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert resources_of(deny) == [f"arn:aws:s3:::{ARTIFACTS}", f"arn:aws:s3:::{ARTIFACTS}/*"]


def test_one_rotated_key_encrypts_artifacts_everywhere(resources: dict[str, Any]) -> None:
    props = resources["Pipeline"]["Properties"]
    assert props["ArtifactStore"]["EncryptionKey"] == {"Type": "KMS", "Id": KEY}
    assert props["ArtifactStore"]["Location"] == {"Ref": "ArtifactBucket"}
    for project in ("BuildProject", "ReleaseProject"):
        assert resources[project]["Properties"]["EncryptionKey"] == KEY
    key = resources["ArtifactKey"]
    assert key["Condition"] == "CreateArtifactKey"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


# ------------------------------------------------------------------ least privilege
def test_no_wildcard_actions(resources: dict[str, Any]) -> None:
    for name, statement in policy_statements(resources):
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (name, action)


def test_resource_wildcards_only_where_aws_has_no_resource_level_permissions(
    resources: dict[str, Any],
) -> None:
    offenders = [
        (name, sorted(set(_as_list(s["Action"])) - UNSCOPABLE))
        for name, s in policy_statements(resources)
        if "*" in _as_list(s["Resource"]) and set(_as_list(s["Action"])) - UNSCOPABLE
    ]
    assert offenders == []


def test_every_pass_role_names_its_service(resources: dict[str, Any]) -> None:
    passes = [(n, s) for n, s in policy_statements(resources) if "iam:PassRole" in s["Action"]]
    assert {n for n, _ in passes} == {"PipelineRole", "DeployComputePolicy"}
    for _, statement in passes:
        assert _as_list(statement["Action"]) == ["iam:PassRole"]
        assert "iam:PassedToService" in statement["Condition"]["StringEquals"]
    [pipeline] = [s for n, s in passes if n == "PipelineRole"]
    assert pipeline["Resource"] == {"Fn::GetAtt": ["DeployRole", "Arn"]}
    assert pipeline["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
    }


def test_roles_trust_their_service_in_this_account_only(resources: dict[str, Any]) -> None:
    services = {
        "PipelineRole": "codepipeline.amazonaws.com",
        "BuildRole": "codebuild.amazonaws.com",
        "ReleaseRole": "codebuild.amazonaws.com",
        "DeployRole": "cloudformation.amazonaws.com",
        "CodeCommitPushRole": "events.amazonaws.com",
    }
    roles = {n for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == set(services)
    for name, service in services.items():
        [trust] = resources[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": service}
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }


def test_pipeline_role_changes_only_the_application_stack(resources: dict[str, Any]) -> None:
    statements = role_statements(resources, "PipelineRole")
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{APP}/*"
    transform = f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31"
    for statement in statements:
        cfn = {a for a in _as_list(statement["Action"]) if a.startswith("cloudformation:")}
        if cfn == {"cloudformation:ValidateTemplate"}:
            assert statement["Resource"] == "*"
        elif cfn:
            assert resources_of(statement) in ([stack], [transform]), statement
    assert allows(statements, "cloudformation:ExecuteChangeSet", f"{stack[:-1]}uuid")
    assert not allows(statements, "cloudformation:ExecuteChangeSet", stack.replace(APP, "other"))
    assert not any(
        a.startswith(("lambda:", "states:", "sagemaker:")) for a in actions_of(statements)
    )
    builds = [s for s in statements if "codebuild:StartBuild" in s["Action"]]
    assert [s["Resource"] for s in builds] == [
        [
            {"Fn::GetAtt": ["BuildProject", "Arn"]},
            {"Fn::GetAtt": ["ReleaseProject", "Arn"]},
        ]
    ]


def test_build_role_reaches_only_source_artifacts_and_its_logs(resources: dict[str, Any]) -> None:
    statements = role_statements(resources, "BuildRole")
    services = {a.split(":")[0] for a in actions_of(statements)}
    assert services <= {
        "logs",
        "s3",
        "kms",
        "codestar-connections",
        "codeconnections",
        "codecommit",
    }
    [logs] = [s for s in statements if s["Sid"] == "OwnLogs"]
    assert logs["Resource"] == {"Fn::GetAtt": ["BuildLogGroup", "Arn"]}
    for statement in statements:
        if any(a.startswith("s3:") for a in _as_list(statement["Action"])):
            assert all(r.startswith(f"arn:aws:s3:::{ARTIFACTS}") for r in resources_of(statement))


def test_release_role_reaches_only_the_release_api(resources: dict[str, Any]) -> None:
    statements = role_statements(resources, "ReleaseRole")
    assert not any(
        a.startswith("s3:Put")
        or (a.startswith("dynamodb:") and not a.endswith(("GetItem", "Query")))
        for a in actions_of(statements)
    )
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{APP}-StartReleaseFunction-AbCdEf012345"
    assert allows(statements, "lambda:InvokeFunction", fn)
    for other in ("RollBackFunction", "PromoteFunction", "ShiftTrafficFunction"):
        assert not allows(statements, "lambda:InvokeFunction", fn.replace("StartRelease", other))
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{APP}-release:rel-1"
    assert allows(statements, "states:DescribeExecution", execution)
    assert not allows(statements, "states:DescribeExecution", execution.replace(APP, "other"))
    assert not any(
        a in actions_of(statements) for a in ("states:StartExecution", "states:SendTaskSuccess")
    )
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{APP}/uuid"
    assert allows(statements, "cloudformation:DescribeStacks", stack)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{APP}-LedgerTable-ABC"
    assert allows(statements, "dynamodb:Query", f"{table}/index/by-endpoint")
    executions = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE_STACK}"
    assert allows(statements, "codepipeline:ListPipelineExecutions", executions)
    [logs] = [s for s in statements if s["Sid"] == "OwnLogs"]
    assert logs["Resource"] == {"Fn::GetAtt": ["ReleaseLogGroup", "Arn"]}


def test_source_access_exists_only_for_the_chosen_provider(resources: dict[str, Any]) -> None:
    for role in ("PipelineRole", "BuildRole", "ReleaseRole"):
        document = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]
        conditional = {
            s["Fn::If"][0]: s["Fn::If"][1]["Action"] for s in document["Statement"] if "Fn::If" in s
        }
        assert set(conditional) == {"UseConnection", "UseCodeCommit"}, role
        # The connection ARN's prefix (codestar-connections or codeconnections) decides.
        assert set(_as_list(conditional["UseConnection"])) == {
            "codestar-connections:UseConnection",
            "codeconnections:UseConnection",
        }


# ------------------------------------------------------------------ the deploy role
SERVICE = {
    "IAM": "iam",
    "Lambda": "lambda",
    "Events": "events",
    "DynamoDB": "dynamodb",
    "S3": "s3",
    "SNS": "sns",
    "Logs": "logs",
    "Scheduler": "scheduler",
    "StepFunctions": "states",
    "SQS": "sqs",
    "CloudWatch": "cloudwatch",
}

# Handler permissions the deploy role leaves out, because template.yaml does not use
# the feature that needs them. If template.yaml starts to, the deployment fails with an
# AccessDenied naming the action: grant it in pipeline/template.yaml and drop it here.
NOT_USED = {
    # data, not configuration
    "dynamodb:BatchWriteItem": "items (table import / replicas)",
    "dynamodb:DeleteItem": "items",
    "dynamodb:GetItem": "items",
    "dynamodb:PutItem": "items",
    "dynamodb:Query": "items",
    "dynamodb:Scan": "items",
    "dynamodb:UpdateItem": "items",
    "s3:DeleteObject": "objects",
    "s3:PutObjectAcl": "objects",
    # features the ledger table does not use
    "dynamodb:AssociateTableReplica": "global tables",
    "dynamodb:CreateTableReplica": "global tables",
    "dynamodb:ImportTable": "ImportSourceSpecification",
    "dynamodb:DescribeImport": "ImportSourceSpecification",
    "dynamodb:EnableKinesisStreamingDestination": "KinesisStreamSpecification",
    "dynamodb:DisableKinesisStreamingDestination": "KinesisStreamSpecification",
    "dynamodb:UpdateKinesisStreamingDestination": "KinesisStreamSpecification",
    "dynamodb:PutResourcePolicy": "ResourcePolicy",
    "dynamodb:DeleteResourcePolicy": "ResourcePolicy",
    "dynamodb:UpdateTimeToLive": "TimeToLiveSpecification",
    "dynamodb:UpdateContributorInsights": "ContributorInsightsSpecification",
    # the operator policy is attached by the operators, not by the stack
    "iam:AttachGroupPolicy": "ManagedPolicy Groups",
    "iam:AttachUserPolicy": "ManagedPolicy Users",
    "iam:DetachGroupPolicy": "ManagedPolicy Groups",
    "iam:DetachUserPolicy": "ManagedPolicy Users",
    # roles: a boundary is put (ApplicationBoundary), never removed
    "iam:DeleteRolePermissionsBoundary": "PermissionsBoundary removal",
    # functions
    "lambda:GetCodeSigningConfig": "CodeSigningConfigArn",
    "lambda:PutFunctionCodeSigningConfig": "CodeSigningConfigArn",
    "lambda:DeleteFunctionCodeSigningConfig": "CodeSigningConfigArn",
    "lambda:PassCapacityProvider": "capacity providers",
    "lambda:PutFunctionScalingConfig": "capacity providers",
    "lambda:AssociateRuntimeAlias": "capacity providers",
    # the state machine's log group
    "logs:AssociateKmsKey": "KmsKeyId",
    "logs:DisassociateKmsKey": "KmsKeyId",
    "logs:PutDataProtectionPolicy": "DataProtectionPolicy",
    "logs:PutIndexPolicy": "FieldIndexPolicies",
    "logs:DeleteIndexPolicy": "FieldIndexPolicies",
    "logs:PutBearerTokenAuthentication": "BearerTokenAuthenticationEnabled",
    "logs:PutLogGroupDeletionProtection": "DeletionProtectionEnabled",
    "logs:DeleteResourcePolicy": "ResourcePolicyDocument",
    # the stack bucket: only encryption, public access block, ownership, versioning,
    # lifecycle, access logging and its policy are configured
    "s3:PutBucketAcl": "AccessControl",
    "s3:PutAccelerateConfiguration": "AccelerateConfiguration",
    "s3:PutAnalyticsConfiguration": "AnalyticsConfigurations",
    "s3:DeleteBucketAnalyticsConfiguration": "AnalyticsConfigurations",
    "s3:PutBucketAbac": "AbacStatus",
    "s3:PutBucketCORS": "CorsConfiguration",
    "s3:DeleteBucketCors": "CorsConfiguration",
    "s3:PutBucketNotification": "NotificationConfiguration",
    "s3:PutBucketObjectLockConfiguration": "ObjectLockConfiguration",
    "s3:PutObjectLockConfiguration": "ObjectLockConfiguration",
    "s3:PutBucketReplication": "ReplicationConfiguration",
    "s3:PutReplicationConfiguration": "ReplicationConfiguration",
    "s3:DeleteBucketReplication": "ReplicationConfiguration",
    "s3:PutBucketWebsite": "WebsiteConfiguration",
    "s3:DeleteBucketWebsite": "WebsiteConfiguration",
    "s3:PutIntelligentTieringConfiguration": "IntelligentTieringConfigurations",
    "s3:PutInventoryConfiguration": "InventoryConfigurations",
    "s3:PutMetricsConfiguration": "MetricsConfigurations",
    "s3:DeleteBucketMetricsConfiguration": "MetricsConfigurations",
    "s3:DeleteBucketEncryption": "(encryption is always configured)",
    "s3:DeleteBucketLifecycle": "(a lifecycle is always configured)",
    "s3:CreateBucketMetadataTableConfiguration": "MetadataTableConfiguration",
    "s3:DeleteBucketMetadataTableConfiguration": "MetadataTableConfiguration",
    "s3:UpdateBucketMetadataAnnotationTableConfiguration": "MetadataConfiguration",
    "s3:UpdateBucketMetadataInventoryTableConfiguration": "MetadataConfiguration",
    "s3:UpdateBucketMetadataJournalTableConfiguration": "MetadataConfiguration",
    # the topic
    "sns:PutDataProtectionPolicy": "DataProtectionPolicy",
}

# Granted although no handler lists them.
EXTRA = {"cloudformation:CreateChangeSet": "expanding the SAM transform"}


class _Policies:
    """What SAM's managed-policy loader returns, offline."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": (
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            ),
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


@pytest.fixture(scope="module")
def app() -> dict[str, Any]:
    """template.yaml translated by the SAM transform, as the change set will see it."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    sam = yaml_parse((ROOT / "template.yaml").read_text())
    for res in sam["Resources"].values():
        props = res.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):  # as sam package leaves them
                props[key] = f"s3://{ARTIFACTS}/packages/0123456789abcdef"
    parameters = {
        "EndpointName": "demo-endpoint",
        "ModelPackageGroupName": "demo-models",
        "ModelExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/model",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        return dict(transform(sam, parameters, _Policies()))


def _name(logical: str, res: dict[str, Any], key: str | None) -> str:
    """The physical name: the template's, or one CloudFormation generates."""
    explicit = (res.get("Properties") or {}).get(key) if key else None
    if explicit is None:
        generated = f"{APP}-{logical}-AbCdEf012345"
        return generated.lower() if res["Type"] == "AWS::S3::Bucket" else generated
    return resolve(explicit).replace(PIPELINE_STACK, APP)


def _ref(value: Any) -> str:
    return str(value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0])


def arns(app: dict[str, Any], logical: str) -> list[str]:
    """The ARNs CloudFormation's handlers act on for one translated resource."""
    res = app["Resources"][logical]
    props = res.get("Properties") or {}
    rtype = res["Type"]
    regional = f"{REGION}:{ACCOUNT}"
    if rtype == "AWS::IAM::Role":
        return [f"arn:aws:iam::{ACCOUNT}:role/{_name(logical, res, 'RoleName')}"]
    if rtype == "AWS::Lambda::Function":
        return [f"arn:aws:lambda:{regional}:function:{_name(logical, res, 'FunctionName')}"]
    if rtype == "AWS::Lambda::Permission":
        return arns(app, _ref(props["FunctionName"]))
    if rtype == "AWS::Lambda::LayerVersion":
        layer = f"arn:aws:lambda:{regional}:layer:{_name(logical, res, 'LayerName')}"
        return [layer, f"{layer}:7"]
    if rtype == "AWS::Events::Rule":
        return [f"arn:aws:events:{regional}:rule/{_name(logical, res, 'Name')}"]
    if rtype == "AWS::DynamoDB::Table":
        return [f"arn:aws:dynamodb:{regional}:table/{_name(logical, res, 'TableName')}"]
    if rtype == "AWS::S3::Bucket":
        return [f"arn:aws:s3:::{_name(logical, res, 'BucketName')}"]
    if rtype == "AWS::S3::BucketPolicy":
        return arns(app, _ref(props["Bucket"]))
    if rtype == "AWS::SNS::Topic":
        return [f"arn:aws:sns:{regional}:{_name(logical, res, 'TopicName')}"]
    if rtype == "AWS::SNS::TopicPolicy":
        return [a for topic in props["Topics"] for a in arns(app, _ref(topic))]
    if rtype == "AWS::SNS::Subscription":
        [topic] = arns(app, _ref(props["TopicArn"]))
        return [topic, f"{topic}:0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"]
    if rtype == "AWS::Logs::LogGroup":
        group = f"arn:aws:logs:{regional}:log-group:{_name(logical, res, 'LogGroupName')}"
        return [group, f"{group}:*"]
    if rtype == "AWS::Scheduler::Schedule":
        group = props.get("GroupName", "default")
        return [f"arn:aws:scheduler:{regional}:schedule/{group}/{_name(logical, res, 'Name')}"]
    if rtype == "AWS::StepFunctions::StateMachine":
        name = _name(logical, res, "StateMachineName")
        return [f"arn:aws:states:{regional}:stateMachine:{name}"]
    if rtype == "AWS::SQS::Queue":
        return [f"arn:aws:sqs:{regional}:{_name(logical, res, 'QueueName')}"]
    if rtype == "AWS::SQS::QueuePolicy":
        return [a for queue in props["Queues"] for a in arns(app, _ref(queue))]
    if rtype == "AWS::CloudWatch::Alarm":
        return [f"arn:aws:cloudwatch:{regional}:alarm:{_name(logical, res, 'AlarmName')}"]
    if rtype == "AWS::IAM::ManagedPolicy":
        return [f"arn:aws:iam::{ACCOUNT}:policy/{_name(logical, res, 'ManagedPolicyName')}"]
    if rtype == "AWS::Lambda::EventInvokeConfig":
        return arns(app, _ref(props["FunctionName"]))
    raise AssertionError(f"{logical}: no ARN rule for {rtype}; add it and grant the deploy role")


def handler_permissions(rtype: str, *handlers: str) -> set[str]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, rtype).schema
    return {p for h in handlers for p in schema["handlers"].get(h, {}).get("permissions", [])}


def deployed(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Resources the pipeline deploys: never the bootstrap endpoint (CreateEndpoint=false)."""
    return {
        logical: res
        for logical, res in app["Resources"].items()
        if res.get("Condition") != "CreateEndpointOn"
    }


def test_pipeline_never_deploys_sagemaker_resources(app: dict[str, Any]) -> None:
    sagemaker = {n for n, r in app["Resources"].items() if r["Type"].startswith("AWS::SageMaker")}
    assert sagemaker
    assert sagemaker.isdisjoint(deployed(app))


def test_deploy_role_can_manage_every_application_resource(
    resources: dict[str, Any], app: dict[str, Any]
) -> None:
    statements = role_statements(resources, "DeployRole")
    missing = []
    for logical, res in deployed(app).items():
        rtype = res["Type"]
        service = SERVICE[rtype.split("::")[1]]
        lifecycle = ("create", "read", "update", "delete")
        if res.get("DeletionPolicy") == "Retain":
            lifecycle = ("create", "read", "update")  # never deleted: see the next test
        needed = {
            p
            for p in handler_permissions(rtype, *lifecycle)
            if p.split(":")[0] == service and p not in NOT_USED
        }
        if rtype == "AWS::Lambda::Function":
            needed.discard("lambda:GetLayerVersion")  # on the layers, checked with them
        if rtype == "AWS::IAM::ManagedPolicy":  # no Roles property: attached by operators
            needed -= {"iam:AttachRolePolicy", "iam:DetachRolePolicy"}
        for arn in arns(app, logical):
            missing += [(logical, a, arn) for a in sorted(needed) if not allows(statements, a, arn)]
    assert missing == []


def test_deploy_role_cannot_delete_retained_data(
    resources: dict[str, Any], app: dict[str, Any]
) -> None:
    statements = role_statements(resources, "DeployRole")
    retained = {n: r for n, r in deployed(app).items() if r.get("DeletionPolicy") == "Retain"}
    assert {r["Type"] for r in retained.values()} == {"AWS::DynamoDB::Table", "AWS::S3::Bucket"}
    for logical, res in retained.items():
        deletes = handler_permissions(res["Type"], "delete") - handler_permissions(
            res["Type"], "read"
        )
        for arn in arns(app, logical):
            assert [a for a in deletes if allows(statements, a, arn)] == [], logical
    # Nor read or write what the application keeps in its bucket.
    [bucket] = arns(app, "Bucket")
    objects = {a for a in actions_of(statements) if re.match(r"s3:(Get|Put|Delete)Object", a)}
    assert objects == {"s3:GetObject", "s3:GetObjectVersion"}  # packaged code only
    assert [a for a in objects if allows(statements, a, f"{bucket}/policies/p.json")] == []


def test_deploy_role_grants_only_what_cloudformation_calls(
    resources: dict[str, Any], app: dict[str, Any]
) -> None:
    called: set[str] = set()
    for res in deployed(app).values():
        called |= handler_permissions(res["Type"], "create", "read", "update", "delete")
    granted = actions_of(role_statements(resources, "DeployRole"))
    assert granted - called - set(EXTRA) == set()
    assert not granted & set(NOT_USED)


def test_deploy_role_reads_packaged_code_and_passes_roles_only_to_their_runners(
    resources: dict[str, Any], app: dict[str, Any]
) -> None:
    statements = role_statements(resources, "DeployRole")
    code = f"arn:aws:s3:::{ARTIFACTS}/packages/0123456789abcdef"
    assert allows(statements, "s3:GetObject", code)
    for logical, res in deployed(app).items():
        if res["Type"] == "AWS::Lambda::Function":
            for layer in res["Properties"].get("Layers") or []:
                for arn in arns(app, _ref(layer))[1:]:
                    assert allows(statements, "lambda:GetLayerVersion", arn), logical
    runners = {
        "AWS::Lambda::Function": "lambda.amazonaws.com",
        "AWS::StepFunctions::StateMachine": "states.amazonaws.com",
        "AWS::Scheduler::Schedule": "scheduler.amazonaws.com",
        "AWS::Events::Rule": "events.amazonaws.com",
    }
    passed_to = set()
    for res in deployed(app).values():
        text = json.dumps(res.get("Properties") or {})
        if res["Type"] in runners and ('"RoleArn"' in text or '"Role"' in text):
            passed_to.add(runners[res["Type"]])
    [passes] = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert set(passes["Condition"]["StringEquals"]["iam:PassedToService"]) == passed_to
    for logical, res in deployed(app).items():
        if res["Type"] == "AWS::IAM::Role":
            [role] = arns(app, logical)
            assert allows([passes], "iam:PassRole", role)


def test_deploy_role_attaches_only_the_managed_policies_sam_uses(
    resources: dict[str, Any], app: dict[str, Any]
) -> None:
    used = {
        arn
        for res in deployed(app).values()
        if res["Type"] == "AWS::IAM::Role"
        for arn in res["Properties"].get("ManagedPolicyArns") or []
    }
    statements = role_statements(resources, "DeployRole")
    [attach] = [s for s in statements if "iam:AttachRolePolicy" in _as_list(s["Action"])]
    assert _as_list(attach["Action"]) == ["iam:AttachRolePolicy"]
    allowed = {resolve(a) for a in attach["Condition"]["ArnEquals"]["iam:PolicyARN"]}
    assert allowed == used


def test_deploy_role_touches_nothing_outside_the_application(resources: dict[str, Any]) -> None:
    fixed = (
        ":layer:ReleaseGuardLayer",
        ":layer:ScientificLayer",
        ":aws:transform/Serverless-2016-10-31",
        f"arn:aws:s3:::{ARTIFACTS}/",
        ":log-group:*",
        "<ArtifactKey.Arn>",
    )
    for statement in role_statements(resources, "DeployRole"):
        for arn in resources_of(statement):
            assert arn == "*" or APP in arn or any(f in arn for f in fixed), arn
        if statement["Resource"] == "*":
            assert set(_as_list(statement["Action"])) <= UNSCOPABLE


# ------------------------------------------------------------------ the Build stage
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
COMMAND_MAKE = re.compile(r"^\s*(?:\$\s+)?make\s+([A-Za-z0-9][\w.-]*)")


def readme_make_targets(text: str) -> set[str]:
    """`make X` commands the README tells users to run: in code blocks and inline code."""
    snippets = [line for block in FENCE.findall(text) for line in block.splitlines()]
    snippets += INLINE.findall(FENCE.sub("", text))
    return {m[1] for s in snippets if (m := COMMAND_MAKE.match(s))}


def commands(buildspec: dict[str, Any], phase: str) -> list[str]:
    return list(buildspec["phases"][phase].get("commands") or [])


def make_targets(cmds: list[str]) -> list[str]:
    targets = []
    for command in cmds:
        for line in command.splitlines():
            words = shlex.split(line, comments=True)
            targets += [w for i, w in enumerate(words[1:]) if words[i] == "make"]
    return targets


def render(command: str, env: dict[str, str]) -> list[str]:
    """A command's words with $VAR / ${VAR} replaced, as bash would run it."""
    words = shlex.split(command, comments=True)
    pattern = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")

    def value(m: re.Match[str]) -> str:
        assert m[1] in env, f"{m[1]} is not set by the CodeBuild project or the buildspec"
        return env[m[1]]

    return [pattern.sub(value, w) for w in words]


@pytest.fixture(scope="module")
def buildspec() -> dict[str, Any]:
    return dict(yaml.safe_load(BUILDSPEC.read_text()))


@pytest.fixture(scope="module")
def release_buildspec() -> dict[str, Any]:
    return dict(yaml.safe_load(RELEASE_BUILDSPEC.read_text()))


def project_env(
    resources: dict[str, Any], project: str, buildspec: dict[str, Any]
) -> dict[str, str]:
    env = {
        v["Name"]: resolve(v["Value"])
        for v in resources[project]["Properties"]["Environment"]["EnvironmentVariables"]
    }
    env.update((buildspec.get("env") or {}).get("variables") or {})
    return env


def test_buildspec_runs_the_readme_commands(buildspec: dict[str, Any]) -> None:
    readme = readme_make_targets(README.read_text())
    assert {"demo", "test", "build"} <= readme, "the README's own commands are found"
    used = make_targets(commands(buildspec, "build"))
    assert used == ["test", "build"]
    assert set(used) <= readme, f"the README no longer tells users to run {set(used) - readme}"


def test_readme_check_fails_when_the_readme_drops_a_command(buildspec: dict[str, Any]) -> None:
    # The README without `make test` and `make build` (say, renamed to check/compile).
    dropped = re.sub(r"\bmake (test|build)\b", r"make \1-renamed", README.read_text())
    used = set(make_targets(commands(buildspec, "build")))
    assert used - readme_make_targets(dropped) == {"test", "build"}


def test_buildspec_uses_python_312_and_the_readme_sam(buildspec: dict[str, Any]) -> None:
    assert buildspec["version"] == 0.2
    assert buildspec["phases"]["install"]["runtime-versions"] == {"python": 3.12}
    sam = [c for c in commands(buildspec, "build") if " package " in c]
    assert [shlex.split(c)[0] for c in sam] == [".venv-tools/bin/sam"]
    assert ".venv-tools/bin/sam deploy" in README.read_text()  # the README's own sam


def test_buildspec_output_is_what_the_deploy_stage_reads(
    buildspec: dict[str, Any], resources: dict[str, Any]
) -> None:
    env = project_env(resources, "BuildProject", buildspec)
    rendered = [render(c, env) for c in commands(buildspec, "build")]
    [package] = [words for words in rendered if words[1:2] == ["package"]]
    option = {k: v for k, v in itertools.pairwise(package) if k.startswith("--")}
    assert option["--s3-bucket"] == ARTIFACTS  # the encrypted artifact bucket
    assert option["--template-file"] == ".aws-sam/build/template.yaml"  # make build's output
    [config] = [words for words in rendered if "pipeline/template_config.py" in words]
    produced = {option["--output-template-file"], config[config.index("--out") + 1]}
    assert set(buildspec["artifacts"]["files"]) == produced
    [replace, _] = stage(resources, "Deploy")["Actions"]
    wanted = {
        replace["Configuration"]["TemplatePath"],
        replace["Configuration"]["TemplateConfiguration"],
    }
    assert wanted == {f"BuildOutput::{name}" for name in produced}


def test_build_project_passes_every_required_application_parameter(
    resources: dict[str, Any],
) -> None:
    app_parameters = validate_asl.load_template(ROOT / "template.yaml")["Parameters"]
    env = resources["BuildProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    passed = {v["Name"].removeprefix("APP_PARAM_") for v in env if v["Name"].startswith("APP_")}
    assert passed <= set(app_parameters)
    assert {n for n, p in app_parameters.items() if "Default" not in p} <= passed
    for value in (v["Value"] for v in env if v["Name"].startswith("APP_")):
        # The pipeline's own parameter of that name, or its boundary for every role.
        assert value == {"Ref": value["Ref"]}
        assert value["Ref"] in app_parameters or value["Ref"] in BOUNDARIES


# ------------------------------------------------------------------ template configuration
def _template_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "template_config", ROOT / "pipeline/template_config.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app_parameters() -> dict[str, Any]:
    return dict(validate_asl.load_template(ROOT / "template.yaml")["Parameters"])


REQUIRED = {
    "APP_PARAM_EndpointName": "demo-endpoint",
    "APP_PARAM_ModelPackageGroupName": "demo-models",
    "APP_PARAM_ModelExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/model",
}


def test_template_configuration_leaves_empty_values_to_the_template(
    app_parameters: dict[str, Any],
) -> None:
    tc = _template_config()
    env = {**REQUIRED, "APP_PARAM_NotificationEmail": "", "APP_PARAM_CandidateInstanceCount": "2"}
    config = tc.render(app_parameters, env, {"DriftSchedule": "rate(30 minutes)"})
    assert config == {
        "Parameters": {
            "CandidateInstanceCount": "2",
            "DriftSchedule": "rate(30 minutes)",
            "EndpointName": "demo-endpoint",
            "ModelExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/model",
            "ModelPackageGroupName": "demo-models",
        }
    }


def test_template_configuration_refuses_what_the_change_set_would(
    app_parameters: dict[str, Any],
) -> None:
    tc = _template_config()
    env = {
        "APP_PARAM_EndpointName": "Demo_Endpoint",
        "APP_PARAM_CandidateInstanceCount": "0",
        "APP_PARAM_CreateEndpoint": "true",
        "APP_PARAM_Typo": "x",
    }
    with pytest.raises(tc.ConfigError) as err:
        tc.render(app_parameters, env)
    problems = "\n".join(err.value.problems)
    for expected in (
        "EndpointName='Demo_Endpoint': expected to match",
        "CandidateInstanceCount='0': expected at least 1",
        "CreateEndpoint=true: the pipeline never bootstraps an endpoint",
        "Typo: not a parameter",
        "ModelPackageGroupName: required",
        "ModelExecutionRoleArn: required",
    ):
        assert expected in problems


def test_template_configuration_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "template-configuration.json"
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else "python3",
            str(ROOT / "pipeline/template_config.py"),
            "--out",
            str(out),
            "--values",
            str(tmp_path / "absent.json"),
        ],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("APP_PARAM_")}, **REQUIRED},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["Parameters"]["EndpointName"] == "demo-endpoint"


# ------------------------------------------------------------------ the Release stage
def test_release_buildspec_installs_with_make_and_waits_for_each_release(
    release_buildspec: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert release_buildspec["phases"]["install"]["runtime-versions"] == {"python": 3.12}
    targets = make_targets(commands(release_buildspec, "install"))
    assert targets == ["venv"]
    makefile_targets = set(re.findall(r"^([\w.-]+):", MAKEFILE.read_text(), re.MULTILINE))
    assert set(targets) <= makefile_targets
    [script] = commands(release_buildspec, "build")
    env = {
        **project_env(resources, "ReleaseProject", release_buildspec),
        "base": "<base>",
        "wait_seconds": "<wait>",
    }
    lines = [line for line in script.splitlines() if "release-guard" in line]
    [release] = [render(line, env) for line in lines]
    assert release == [
        ".venv/bin/release-guard",
        "manifest",
        "release",
        "--changed-from",
        "<base>",
        "--stack-name",
        APP,
        "--wait",
        "--timeout",
        "<wait>",
    ]
    # Each wait ends before CodeBuild's own timeout stops the build.
    assert "wait_seconds=$(( RELEASE_TIMEOUT_MINUTES * 60 - 300 ))" in script
    assert "RELEASE_TIMEOUT_MINUTES" in env
    assert "bash pipeline/release-base.sh" in script
    assert "set -euo pipefail" in script  # a failed release fails the build


def test_both_triggers_are_recorded_in_the_ledger() -> None:
    from release_guard.events import Trigger

    assert {"pipeline", "registry"} <= set(get_args(Trigger))
    # The registry path stays: an approval in the group still starts a release.
    app = validate_asl.load_template(ROOT / "template.yaml")
    events = app["Resources"]["StartReleaseFunction"]["Properties"]["Events"]
    assert [e["Type"] for e in events.values()] == ["EventBridgeRule"]


# ------------------------------------------------------------------ release-base.sh
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_SYSTEM": "/dev/null",
}


class Repo:
    """A git repository and a fake `aws` that answers list-pipeline-executions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path.parent / "bin"
        self.bin.mkdir()
        self.calls = path.parent / "aws-calls"
        aws = self.bin / "aws"
        aws.write_text(f'#!/usr/bin/env bash\necho "$@" >> {self.calls}\necho "$FAKE_PREVIOUS"\n')
        aws.chmod(0o755)
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    def commit(self, name: str) -> str:
        (self.path / f"{name}.txt").write_text(name)
        self.git("add", ".")
        self.git("commit", "-q", "-m", name)
        return self.git("rev-parse", "HEAD")

    def base(self, previous: str, release_from: str = "auto") -> tuple[int, str, str]:
        env = {
            **os.environ,
            **GIT_ENV,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "PIPELINE_NAME": PIPELINE_STACK,
            "RELEASE_FROM": release_from,
            "FAKE_PREVIOUS": previous,
        }
        out = subprocess.run(
            ["bash", str(RELEASE_BASE)],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return out.returncode, out.stdout.strip(), out.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def test_release_base_is_the_last_successful_commit(repo: Repo) -> None:
    c1 = repo.commit("c1")
    repo.commit("c2")
    repo.commit("c3")
    # A push of two commits since the last success: both are covered (HEAD~1 would not).
    assert repo.base(c1)[:2] == (0, c1)
    assert f"list-pipeline-executions --pipeline-name {PIPELINE_STACK}" in repo.calls.read_text()


def test_release_base_releases_nothing_on_the_first_run(repo: Repo) -> None:
    repo.commit("c1")
    head = repo.commit("c2")
    code, base, err = repo.base("None")
    assert (code, base) == (0, head)
    assert "nothing is released" in err


def test_release_base_follows_the_release_from_variable(repo: Repo) -> None:
    c1 = repo.commit("c1")
    repo.commit("c2")
    assert repo.base("None", release_from=c1[:10])[:2] == (0, c1)
    code, _, err = repo.base("None", release_from="no-such-commit")
    assert code == 2 and "not a commit" in err


def test_release_base_survives_rewritten_history(repo: Repo) -> None:
    c1 = repo.commit("c1")
    repo.commit("c2")
    repo.git("checkout", "-q", "-b", "old", c1)
    gone = repo.commit("d1")
    repo.git("checkout", "-q", "main")
    repo.commit("c3")
    # The last success was on history since rewritten: the merge base.
    code, base, err = repo.base(gone)
    assert (code, base) == (0, c1) and "merge base" in err
    # ... or not in the clone at all: HEAD~1.
    code, base, err = repo.base("f" * 40)
    assert (code, base) == (0, repo.git("rev-parse", "HEAD~1")) and "HEAD~1" in err


# ------------------------------------------------------------------ docs
def test_docs_show_how_to_deploy_the_pipeline(template: dict[str, Any]) -> None:
    docs = (ROOT / "docs/pipeline.md").read_text()
    assert "aws cloudformation deploy" in docs and "pipeline/template.yaml" in docs
    for name in template["Parameters"]:
        assert f"`{name}`" in docs, f"docs/pipeline.md does not describe {name}"
