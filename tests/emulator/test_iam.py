"""IAM in the emulated account: callers act with their own policies, as in AWS.

The evaluation rules first (explicit Deny wins, wildcards, condition keys), then the
deployed stack: a function acts with its execution role, the state machine with its
role, the operator with the stack's OperatorPolicy, and a refusal is AccessDenied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from release_guard_cli.emulator import iam
from release_guard_cli.emulator.iam import Check, UnsupportedPolicy, decide

from tests.conftest import ENDPOINT, load_event, policy_document

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EP = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/demo-endpoint"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_an_allow_needs_matching_action_and_resource() -> None:
    policy = [doc(allow("sagemaker:Describe*", "arn:aws:sagemaker:*:*:endpoint/demo-*"))]
    assert decide(policy, Check("sagemaker:DescribeEndpoint", EP))
    assert decide(policy, Check("SageMaker:describeendpoint", EP))  # actions: any case
    assert not decide(policy, Check("sagemaker:UpdateEndpoint", EP))
    other = EP.replace("demo-endpoint", "fraud-endpoint")
    assert not decide(policy, Check("sagemaker:DescribeEndpoint", other))
    assert not decide(policy, Check("sagemaker:DescribeEndpoint", EP.upper()))  # ARNs: exact


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policy = [
        doc(allow("sagemaker:*")),
        doc({"Effect": "Deny", "Action": "sagemaker:UpdateEndpoint", "Resource": EP}),
    ]
    assert decide(policy, Check("sagemaker:DescribeEndpoint", EP))
    assert not decide(policy, Check("sagemaker:UpdateEndpoint", EP))


def test_not_action_and_removed_statements() -> None:
    policy = [doc(None, {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]  # type: ignore[arg-type]
    assert decide(policy, Check("s3:GetObject", "arn:aws:s3:::b/k"))
    assert not decide(policy, Check("iam:PassRole", "arn:aws:iam::1:role/r"))


def test_conditions_need_their_keys() -> None:
    pass_role = allow(
        "iam:PassRole",
        "arn:aws:iam::1:role/model",
        Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    )
    role = "arn:aws:iam::1:role/model"
    to_sagemaker = (("iam:passedtoservice", "sagemaker.amazonaws.com"),)
    assert decide([doc(pass_role)], Check("iam:PassRole", role, to_sagemaker))
    to_lambda = (("iam:passedtoservice", "lambda.amazonaws.com"),)
    assert not decide([doc(pass_role)], Check("iam:PassRole", role, to_lambda))
    assert not decide([doc(pass_role)], Check("iam:PassRole", role))  # key missing

    listing = allow(
        "s3:ListBucket",
        "arn:aws:s3:::b",
        Condition={"StringLike": {"s3:prefix": ["drift/*", "baselines/*"]}},
    )
    assert decide(
        [doc(listing)], Check("s3:ListBucket", "arn:aws:s3:::b", (("s3:prefix", "drift/x"),))
    )
    assert not decide(
        [doc(listing)], Check("s3:ListBucket", "arn:aws:s3:::b", (("s3:prefix", "x"),))
    )
    if_exists = allow(
        "cloudwatch:PutMetricData",
        Condition={"StringEqualsIfExists": {"cloudwatch:namespace": "ReleaseGuard/Drift"}},
    )
    assert decide([doc(if_exists)], Check("cloudwatch:PutMetricData"))


def test_grammar_it_cannot_evaluate_is_refused_loudly() -> None:
    with pytest.raises(UnsupportedPolicy):
        decide(
            [doc(allow("s3:*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2026"}}))],
            Check("s3:GetObject", "arn:aws:s3:::b/k"),
        )


# --- the deployed stack ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    with emulated() as env:
        yield env


def denied(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_a_function_role_may_do_only_what_its_policy_says(env: Any) -> None:
    with iam.acting_as(env.role_of("CheckEndpointFunction")):
        sm = boto3.client("sagemaker")
        assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointName"] == ENDPOINT
        with pytest.raises(ClientError) as err:
            sm.update_endpoint_weights_and_capacities(
                EndpointName=ENDPOINT,
                DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredWeight": 1}],
            )
    assert denied(err) == "AccessDeniedException"
    message = err.value.response["Error"]["Message"]
    assert "CheckEndpointFunctionRole" in message
    assert "sagemaker:UpdateEndpointWeightsAndCapacities" in message and ENDPOINT in message


def test_clients_shared_between_callers_sign_for_whoever_calls(env: Any) -> None:
    sm = boto3.client("sagemaker")  # created as the admin, then used by a role
    with iam.acting_as(env.role_of("AcquireLockFunction")), pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName=ENDPOINT)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointName"] == ENDPOINT


def test_unknown_credentials_are_refused(env: Any) -> None:
    sm = boto3.client(
        "sagemaker", aws_access_key_id="AKIAEXAMPLE000000000", aws_secret_access_key="x"
    )
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName=ENDPOINT)
    assert denied(err) == "UnrecognizedClientException"


def test_an_access_denied_is_reported_as_one(env: Any) -> None:
    request = load_event("start_release", "cli-request")
    request["model_package_arn"] = env.fx.champion_package  # approved, and nothing starts
    with env.without_statement(env.role_of("StartReleaseFunction"), "EndpointConfigRead"):
        inv = env.invoke("StartReleaseFunction", request)
    assert inv.error_type == "AccessDenied", inv
    assert "sagemaker:DescribeEndpointConfig" in str(inv.error_message)
    assert env.executions() == []


def test_the_state_machine_acts_with_its_own_role(env: Any) -> None:
    machine = env.sfn.describe_state_machine(stateMachineArn=env.info.state_machine_arn)
    role = machine["roleArn"].rsplit("/", 1)[-1]
    client = boto3.client("iam")
    names = client.list_role_policies(RoleName=role)["PolicyNames"]
    saved = {
        n: client.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"] for n in names
    }
    for name in names:  # the role keeps its logging policy, loses every Lambda invoke
        body = policy_document(saved[name])
        if "lambda:InvokeFunction" in json.dumps(body):
            client.delete_role_policy(RoleName=role, PolicyName=name)
    try:
        arn = env.sfn.start_execution(
            stateMachineArn=env.info.state_machine_arn, input=json.dumps({"x": 1})
        )["executionArn"]
        desc = env.wait(arn, 60)
    finally:
        for name, body in saved.items():
            client.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=json.dumps(policy_document(body))
            )
    assert desc["status"] == "FAILED"
    history = env.sfn.get_execution_history(executionArn=arn)["events"]
    failure = json.dumps(history, default=str)
    assert f"assumed-role/{role}/" in failure
    assert "is not authorized to perform: lambda:InvokeFunction" in failure


def test_the_operator_policy_reads_and_follows_but_changes_no_endpoint(env: Any) -> None:
    with iam.acting_as(env.account.operator_role()):
        assert boto3.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
        boto3.client("stepfunctions").list_executions(stateMachineArn=env.info.state_machine_arn)
        with pytest.raises(ClientError) as err:
            boto3.client("sagemaker").update_endpoint_weights_and_capacities(
                EndpointName=ENDPOINT,
                DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredWeight": 1}],
            )
    assert denied(err) == "AccessDeniedException"


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("s3", lambda e: {"Bucket": e.info.bucket, "Key": "x"}, "AccessDenied"),
        ("sns", lambda e: {"TopicArn": e.info.topic_arn, "Message": "x"}, "AuthorizationError"),
        ("dynamodb", lambda e: {"TableName": e.info.table, "Key": {"pk": {"S": "x"}}}, None),
        ("stepfunctions", lambda e: {"stateMachineArn": e.info.state_machine_arn}, None),
        (
            "events",
            lambda e: {"Entries": [{"Source": "x", "DetailType": "y", "Detail": "{}"}]},
            None,
        ),
        ("iam", lambda e: {"RoleName": "x"}, "AccessDenied"),
    ],
)
def test_every_service_refuses_in_its_own_error_shape(
    env: Any, service: str, call: Any, code: str | None
) -> None:
    operation = {
        "s3": "get_object",
        "sns": "publish",
        "dynamodb": "get_item",
        "stepfunctions": "start_execution",
        "events": "put_events",
        "iam": "get_role",
    }[service]
    with iam.acting_as(env.role_of("CheckEndpointFunction")), pytest.raises(ClientError) as err:
        getattr(boto3.client(service), operation)(**call(env))
    assert denied(err) == (code or "AccessDeniedException")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "is not authorized to perform" in err.value.response["Error"]["Message"]
