"""Security hardening (issue 11, section 4), read from the parsed templates and from
template.yaml as the SAM transform expands it: every function logs to a log group of its
own with a retention and may write logs nowhere else, task tokens stay out of the state
machine's logs, the stack bucket takes an optional KMS key and logs its accesses, every
role the pipeline's deploy role creates carries the pipeline's permissions boundary, the
drift job pulls only its own image, and checkov runs on both templates with every
suppression explained (docs/security.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from release_guard_cli.emulator.iam import Check, decide

from scripts import validate_asl
from tests.unit.test_pipeline import _Policies, resolve, role_statements

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PIPELINE = ROOT / "pipeline/template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
APP = "release-guard"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/PermissionsBoundaries/{APP}-pipeline-Boundary-X"
NO_VALUE = {"Ref": "AWS::NoValue"}
LOG_WRITES = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}

# What SAM attaches to the roles it generates (aws managed policies' actions).
SAM_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": LOG_WRITES,
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    },
}


# ------------------------------------------------------------------ loading
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return validate_asl.load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return dict(validate_asl.load_template(PIPELINE)["Resources"])


@pytest.fixture(scope="module")
def app() -> dict[str, Any]:
    """template.yaml through the SAM transform, deployed with a boundary (the pipeline)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    sam = yaml_parse(TEMPLATE.read_text())
    for res in sam["Resources"].values():
        props = res.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://artifacts/packages/0123456789abcdef"
    parameters = {
        "EndpointName": "demo-endpoint",
        "ModelPackageGroupName": "demo-models",
        "ModelExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/model",
        "PermissionsBoundaryArn": BOUNDARY_ARN,
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        return dict(transform(sam, parameters, _Policies()))


def functions(resources: dict[str, Any]) -> list[str]:
    return [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate(value: Any, env: dict[str, str]) -> Any:
    """The few intrinsic functions these checks meet, as CloudFormation evaluates them."""
    if isinstance(value, str | int | bool):
        return value
    if isinstance(value, list):
        return [evaluate(v, env) for v in value]
    if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
        return {k: evaluate(v, env) for k, v in value.items()}
    [(key, arg)] = value.items()
    if key == "Ref":
        return env[arg]
    if key == "Fn::GetAtt":
        return env[".".join(arg)]
    if key == "Fn::Select":
        return evaluate(arg[1], env)[int(arg[0])]
    if key == "Fn::Split":
        return evaluate(arg[1], env).split(arg[0])
    if key == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        scope = {**env, **{k: evaluate(v, env) for k, v in variables.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(scope[m[1]]), text)
    raise AssertionError(f"not evaluated here: {key}")


def stack_env(resources: dict[str, Any]) -> dict[str, str]:
    """Pseudo parameters, and each log group's Arn as CloudFormation returns it."""
    env = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    env["AWS::StackName"] = APP
    for name, res in resources.items():
        if res["Type"] == "AWS::Logs::LogGroup":
            group = evaluate(res["Properties"]["LogGroupName"], env)
            env[f"{name}.Arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
    return env


def log_stream(group: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:2026/01/01/[$LATEST]0a1b"


# ------------------------------------------------------------------ 1. function logs
def test_every_function_logs_to_a_log_group_of_its_own(resources: dict[str, Any]) -> None:
    names = functions(resources)
    assert len(names) >= 16
    owners: dict[str, str] = {}
    for name in names:
        logging = resources[name]["Properties"].get("LoggingConfig") or {}
        assert "LogGroup" in logging, f"{name} has no log group of its own (LoggingConfig)"
        group = logging["LogGroup"]["Ref"]
        res = resources[group]
        assert res["Type"] == "AWS::Logs::LogGroup"
        assert res["Properties"]["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{name}"
        }
        assert res["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        # A retained group with a fixed name would block re-creating the stack.
        assert res["DeletionPolicy"] == "Delete"
        assert group not in owners, f"{name} and {owners.get(group)} share {group}"
        owners[group] = name


def test_every_log_group_expires(template: dict[str, Any], resources: dict[str, Any]) -> None:
    param = template["Parameters"]["LogRetentionDays"]
    assert param["Type"] == "Number" and param["Default"] == 90
    assert 90 in param["AllowedValues"] and 3653 in param["AllowedValues"]
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) > len(functions(resources))  # and the state machine's
    for res in groups:
        assert res["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_function_role_is_bounded_through_the_globals(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Globals"]["Function"]["PermissionsBoundary"] == {
        "Fn::If": [
            "HasPermissionsBoundary",
            {"Ref": "PermissionsBoundaryArn"},
            {"Ref": "FunctionLogsBoundary"},
        ]
    }
    for name in functions(resources):
        props = resources[name]["Properties"]
        # A Role of its own would carry neither SAM's role nor the boundary.
        assert "Role" not in props and "PermissionsBoundary" not in props, name
    assert resources["FunctionLogsBoundary"]["Condition"] == "OwnFunctionBoundary"
    assert template["Conditions"]["OwnFunctionBoundary"] == {
        "Fn::Equals": [{"Ref": "PermissionsBoundaryArn"}, ""]
    }


def test_the_function_boundary_allows_log_writes_only_to_the_declared_groups(
    resources: dict[str, Any],
) -> None:
    boundary = resources["FunctionLogsBoundary"]["Properties"]["PolicyDocument"]
    doc = evaluate(boundary, stack_env(resources))
    for name in functions(resources):
        own = f"/aws/lambda/{APP}-{name}"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            assert decide([doc], Check(action, log_stream(own))), (name, action)
            # Not the group Lambda would have made for the generated function name.
            default = f"{own}-AbCdEf012345"
            assert not decide([doc], Check(action, log_stream(default))), (name, action)
        # The groups exist before their functions: nobody creates one.
        assert not decide([doc], Check("logs:CreateLogGroup", log_stream(own)))
    assert not decide([doc], Check("logs:PutLogEvents", log_stream("/aws/lambda/other")))
    # Everything else is left to the roles' own policies.
    for action in ("sagemaker:UpdateEndpoint", "dynamodb:PutItem", "xray:PutTraceSegments"):
        assert decide([doc], Check(action, "arn:aws:sagemaker:us-east-1:123456789012:x/y"))


def test_sam_gives_every_role_the_boundary(app: dict[str, Any]) -> None:
    roles = {n: r for n, r in app["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    # Function roles, the state machine's, the schedules', the drift job's, retraining's.
    assert {"ReleaseStateMachineRole", "DriftJobRole", "RetrainingRole"} <= set(roles)
    assert any(n.endswith("ScheduleRole") for n in roles)
    for name, role in roles.items():
        props = role["Properties"]
        condition, given, otherwise = props["PermissionsBoundary"]["Fn::If"]
        assert (condition, given) == ("HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"})
        sam_function_role = any(
            "AWSLambdaBasicExecutionRole" in a for a in props.get("ManagedPolicyArns") or []
        )
        assert otherwise == ({"Ref": "FunctionLogsBoundary"} if sam_function_role else NO_VALUE), (
            name
        )


# ------------------------------------------------------------------ 2. task tokens
def test_task_tokens_stay_out_of_the_state_machine_logs(resources: dict[str, Any]) -> None:
    logging = resources["ReleaseStateMachine"]["Properties"]["Logging"]
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] in ("ALL", "ERROR")
    # What execution data would carry: the token in the waitForTaskToken tasks' parameters.
    asl = json.loads((ROOT / "statemachines/release.asl.json").read_text())

    def states(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("Type") == "Task":
                yield node
            for value in node.values():
                yield from states(value)
        elif isinstance(node, list):
            for value in node:
                yield from states(value)

    waiting = [s for s in states(asl) if str(s.get("Resource", "")).endswith(".waitForTaskToken")]
    assert waiting
    assert all("$$.Task.Token" in json.dumps(s.get("Parameters")) for s in waiting)


# ------------------------------------------------------------------ 3. the bucket's key
def test_the_bucket_takes_an_optional_kms_key(template: dict[str, Any]) -> None:
    param = template["Parameters"]["BucketKmsKeyArn"]
    assert param["Default"] == ""
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-0000-4000-8000-000000000000"
    )
    assert not pattern.fullmatch("alias/aws/s3")
    encryption = template["Resources"]["Bucket"]["Properties"]["BucketEncryption"]
    condition, [kms], [aes] = encryption["ServerSideEncryptionConfiguration"]["Fn::If"]
    assert condition == "HasBucketKmsKey"
    assert kms == {
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Ref": "BucketKmsKeyArn"},
        },
        "BucketKeyEnabled": True,
    }
    assert aes == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}


def _raw_statements(res: dict[str, Any]) -> list[Any]:
    props = res.get("Properties") or {}
    if res["Type"] == "AWS::Serverless::Function":
        return [s for p in props.get("Policies") or [] if "Statement" in p for s in p["Statement"]]
    if res["Type"] == "AWS::IAM::Role":
        return [s for p in props.get("Policies") or [] for s in p["PolicyDocument"]["Statement"]]
    return []


def test_every_role_that_touches_the_bucket_objects_may_use_its_key(
    resources: dict[str, Any],
) -> None:
    users = []
    for name, res in resources.items():
        raw = _raw_statements(res)
        plain = [s for s in raw if "Fn::If" not in s]
        plain += [s["Fn::If"][1] for s in raw if "Fn::If" in s]
        touching = [
            s
            for s in plain
            if {"s3:GetObject", "s3:PutObject"} & set(_as_list(s.get("Action")))
            and "Bucket.Arn" in json.dumps(s["Resource"])
        ]
        if not touching:
            continue
        users.append(name)
        [key] = [s for s in raw if "Fn::If" in s and s["Fn::If"][1].get("Sid") == "BucketKey"]
        condition, grant, otherwise = key["Fn::If"]
        assert (condition, otherwise) == ("HasBucketKmsKey", NO_VALUE), name
        assert grant["Resource"] == {"Ref": "BucketKmsKeyArn"}, name
        needed = {"kms:Decrypt"}
        if any("s3:PutObject" in _as_list(s["Action"]) for s in touching):
            needed.add("kms:GenerateDataKey")
        assert set(_as_list(grant["Action"])) == needed, name
    assert {"DriftCheckFunction", "DriftJobRole", "FinishReleaseFunction"} <= set(users)


# ------------------------------------------------------------------ 4. access logs
def test_bucket_accesses_are_logged_to_a_private_log_bucket(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Parameters"]["BucketAccessLogging"]["Default"] == "true"
    assert template["Conditions"]["AccessLoggingOn"] == {
        "Fn::Equals": [{"Ref": "BucketAccessLogging"}, "true"]
    }
    condition, logging, otherwise = resources["Bucket"]["Properties"]["LoggingConfiguration"][
        "Fn::If"
    ]
    assert (condition, otherwise) == ("AccessLoggingOn", NO_VALUE)
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    log_bucket = resources["AccessLogBucket"]
    props = log_bucket["Properties"]
    assert log_bucket["Condition"] == "AccessLoggingOn"
    assert log_bucket["DeletionPolicy"] == "Retain"
    assert "LoggingConfiguration" not in props  # a log bucket cannot log to itself
    # S3 log delivery writes only to SSE-S3 buckets.
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [expire] = props["LifecycleConfiguration"]["Rules"]
    assert expire["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"}

    [policy] = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy"
        and r["Properties"]["Bucket"] == {"Ref": "AccessLogBucket"}
    ]
    assert policy["Condition"] == "AccessLoggingOn"
    deny, delivery = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["AccessLogBucket", "Arn"]},
        {"Fn::Sub": "${AccessLogBucket.Arn}/*"},
    ]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"] == {
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["Bucket", "Arn"]}},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    }


# ------------------------------------------------------------------ 5. the pipeline's boundary
CREATES = {
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
}


def test_the_deploy_role_creates_roles_only_with_the_application_boundary(
    pipeline: dict[str, Any],
) -> None:
    statements = role_statements(pipeline, "DeployRole")
    granted = {a for s in statements for a in _as_list(s["Action"])}
    assert granted >= CREATES
    assert "iam:DeleteRolePermissionsBoundary" not in granted
    for statement in statements:
        if CREATES & set(_as_list(statement["Action"])):
            assert statement["Condition"]["StringEquals"] == {
                "iam:PermissionsBoundary": {"Ref": "ApplicationBoundary"}
            }, statement["Sid"]


def test_the_pipeline_passes_its_boundary_to_the_application(
    template: dict[str, Any], pipeline: dict[str, Any]
) -> None:
    env = pipeline["BuildProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    [passed] = [v for v in env if v["Name"] == "APP_PARAM_PermissionsBoundaryArn"]
    assert passed["Value"] == {"Ref": "ApplicationBoundary"}
    param = template["Parameters"]["PermissionsBoundaryArn"]
    assert param["Default"] == ""
    assert re.fullmatch(param["AllowedPattern"], BOUNDARY_ARN)


def test_no_push_can_widen_the_boundary(pipeline: dict[str, Any]) -> None:
    # The deploy role manages policies named "<ApplicationStackName>-*", and stack names
    # are lower case; the boundary's path starts with a capital, so no name matches it.
    stack_name = validate_asl.load_template(PIPELINE)["Parameters"]["ApplicationStackName"]
    assert stack_name["AllowedPattern"].startswith("^[a-z]")
    path = pipeline["ApplicationBoundary"]["Properties"]["Path"]
    assert re.fullmatch(r"/[A-Z][A-Za-z]*/", path)
    for statement in role_statements(pipeline, "DeployRole"):
        if any(re.search(r"Polic(y|ies)", a) for a in _as_list(statement["Action"])):
            for arn in map(resolve, _as_list(statement["Resource"])):
                if ":policy/" in arn:
                    assert arn.split(":policy/", 1)[1].startswith(f"{APP}-"), arn


def _resolved(value: Any) -> Any:
    if (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value))
        in (
            "Ref",
            "Fn::Sub",
            "Fn::GetAtt",
            "Fn::If",
        )
    ):
        return resolve(value)
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return value


def test_the_application_boundary_allows_what_the_application_roles_use(
    app: dict[str, Any], pipeline: dict[str, Any]
) -> None:
    doc = pipeline["ApplicationBoundary"]["Properties"]["PolicyDocument"]
    allowed = {a for s in doc["Statement"] for a in _as_list(s["Action"])}
    missing = []
    for name, res in app["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        props = res["Properties"]
        used: set[str] = set()
        for policy in props.get("Policies") or []:
            for statement in policy["PolicyDocument"]["Statement"]:
                sides = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
                for side in sides:
                    if side != NO_VALUE:
                        used |= set(_as_list(side["Action"]))
        for arn in props.get("ManagedPolicyArns") or []:
            # The boundary's point: functions create no log groups (theirs exist).
            used |= SAM_MANAGED[arn] - {"logs:CreateLogGroup"}
        missing += [(name, a) for a in sorted(used - allowed)]
    assert missing == []


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("dynamodb:Query", f"table/{APP}-LedgerTable-ABC/index/by-endpoint", {}, True),
        ("dynamodb:GetItem", "table/other-Table", {}, False),
        ("logs:PutLogEvents", f"/aws/lambda/{APP}-StartReleaseFunction", {}, True),
        ("logs:PutLogEvents", "/aws/lambda/other-Function", {}, False),
        ("logs:CreateLogGroup", f"/aws/lambda/{APP}-StartReleaseFunction", {}, False),
        ("s3:GetObject", "arn:aws:s3:::any-bucket/k", {"aws:resourceaccount": ACCOUNT}, True),
        ("s3:PutObject", "arn:aws:s3:::theirs/k", {"aws:resourceaccount": "999999999999"}, False),
        ("iam:PassRole", f"role/{APP}-DriftJobRole-X", {"iam:passedtoservice": "sagemaker"}, True),
        ("iam:PassRole", f"role/{APP}-DriftJobRole-X", {"iam:passedtoservice": "lambda"}, False),
        ("iam:CreateRole", f"role/{APP}-Escalate", {}, False),
        ("sts:AssumeRole", "role/admin", {}, False),
        ("lambda:UpdateFunctionCode", f"function:{APP}-PromoteFunction-X", {}, False),
    ],
)
def test_the_application_boundary_stops_what_release_guard_never_does(
    pipeline: dict[str, Any], action: str, resource: str, context: dict[str, str], allowed: bool
) -> None:
    doc = _resolved(pipeline["ApplicationBoundary"]["Properties"]["PolicyDocument"])
    service = action.split(":")[0]
    if resource.startswith("/aws/"):
        resource = log_stream(resource)
    elif not resource.startswith("arn:"):
        regional = "" if service in ("iam", "sts") else REGION
        resource = f"arn:aws:{service}:{regional}:{ACCOUNT}:{resource}"
    if "iam:passedtoservice" in context:
        context = {"iam:passedtoservice": f"{context['iam:passedtoservice']}.amazonaws.com"}
    assert decide([doc], Check(action, resource, tuple(context.items()))) is allowed


# ------------------------------------------------------------------ 6. the drift job's image
@pytest.mark.parametrize(
    ("uri", "repository"),
    [
        ("111122223333.dkr.ecr.eu-west-1.amazonaws.com/drift:1.4", "drift"),
        ("111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/drift", "team/drift"),
        (
            f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/drift@sha256:{'a' * 64}",
            "team/drift",
        ),
    ],
)
def test_the_drift_job_pulls_only_its_own_repository(
    template: dict[str, Any], resources: dict[str, Any], uri: str, repository: str
) -> None:
    assert re.fullmatch(template["Parameters"]["DriftJobImageUri"]["AllowedPattern"], uri)
    statements = resources["DriftJobRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    [pull] = [s for s in statements["Statement"] if s.get("Sid") == "PullImage"]
    env = {"AWS::Partition": "aws", "DriftJobImageUri": uri}
    assert evaluate(pull["Resource"], env) == (
        f"arn:aws:ecr:eu-west-1:111122223333:repository/{repository}"
    )
    # AWS has no resource for the token: it alone stays on "*".
    [token] = [s for s in statements["Statement"] if s.get("Sid") == "PullImageToken"]
    assert (token["Action"], token["Resource"]) == ("ecr:GetAuthorizationToken", "*")


def test_the_drift_job_image_must_be_an_ecr_image(template: dict[str, Any]) -> None:
    pattern = re.compile(template["Parameters"]["DriftJobImageUri"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert not pattern.fullmatch("docker.io/library/python:3.12")
    assert not pattern.fullmatch("111122223333.dkr.ecr.eu-west-1.amazonaws.com")


# ------------------------------------------------------------------ 7. checkov
def _suppressions(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, res in validate_asl.load_template(path)["Resources"].items():
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            yield path.name, name, skip


def test_make_test_runs_checkov_on_both_templates() -> None:
    makefile = (ROOT / "Makefile").read_text()
    [test] = re.findall(r"^test:(.*)$", makefile, re.MULTILINE)
    assert "checkov" in test.split()
    recipe = makefile.split("\ncheckov:", 1)[1].split("\n\n", 1)[0]
    assert "-f template.yaml" in recipe and "-f pipeline/template.yaml" in recipe
    assert "--skip-download" in recipe  # offline
    assert re.search(
        r"^checkov==\d+\.\d+\.\d+$", (ROOT / "requirements/checkov.txt").read_text(), re.M
    )


def test_every_checkov_suppression_says_why() -> None:
    docs = (ROOT / "docs/security.md").read_text()
    found = [*_suppressions(TEMPLATE), *_suppressions(PIPELINE)]
    assert found
    for file, name, skip in found:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (file, name)
        assert len(skip.get("comment", "")) >= 25, (file, name, skip["id"])
        assert f"`{skip['id']}`" in docs, f"docs/security.md does not explain {skip['id']}"


# ------------------------------------------------------------------ 9. docs
def test_the_security_docs_are_linked_and_cover_the_key_policy() -> None:
    assert "docs/security.md" in (ROOT / "README.md").read_text()
    docs = (ROOT / "docs/security.md").read_text()
    for needle in (
        "ModelExecutionRoleArn",
        "OperatorPolicy",
        "key policy",
        "IncludeExecutionData",
        "CloudTrail",
        "PermissionsBoundaryArn",
        "AWSLambdaBasicExecutionRole",
    ):
        assert needle in docs, needle
