"""What template.yaml promises its users: least privilege, encrypted and retained data,
the registry trigger, and a bootstrap endpoint that CloudFormation never takes back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import check_package_size, validate_asl

ROOT = Path(__file__).resolve().parents[2]

FUNCTIONS = {
    "StartReleaseFunction": "start_release",
    "PrepareReleaseFunction": "prepare_release",
    "AcquireLockFunction": "acquire_lock",
    "DeployCandidateFunction": "deploy_candidate",
    "CheckEndpointFunction": "check_endpoint",
    "ShiftTrafficFunction": "shift_traffic",
    "JudgeCanaryFunction": "judge_canary",
    "RequestApprovalFunction": "request_approval",
    "PromoteFunction": "promote",
    "RollBackFunction": "roll_back",
    "FinishReleaseFunction": "finish_release",
    "EvalGateFunction": "eval_gate",
    "RunEvalFunction": "run_eval",
    "DriftCheckFunction": "drift_check",
    "BuildBaselineFunction": "build_baseline",
}

# Actions AWS authorises only on Resource "*" (no resource-level permissions).
UNSCOPABLE = {
    "cloudwatch:GetMetricData",
    "cloudwatch:PutMetricData",
    # Step Functions' CloudWatch Logs delivery, as the Step Functions guide lists it.
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "ecr:GetAuthorizationToken",
    # Task tokens are not resources: the Service Authorization Reference lists no
    # resource type for them.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return validate_asl.load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) of every identity policy: SAM Policies and IAM resources."""
    for name, res in resources.items():
        props = res.get("Properties") or {}
        for policy in props.get("Policies") or []:
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in policy["Statement"]:
                    # A conditional statement: judged as it is when its condition holds.
                    yield name, statement["Fn::If"][1] if "Fn::If" in statement else statement
        # A permissions boundary grants nothing (tests/unit/test_security.py checks it).
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and name not in (
            "FunctionLogsBoundary",
        ):
            for statement in props["PolicyDocument"]["Statement"]:
                yield name, statement
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies") or []:
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield name, statement["Fn::If"][1] if "Fn::If" in statement else statement


def statements_of(resources: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for owner, s in identity_statements(resources) if owner == name]


def actions_of(resources: dict[str, Any], name: str) -> set[str]:
    return {a for s in statements_of(resources, name) for a in _as_list(s["Action"])}


def resource_text(statement: dict[str, Any]) -> str:
    return repr(statement["Resource"])


# ------------------------------------------------------------------ least privilege
def test_no_wildcard_resource_except_where_aws_requires_it(resources: dict[str, Any]) -> None:
    offenders = []
    for name, statement in identity_statements(resources):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement["Resource"]):
            continue
        scopable = {
            a for a in _as_list(statement["Action"]) if a not in UNSCOPABLE and ":" in a
        } - {a for a in _as_list(statement["Action"]) if a.startswith("xray:")}
        if scopable:
            offenders.append((name, sorted(scopable)))
    assert offenders == []


def test_no_wildcard_actions(resources: dict[str, Any]) -> None:
    for name, statement in identity_statements(resources):
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (name, action)


def test_get_metric_data_is_the_judges_only_wildcard(resources: dict[str, Any]) -> None:
    wildcard = [
        (name, s["Action"])
        for name, s in identity_statements(resources)
        if name in FUNCTIONS and "*" in _as_list(s["Resource"])
    ]
    assert wildcard == [
        ("JudgeCanaryFunction", "cloudwatch:GetMetricData"),
        ("DriftCheckFunction", "cloudwatch:PutMetricData"),
    ]


def test_drift_metrics_are_scoped_to_their_namespace(resources: dict[str, Any]) -> None:
    for name in ("DriftCheckFunction", "DriftJobRole"):
        [put] = [s for s in statements_of(resources, name) if "PutMetricData" in str(s["Action"])]
        assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ReleaseGuard/Drift"}}


# What each function needs is not pinned here: every flow runs in the emulated account
# with IAM enforced (tests/emulator/test_iam.py, tests/e2e), where a missing action fails.


def test_sagemaker_writes_are_scoped_to_the_managed_endpoint(resources: dict[str, Any]) -> None:
    writes = ("Create", "Update", "AddTags")
    for name in FUNCTIONS:
        for statement in statements_of(resources, name):
            actions = [a for a in _as_list(statement["Action"]) if a.startswith("sagemaker:")]
            if not any(a.removeprefix("sagemaker:").startswith(writes) for a in actions):
                continue
            for arn in _as_list(statement["Resource"]):
                text = repr(arn)
                # Only the one endpoint, its own "<endpoint>-*" configs and models, the
                # group's packages -- or, for rollback only, any config to restore.
                assert (
                    ":endpoint/${EndpointName}'" in text
                    or "-config/${EndpointName}-*" in text
                    or ":model/${EndpointName}-*" in text
                    or "model-package/${ModelPackageGroupName}/*" in text
                    or (name == "RollBackFunction" and actions == ["sagemaker:UpdateEndpoint"])
                    # The drift check's hand-off: only release-guard's own job names.
                    or ":processing-job/rg-drift-*" in text
                ), (name, statement["Sid"], text)


def test_endpoint_name_matches_sagemakers_lower_case_arns(template: dict[str, Any]) -> None:
    param = template["Parameters"]["EndpointName"]
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.fullmatch("llm-prod-1")
    assert not pattern.fullmatch("LLM-Prod")  # IAM would never match its lower-case ARN
    assert not pattern.fullmatch("bad_name")
    # Models and configs are named "<endpoint[:40]>-...": longer names escape the scope.
    assert int(param["MaxLength"]) <= 40


def test_pass_role_only_to_sagemaker(resources: dict[str, Any]) -> None:
    passing = [
        (name, s)
        for name, s in identity_statements(resources)
        if "iam:PassRole" in _as_list(s["Action"])
    ]
    assert [name for name, _ in passing] == ["DeployCandidateFunction", "DriftCheckFunction"]
    roles = [{"Ref": "ModelExecutionRoleArn"}, {"Fn::GetAtt": ["DriftJobRole", "Arn"]}]
    for (_, statement), role in zip(passing, roles, strict=True):
        assert statement["Action"] == "iam:PassRole"
        assert statement["Resource"] == role
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
        }


def test_lock_can_see_executions_of_the_fixed_state_machine_name(
    resources: dict[str, Any],
) -> None:
    name = resources["ReleaseStateMachine"]["Properties"]["Name"]
    assert name == {"Fn::Sub": "${AWS::StackName}-release"}
    [describe] = [
        s
        for s in statements_of(resources, "AcquireLockFunction")
        if s["Action"] == "states:DescribeExecution"
    ]
    assert describe["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
        ":execution:${AWS::StackName}-release:*"
    }


def test_state_machine_invokes_exactly_its_functions(resources: dict[str, Any]) -> None:
    props = resources["ReleaseStateMachine"]["Properties"]
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in props["Policies"]
        if "LambdaInvokePolicy" in p
    }
    called = {v["Fn::GetAtt"][0] for v in props["DefinitionSubstitutions"].values()}
    assert invoked == called
    assert "StartReleaseFunction" not in invoked


def test_state_machine_logs_everything_and_traces(resources: dict[str, Any]) -> None:
    props = resources["ReleaseStateMachine"]["Properties"]
    assert props["Logging"]["Level"] == "ALL"
    # Execution data would put task tokens in the logs (tests/unit/test_security.py).
    assert props["Logging"]["IncludeExecutionData"] is False
    [dest] = props["Logging"]["Destinations"]
    assert dest["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }
    assert props["Tracing"] == {"Enabled": True}


# ------------------------------------------------------------------ data at rest
def _tls_only(policy: dict[str, Any], action: str) -> bool:
    for s in policy["PolicyDocument"]["Statement"]:
        if (
            s["Effect"] == "Deny"
            and s["Principal"] == "*"
            and action in _as_list(s["Action"])
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ):
            return True
    return False


def test_bucket_denies_requests_without_tls(resources: dict[str, Any]) -> None:
    [policy] = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "Bucket"}
    ]
    assert _tls_only(policy, "s3:*")
    [deny] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["Bucket", "Arn"]},
        {"Fn::Sub": "${Bucket.Arn}/*"},
    ]


def test_bucket_is_private_encrypted_versioned_and_retained(resources: dict[str, Any]) -> None:
    bucket = resources["Bucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    # SSE-KMS with BucketKmsKeyArn, else SSE-S3 (tests/unit/test_security.py).
    condition, *choices = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]["Fn::If"]
    assert condition == "HasBucketKmsKey"
    for [rule] in choices:
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}


def test_ledger_table_has_pitr_sse_and_is_retained(resources: dict[str, Any]) -> None:
    table = resources["LedgerTable"]
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    [gsi] = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by-endpoint"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


def test_topic_is_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    assert resources["Topic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    [policy] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    assert policy["Topics"] == [{"Ref": "Topic"}]
    assert _tls_only(policy, "sns:Publish")


def test_email_subscription_only_when_an_address_is_given(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    [sub] = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert sub["Condition"] == "HasNotificationEmail"
    assert template["Conditions"]["HasNotificationEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]
    }


# ------------------------------------------------------------------ the registry trigger
def _matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching as moto's EventPattern does it (the emulated account's
    event bus): exact values, ``exists``, ``$or`` (tests/unit/test_registry_rule.py)."""
    from moto.events.models import EventPattern, EventPatternParser

    parsed = EventPatternParser(json.dumps(pattern)).parse()
    return EventPattern(json.dumps(pattern), parsed).matches_event(event)


def _resolve(value: Any, params: dict[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return params[value["Ref"]]
    if isinstance(value, dict):
        return {k: _resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params) for v in value]
    return value


def _package_event(group: str, status: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "account": "123456789012",
        "region": "us-east-1",
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/7",
            "ModelPackageVersion": 7,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
        },
    }


@pytest.mark.parametrize(
    ("group", "status", "starts"),
    [
        ("fraud-llm", "Approved", True),
        ("fraud-llm", "Rejected", False),
        ("fraud-llm", "PendingManualApproval", False),
        ("other-group", "Approved", False),
    ],
)
def test_only_an_approval_in_the_group_starts_a_release(
    resources: dict[str, Any], group: str, status: str, starts: bool
) -> None:
    events = resources["StartReleaseFunction"]["Properties"]["Events"]
    [rule] = [e for e in events.values() if e["Type"] == "EventBridgeRule"]
    pattern = _resolve(rule["Properties"]["Pattern"], {"ModelPackageGroupName": "fraud-llm"})
    assert _matches(pattern, _package_event(group, status)) is starts


# ------------------------------------------------------------------ bootstrap endpoint
BOOTSTRAP = ("ChampionModel", "ChampionEndpointConfig", "ChampionEndpoint")


@pytest.mark.parametrize("name", BOOTSTRAP)
def test_bootstrap_endpoint_resources_are_retained(resources: dict[str, Any], name: str) -> None:
    res = resources[name]
    assert res["Condition"] == "CreateEndpointOn"
    assert res["DeletionPolicy"] == "Retain"
    assert res["UpdateReplacePolicy"] == "Retain"


def test_bootstrap_config_has_one_champion_variant_with_capture(
    resources: dict[str, Any],
) -> None:
    props = resources["ChampionEndpointConfig"]["Properties"]
    [variant] = props["ProductionVariants"]
    assert variant["VariantName"] == "champion"
    assert variant["InstanceType"] == {"Ref": "ChampionInstanceType"}
    capture = props["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert resources["ChampionEndpoint"]["Properties"]["EndpointName"] == {"Ref": "EndpointName"}


def test_create_endpoint_is_off_by_default(template: dict[str, Any]) -> None:
    assert template["Parameters"]["CreateEndpoint"]["Default"] == "false"
    assert template["Parameters"]["ChampionInstanceType"]["Default"] == "ml.g5.2xlarge"


# ------------------------------------------------------------------ functions and layers
@pytest.mark.parametrize(("name", "folder"), FUNCTIONS.items())
def test_each_handler_has_its_function(resources: dict[str, Any], name: str, folder: str) -> None:
    props = resources[name]["Properties"]
    assert resources[name]["Type"] == "AWS::Serverless::Function"
    assert props["CodeUri"] == f"functions/{folder}/"
    assert (ROOT / "functions" / folder / "app.py").is_file()


def test_globals_wire_every_function(template: dict[str, Any], resources: dict[str, Any]) -> None:
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] == "python3.12"
    assert fn["Handler"] == "app.handler"
    assert fn["Tracing"] == "Active"
    assert fn["Layers"] == [{"Ref": "ReleaseGuardLayer"}, {"Ref": "ScientificLayer"}]
    env = fn["Environment"]["Variables"]
    assert set(env) == {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "LEDGER_TABLE",
        "TOPIC_ARN",
        "ENDPOINT_NAME",
        "MODEL_PACKAGE_GROUP",
        "CANDIDATE_INSTANCE_TYPE",
        "CANDIDATE_INSTANCE_COUNT",
        "RELEASE_POLICY_URI",
        "MODEL_EXECUTION_ROLE_ARN",
        "DATA_CAPTURE_S3_URI",
        "REPORTS_BUCKET",
        *BLAS_THREADS,
    }
    start_env = resources["StartReleaseFunction"]["Properties"]["Environment"]["Variables"]
    assert start_env == {"STATE_MACHINE_ARN": {"Ref": "ReleaseStateMachine"}}
    drift_env = resources["DriftCheckFunction"]["Properties"]["Environment"]["Variables"]
    assert set(drift_env) == {"DRIFT_JOB_IMAGE", "DRIFT_JOB_ROLE_ARN", "DRIFT_JOB_INSTANCE_TYPE"}
    for name in set(FUNCTIONS) - {"StartReleaseFunction", "DriftCheckFunction"}:
        assert "Environment" not in resources[name]["Properties"], name


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
VCPU_MB = 1769  # Lambda allots one vCPU's worth of CPU at 1,769 MB


def test_blas_threads_match_each_functions_vcpus(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Every function carries the scientific layer (numpy): its BLAS and OpenMP threads
    are its whole vCPUs, max(1, MemorySize // 1769), never OpenBLAS's default of one
    per visible core, which waits on throttled cores for a 200k-element dot."""
    glob = template["Globals"]["Function"]
    functions = {
        name: res["Properties"]
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
    }
    assert set(FUNCTIONS) <= set(functions)
    for name, props in functions.items():
        layers = glob["Layers"] + props.get("Layers", [])
        assert {"Ref": "ScientificLayer"} in layers, name
        env = {
            **glob["Environment"]["Variables"],
            **props.get("Environment", {}).get("Variables", {}),
        }
        want = str(max(1, int(props.get("MemorySize", glob["MemorySize"])) // VCPU_MB))
        assert {k: env.get(k) for k in BLAS_THREADS} == dict.fromkeys(BLAS_THREADS, want), name


def test_no_secrets_in_the_template(template: dict[str, Any]) -> None:
    text = (ROOT / "template.yaml").read_text()
    assert not re.search(r"(?i)(secret|password|aws_access_key|AKIA[0-9A-Z]{16})", text)
    assert not any(p.get("NoEcho") for p in template["Parameters"].values())


def test_layer_sources_build_to_python_dir(resources: dict[str, Any]) -> None:
    # SAM's python3.12 layer build copies ContentUri into python/ and installs its
    # requirements.txt there: ContentUri must be the dir that holds the package.
    rg = ROOT / resources["ReleaseGuardLayer"]["Properties"]["ContentUri"]
    assert (rg / "release_guard" / "__init__.py").is_file()
    assert (rg / "requirements.txt").is_file()
    sci = ROOT / resources["ScientificLayer"]["Properties"]["ContentUri"]
    assert "numpy==" in (sci / "requirements.txt").read_text()
    for name in ("ReleaseGuardLayer", "ScientificLayer"):
        assert resources[name]["Metadata"]["BuildMethod"] == "python3.12"


def test_outputs(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) == {
        "StateMachineArn",
        "BucketName",
        "LedgerTableName",
        "TopicArn",
        "StartReleaseFunctionName",
        "OperatorPolicyArn",
        "FailedEventsQueueUrl",
        "RecoverReleaseFunctionName",
        "EndpointName",
    }


# ------------------------------------------------------------------ package size check
BUILT_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: 'a: long description that PyYAML wraps
  onto a second line: still one scalar'
Globals:
  Function:
    Runtime: python3.12
    Layers:
    - Ref: Big
Resources:
  Big:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: Big
    Metadata:
      BuildMethod: python3.12
  Small:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: Small
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: Fn
      Layers:
      - Ref: Small
      - arn:aws:lambda:us-east-1:123456789012:layer:external:3
"""


def _sized_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # sparse: the check reads sizes, not bytes


def test_package_size_counts_code_and_every_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mb = check_package_size.MB
    (tmp_path / "template.yaml").write_text(BUILT_TEMPLATE)
    _sized_file(tmp_path / "Big/python/numpy/core.so", 200 * mb)
    _sized_file(tmp_path / "Small/python/pkg/__init__.py", 30 * mb)
    _sized_file(tmp_path / "Fn/app.py", 10 * mb)

    layers, [fn] = check_package_size.measure(tmp_path)
    assert layers == {"Big": 200 * mb, "Small": 30 * mb}
    assert fn.total == 240 * mb
    assert fn.unmeasured == ["arn:aws:lambda:us-east-1:123456789012:layer:external:3"]
    assert check_package_size.main([str(tmp_path)]) == 0

    _sized_file(tmp_path / "Fn/weights.bin", 11 * mb)  # 251 MB: one over
    assert check_package_size.main([str(tmp_path)]) == 1
    assert "over the unzipped limit: Fn" in capsys.readouterr().err


def test_package_size_needs_a_build(tmp_path: Path) -> None:
    assert check_package_size.main([str(tmp_path)]) == 2
