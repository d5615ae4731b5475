"""What AWS authorises for a request: IAM action, resource ARNs and condition keys.

From the Service Authorization Reference (actions, resource types and condition keys
per service). Every operation the project, its tests or its operators call is listed;
an operation that is not listed is authorised against resource "*", so a policy that
scopes its resources does not grant it. That is strict on purpose: a new call shows up
as AccessDenied until its resources are written down here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from release_guard_cli.emulator.iam import Check

Params = dict[str, Any]
Rule = Callable[[Params, str, str], list[Check]]

# IAM's service prefix for a SigV4 signing name, where they differ.
_PREFIX = {"monitoring": "cloudwatch", "execute-api": "execute-api"}


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


# --- SageMaker ---------------------------------------------------------------------------
# SageMaker resource ARNs carry names in lower case.


def _named(service: str, kind: str, key: str, sep: str = "/", lower: bool = False) -> Rule:
    """The resource a request names by ``key``: an ARN as given, or a name made one."""

    def rule(p: Params, region: str, account: str) -> list[Check]:
        value = str(p.get(key) or "")
        value = value.lower() if lower else value
        if value.startswith("arn:"):
            return [Check("", value)]
        return [Check("", _arn(service, region, account, f"{kind}{sep}{value}"))]

    return rule


def _sm(kind: str, key: str) -> Rule:
    return _named("sagemaker", kind, key, lower=True)


def _sm_package(p: Params, region: str, account: str) -> list[Check]:
    value = str(p.get("ModelPackageName") or p.get("ModelPackageArn") or "")
    if value.startswith("arn:"):
        return [Check("", value.lower())]
    # A name without a version is a model package group (unversioned packages).
    return [Check("", _arn("sagemaker", region, account, f"model-package/{value.lower()}"))]


def _sm_create_package(p: Params, region: str, account: str) -> list[Check]:
    group = str(p.get("ModelPackageGroupName") or p.get("ModelPackageName") or "").lower()
    if group.startswith("arn:"):
        group = group.rsplit("/", 1)[-1]
    return [Check("", _arn("sagemaker", region, account, f"model-package/{group}/*"))]


def _pass_role(role: Any, service: str) -> list[Check]:
    if not role:
        return []
    return [
        Check("iam:PassRole", str(role), (("iam:passedtoservice", f"{service}.amazonaws.com"),))
    ]


def _sm_create_model(p: Params, region: str, account: str) -> list[Check]:
    return _sm("model", "ModelName")(p, region, account) + _pass_role(
        p.get("ExecutionRoleArn"), "sagemaker"
    )


def _sm_endpoint_and_config(p: Params, region: str, account: str) -> list[Check]:
    return _sm("endpoint", "EndpointName")(p, region, account) + _sm(
        "endpoint-config", "EndpointConfigName"
    )(p, region, account)


def _sm_processing(p: Params, region: str, account: str) -> list[Check]:
    return _sm("processing-job", "ProcessingJobName")(p, region, account) + _pass_role(
        p.get("RoleArn"), "sagemaker"
    )


def _sm_tags(p: Params, region: str, account: str) -> list[Check]:
    return [Check("", str(p.get("ResourceArn") or "*").lower())]


# --- the rest -----------------------------------------------------------------------------


_ddb = _named("dynamodb", "table", "TableName")


def _ddb_read(p: Params, region: str, account: str) -> list[Check]:
    """Query and Scan of an index are authorised on the index's ARN, not the table's
    (DynamoDB's IAM reference: table/<name>/index/<index>)."""
    checks = _ddb(p, region, account)
    index = p.get("IndexName")
    if index:
        checks = [Check(c.action, f"{c.resource}/index/{index}", c.context) for c in checks]
    return checks


def _ddb_many(p: Params, region: str, account: str) -> list[Check]:
    tables = set((p.get("RequestItems") or {}).keys())
    for item in p.get("TransactItems") or []:
        for op in item.values():
            tables.add(op.get("TableName", ""))
    return [Check("", _arn("dynamodb", region, account, f"table/{t}")) for t in sorted(tables)]


def _sfn(kind: str, key: str) -> Rule:
    return _named("states", kind, key, sep=":")


def _sns(p: Params, region: str, account: str) -> list[Check]:
    return [Check("", str(p.get("TopicArn") or p.get("TargetArn") or "*"))]


def _sqs(p: Params, region: str, account: str) -> list[Check]:
    url = str(p.get("QueueUrl") or "")
    parts = urlparse(url).path.strip("/").split("/")
    if len(parts) >= 2:
        return [Check("", _arn("sqs", region, parts[-2], parts[-1]))]
    return [Check("", "*")]


def _events_put(p: Params, region: str, account: str) -> list[Check]:
    buses = {str(e.get("EventBusName") or "default") for e in p.get("Entries") or []}
    out = []
    for bus in sorted(buses):
        arn = bus if bus.startswith("arn:") else _arn("events", region, account, f"event-bus/{bus}")
        out.append(Check("", arn))
    return out


def _events_rule(p: Params, region: str, account: str) -> list[Check]:
    bus = str(p.get("EventBusName") or "default")
    name = str(p.get("Name") or p.get("Rule") or "")
    path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
    return [Check("", _arn("events", region, account, path))]


def _cw_put(p: Params, region: str, account: str) -> list[Check]:
    return [Check("", "*", (("cloudwatch:namespace", str(p.get("Namespace") or "")),))]


def _logs_group(p: Params, region: str, account: str) -> list[Check]:
    return [Check("", _arn("logs", region, account, f"log-group:{p.get('logGroupName', '')}:*"))]


def _iam_role(p: Params, region: str, account: str) -> list[Check]:
    return [Check("", f"arn:aws:iam::{account}:role/{p.get('RoleName', '')}")]


def _cfn_stack(p: Params, region: str, account: str) -> list[Check]:
    name = str(p.get("StackName") or "")
    if name.startswith("arn:"):
        return [Check("", name)]
    from moto.cloudformation.models import cloudformation_backends

    stacks = cloudformation_backends[account][region].stacks.values()
    ids = [s.stack_id for s in stacks if s.name == name and s.status != "DELETE_COMPLETE"]
    return [
        Check("", ids[0] if ids else _arn("cloudformation", region, account, f"stack/{name}/*"))
    ]


_kms = _named("kms", "key", "KeyId")


def _anything(p: Params, region: str, account: str) -> list[Check]:
    return [Check("", "*")]


_SM_ENDPOINT = _sm("endpoint", "EndpointName")
_SM_CONFIG = _sm("endpoint-config", "EndpointConfigName")

RULES: dict[str, Rule] = {
    # sagemaker
    "sagemaker:DescribeEndpoint": _SM_ENDPOINT,
    "sagemaker:DeleteEndpoint": _SM_ENDPOINT,
    "sagemaker:UpdateEndpointWeightsAndCapacities": _SM_ENDPOINT,
    "sagemaker:InvokeEndpoint": _SM_ENDPOINT,
    "sagemaker:CreateEndpoint": _sm_endpoint_and_config,
    "sagemaker:UpdateEndpoint": _sm_endpoint_and_config,
    "sagemaker:CreateEndpointConfig": _SM_CONFIG,
    "sagemaker:DescribeEndpointConfig": _SM_CONFIG,
    "sagemaker:DeleteEndpointConfig": _SM_CONFIG,
    "sagemaker:CreateModel": _sm_create_model,
    "sagemaker:DescribeModel": _sm("model", "ModelName"),
    "sagemaker:DeleteModel": _sm("model", "ModelName"),
    "sagemaker:DescribeModelPackage": _sm_package,
    "sagemaker:UpdateModelPackage": _sm_package,
    "sagemaker:CreateModelPackage": _sm_create_package,
    "sagemaker:CreateModelPackageGroup": _sm("model-package-group", "ModelPackageGroupName"),
    "sagemaker:DescribeModelPackageGroup": _sm("model-package-group", "ModelPackageGroupName"),
    "sagemaker:ListModelPackages": _sm("model-package-group", "ModelPackageGroupName"),
    "sagemaker:CreateProcessingJob": _sm_processing,
    "sagemaker:DescribeProcessingJob": _sm("processing-job", "ProcessingJobName"),
    "sagemaker:StopProcessingJob": _sm("processing-job", "ProcessingJobName"),
    "sagemaker:AddTags": _sm_tags,
    "sagemaker:ListTags": _sm_tags,
    # step functions
    "states:StartExecution": _sfn("stateMachine", "stateMachineArn"),
    "states:ListExecutions": _sfn("stateMachine", "stateMachineArn"),
    "states:DescribeStateMachine": _sfn("stateMachine", "stateMachineArn"),
    "states:DescribeExecution": _sfn("execution", "executionArn"),
    "states:StopExecution": _sfn("execution", "executionArn"),
    "states:GetExecutionHistory": _sfn("execution", "executionArn"),
    # dynamodb
    **{
        f"dynamodb:{op}": _ddb
        for op in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "DescribeTable",
            "ConditionCheckItem",
        )
    },
    "dynamodb:Query": _ddb_read,
    "dynamodb:Scan": _ddb_read,
    "dynamodb:BatchGetItem": _ddb_many,
    "dynamodb:BatchWriteItem": _ddb_many,
    "dynamodb:TransactWriteItems": _ddb_many,
    "dynamodb:TransactGetItems": _ddb_many,
    # messaging, events, metrics
    "sns:Publish": _sns,
    "sns:Subscribe": _sns,
    **{
        f"sqs:{op}": _sqs
        for op in (
            "SendMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "GetQueueAttributes",
            "PurgeQueue",
            "ChangeMessageVisibility",
        )
    },
    "events:PutEvents": _events_put,
    "events:PutRule": _events_rule,
    "events:PutTargets": _events_rule,
    "events:DescribeRule": _events_rule,
    "cloudwatch:PutMetricData": _cw_put,
    "logs:CreateLogStream": _logs_group,
    "logs:PutLogEvents": _logs_group,
    "iam:GetRole": _iam_role,
    "iam:PassRole": _iam_role,
    "cloudformation:DescribeStacks": _cfn_stack,
    "cloudformation:DescribeStackResource": _cfn_stack,
    "cloudformation:DescribeStackResources": _cfn_stack,
    "cloudformation:ListStackResources": _cfn_stack,
    "kms:Decrypt": _kms,
    "kms:GenerateDataKey": _kms,
    "kms:DescribeKey": _kms,
}

# Operations whose IAM action has another name.
_ACTION_NAME = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:Invoke20150331": "lambda:InvokeFunction",
}


def _body_params(response: Any) -> Params:
    parsed = getattr(response, "params", None)
    if isinstance(parsed, dict) and parsed:
        return parsed  # moto parsed the request with botocore's model
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            body = ""
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            loaded = json.loads(body)
            if isinstance(loaded, dict):
                return loaded
        except ValueError:
            pass
    query = getattr(response, "querystring", None) or {}
    params: Params = {}
    for key, values in query.items():
        value = values[0] if isinstance(values, list) and values else values
        params[key] = value
    # Query protocol lists: Entries.member.1.EventBusName -> Entries[0]...
    entries: dict[str, dict[str, Any]] = {}
    for key, value in list(params.items()):
        parts = key.split(".")
        if len(parts) == 4 and parts[1] == "member":
            entries.setdefault(parts[0], {}).setdefault(parts[2], {})[parts[3]] = value
    for name, members in entries.items():
        params[name] = [members[i] for i in sorted(members, key=int)]
    return params


def _lambda_checks(response: Any, region: str, account: str) -> list[Check]:
    path = unquote(urlparse(str(response.uri)).path)
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "functions":
        name = parts[2]
        fn = (
            name if name.startswith("arn:") else _arn("lambda", region, account, f"function:{name}")
        )
        if parts[-1] == "invocations":
            return [Check("lambda:InvokeFunction", fn)]
        if len(parts) == 3 and response.method == "GET":
            return [Check("lambda:GetFunction", fn)]
        if parts[-1] == "event-invoke-config":
            verb = "Get" if response.method == "GET" else "Put"
            return [Check(f"lambda:{verb}FunctionEventInvokeConfig", fn)]
        return [Check(f"lambda:{response._get_action()}", fn)]
    return [Check(f"lambda:{response._get_action()}", "*")]


def checks(response: Any) -> list[Check]:
    """The authorisations AWS makes for one (non-S3) request."""
    from release_guard_cli.emulator.iam import _signing_name

    signing = _signing_name(response)
    region = str(getattr(response, "region", "") or "us-east-1")
    account = str(getattr(response, "current_account", "") or "123456789012")
    if signing == "lambda":
        return _lambda_checks(response, region, account)
    prefix = _PREFIX.get(signing, signing)
    if prefix == "sagemaker" and "/endpoints/" in str(getattr(response, "uri", "")):
        name = str(response.uri).split("/endpoints/")[1].split("/")[0]
        return [
            Check(
                "sagemaker:InvokeEndpoint",
                _SM_ENDPOINT({"EndpointName": name}, region, account)[0].resource,
            )
        ]
    action = f"{prefix}:{response._get_action()}"
    action = _ACTION_NAME.get(action, action)
    rule = RULES.get(action, _anything)
    found = rule(_body_params(response), region, account)
    return [Check(c.action or action, c.resource, c.context) for c in found] or [Check(action)]


# S3: moto names the action (data["Action"]); IAM calls some of them otherwise.
_S3_ACTION = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "HeadObject": "GetObject",
    "HeadBucket": "ListBucket",
    "ListBuckets": "ListAllMyBuckets",
    "CopyObject": "PutObject",
    "DeleteObjects": "DeleteObject",
}


def s3_checks(response: Any, bucket: str | None, key: str | None) -> list[Check]:
    name = str((getattr(response, "data", None) or {}).get("Action") or response._get_action())
    action = f"s3:{_S3_ACTION.get(name, name)}"
    if key:
        return [Check(action, f"arn:aws:s3:::{bucket}/{key}")]
    if bucket:
        query = getattr(response, "querystring", None) or {}
        prefix = query.get("prefix", [""])
        value = prefix[0] if isinstance(prefix, list) and prefix else str(prefix or "")
        return [Check(action, f"arn:aws:s3:::{bucket}", (("s3:prefix", value),))]
    return [Check(action, "*")]
