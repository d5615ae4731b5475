"""The emulated account refuses what AWS refuses: botocore's pattern/length/range/enum
constraints, checked server-side (release_guard_cli.emulator.constraints)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from release_guard_cli.emulator import constraints as c

from tests.emulator.support import REGION

SESSION = botocore.session.get_session()
PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/group/1"
METADATA_VALUE = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"


def op(service: str, name: str) -> OperationModel:
    return SESSION.get_service_model(service).operation_model(name)


@pytest.fixture
def checked() -> Iterator[None]:
    """The hook installed for one test; left as found (it is process-global)."""
    was = c.installed()
    c.install()
    try:
        yield
    finally:
        c.ENABLED = True
        if not was:
            c.uninstall()


# --- violations() on real botocore models ----------------------------------------------


@pytest.mark.parametrize("bad", ["a(b", "a)b", "a;b", "50%", "a~b", "a,b", "[x]", "bad (x)"])
def test_metadata_values_outside_the_tag_charset_are_refused(bad: str) -> None:
    problems = c.violations(
        op("sagemaker", "UpdateModelPackage"),
        {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {"reason": bad}},
    )
    assert len(problems) == 1
    assert problems[0].startswith(f"Value '{{reason={bad}}}' at 'customerMetadataProperties'")
    assert "Map value must satisfy constraint: [" in problems[0]
    assert "Member must satisfy regular expression pattern: " in problems[0]


def test_metadata_of_letters_spaces_digits_and_the_allowed_marks_passes() -> None:
    value = "Gate passed: p=0.03 / n=1200 +ok -x _y @z é ü 数"
    params = {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {"reason": value}}
    assert c.violations(op("sagemaker", "UpdateModelPackage"), params) == []


def test_the_known_metadata_pattern_is_a_full_match() -> None:
    # The pattern as AWS documents it; without anchors it would still need the whole value.
    assert c.matches(METADATA_VALUE, "letters and 123 _.:/=+-@")
    assert not c.matches(METADATA_VALUE, "ok (not)")
    assert not c.matches("[a-z]+", "abc1")  # unanchored, yet the whole value must match


def test_metadata_value_over_256_chars_is_refused() -> None:
    params = {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {"r": "a" * 257}}
    problems = c.violations(op("sagemaker", "UpdateModelPackage"), params)
    assert len(problems) == 1
    assert "Member must have length less than or equal to 256" in problems[0]
    ok = {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {"r": "a" * 256}}
    assert c.violations(op("sagemaker", "UpdateModelPackage"), ok) == []


def test_metadata_keys_are_checked_once_for_all_entries() -> None:
    params = {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {"a(": "x", "b)": "y"}}
    problems = c.violations(op("sagemaker", "UpdateModelPackage"), params)
    assert len(problems) == 1
    assert (
        "at 'customerMetadataProperties' failed to satisfy constraint: Map keys must" in problems[0]
    )


def _variant(**kw: Any) -> dict[str, Any]:
    base = {"VariantName": "champion", "ModelName": "m", "InstanceType": "ml.m5.large"}
    return {**base, "InitialInstanceCount": 1, **kw}


def test_variant_name_pattern_and_instance_count_range_in_a_list() -> None:
    params = {
        "EndpointConfigName": "cfg",
        "ProductionVariants": [
            _variant(),
            _variant(VariantName="bad name", InitialInstanceCount=0),
        ],
    }
    problems = c.violations(op("sagemaker", "CreateEndpointConfig"), params)
    assert problems == [
        "Value 'bad name' at 'productionVariants.2.member.variantName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        "Value '0' at 'productionVariants.2.member.initialInstanceCount' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1",
    ]
    assert c.message(problems).startswith("2 validation errors detected: Value 'bad name'")
    assert "; Value '0'" in c.message(problems)
    assert c.message(problems[:1]).startswith("1 validation error detected: Value 'bad name'")


def test_enum_violation() -> None:
    params = {"ModelPackageArn": PACKAGE_ARN, "ModelApprovalStatus": "Maybe"}
    assert c.violations(op("sagemaker", "UpdateModelPackage"), params) == [
        "Value 'Maybe' at 'modelApprovalStatus' failed to satisfy constraint: Member must "
        "satisfy enum value set: [Approved, Rejected, PendingManualApproval]"
    ]


def test_dynamodb_table_names_too_short() -> None:
    key = [{"AttributeName": "pk", "KeyType": "HASH"}]
    create = {"TableName": "", "KeySchema": key, "AttributeDefinitions": []}
    problems = c.violations(op("dynamodb", "CreateTable"), create)
    assert problems == [
        "Value '' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    ]
    start = c.violations(op("dynamodb", "ListTables"), {"ExclusiveStartTableName": "ab"})
    assert start == [
        "Value 'ab' at 'exclusiveStartTableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3"
    ]


def test_nested_structure_list_map() -> None:
    container = {"Image": "img:1", "Environment": {"OK_NAME": "1", "1bad-name": "2"}}
    params = {
        "ModelPackageGroupName": "g",
        "InferenceSpecification": {
            "Containers": [{"Image": "img:1"}, container],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    }
    problems = c.violations(op("sagemaker", "CreateModelPackage"), params)
    assert len(problems) == 1
    assert problems[0].startswith(
        "Value '{OK_NAME=1, 1bad-name=2}' at "
        "'inferenceSpecification.containers.2.member.environment' failed to satisfy "
        "constraint: Map keys must satisfy constraint: [Member must have length less than "
        "or equal to 1024"
    )


def test_scalar_list_members_are_reported_at_the_list() -> None:
    params = {"QueueUrl": "https://q", "AttributeNames": ["All", "Bogus"]}
    problems = c.violations(op("sqs", "GetQueueAttributes"), params)
    assert len(problems) == 1
    assert problems[0].startswith(
        "Value '[All, Bogus]' at 'attributeNames' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: [All, "
    )


def test_list_and_map_sizes() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    problems = c.violations(op("sagemaker", "AddTags"), {"ResourceArn": PACKAGE_ARN, "Tags": tags})
    assert len(problems) == 1
    assert (
        "at 'tags' failed to satisfy constraint: Member must have length less than or "
        in (problems[0])
    )
    many = {f"k{i}": "v" for i in range(51)}
    params = {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": many}
    assert (
        "Member must have length less than or equal to 50"
        in c.violations(op("sagemaker", "UpdateModelPackage"), params)[0]
    )


def test_blobs_are_measured_in_bytes_and_not_echoed() -> None:
    invoke = op("sagemaker-runtime", "InvokeEndpoint")
    assert c.violations(invoke, {"EndpointName": "e", "Body": b"x" * 6291456}) == []
    assert c.violations(invoke, {"EndpointName": "e", "Body": b"x" * 6291457}) == [
        "Value at 'body' failed to satisfy constraint: "
        "Member must have length less than or equal to 6291456"
    ]


def test_streaming_blobs_timestamps_booleans_and_unknown_keys_are_not_checked() -> None:
    put = op("s3", "PutObject")
    assert c.violations(put, {"Bucket": "b", "Key": "k", "Body": b"", "Nope": "x" * 9}) == []
    alarm = op("cloudwatch", "DescribeAlarmHistory")
    assert c.violations(alarm, {"StartDate": "not a date", "ScanBy": "TimestampAscending"}) == []


def test_java_classes_keep_their_java_meaning() -> None:
    create_role = op("iam", "CreateRole")
    # Java's \w is ASCII: AWS refuses a role name with "ô"; the regex module's \w would not.
    bad = c.violations(create_role, {"RoleName": "rôle", "AssumeRolePolicyDocument": "{}"})
    assert len(bad) == 1 and "at 'roleName'" in bad[0]
    assert c.translate(r"[\w+=,.@-]+") == "[a-zA-Z0-9_+=,.@-]+"
    assert c.translate(r"\p{Print}+") == "[ -~]+"
    assert c.matches(r"[\w-_]*", "a-b_c")  # the hyphen after \w stays a literal
    # A UTF-16 surrogate pair range is the code points beyond the BMP.
    pair = "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*"
    assert c.matches(pair, "text \U0001f600 \t")
    assert not c.matches(pair, "bell \x07")


def test_every_pattern_of_the_services_compiles() -> None:
    assert c.uncompilable_patterns() == {}


def test_an_uncompilable_pattern_is_skipped_and_recorded() -> None:
    assert c.compiled("[z-a]") is None
    assert "[z-a]" in c.UNCOMPILABLE
    assert c.matches("[z-a]", "anything")


def test_a_runaway_match_counts_as_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "TIMEOUT", 0.001)
    before = c.STATS["timeouts"]
    assert c.matches("(x+x+)+y", "x" * 5000)
    assert c.STATS["timeouts"] == before + 1
    assert "(x+x+)+y" in c.TIMED_OUT


def _patterns(shape: Shape, seen: set[str]) -> set[str]:
    """Every pattern reachable from ``shape``."""
    if shape.name in seen:
        return set()
    seen.add(shape.name)
    found = {shape.metadata["pattern"]} if "pattern" in shape.metadata else set()
    children: list[Shape] = []
    if shape.type_name == "structure":
        children = list(shape.members.values())
    elif shape.type_name == "list":
        children = [shape.member]
    elif shape.type_name == "map":
        children = [shape.key, shape.value]
    for child in children:
        found |= _patterns(child, seen)
    return found


def test_a_100k_value_against_every_pattern_of_update_model_package() -> None:
    update = op("sagemaker", "UpdateModelPackage")
    patterns = _patterns(update.input_shape, set())
    assert len(patterns) > 10
    big = "ab_1 (" * 16_667  # 100k chars; the "(" makes most patterns scan, then fail
    before = c.STATS["matches"]
    results = [c.matches(p, big) for p in sorted(patterns)]
    assert len(results) == len(patterns)
    assert c.STATS["matches"] - before == len(patterns)  # every pattern ran to an answer
    strings = {
        name: big
        for name, member in update.input_shape.members.items()
        if member.type_name == "string"
    }
    problems = c.violations(update, strings)
    assert len(problems) >= len(strings)  # each breaks at least its max length


# --- hypothesis: violations() never raises ----------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _shaped(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values roughly of ``shape``, with junk of any type mixed in."""
    if depth > 3:
        return JSONISH
    kind = shape.type_name
    typed: st.SearchStrategy[Any]
    if kind == "structure":
        members = shape.members
        fields = {n: _shaped(m, depth + 1) for n, m in list(members.items())[:12]}
        typed = st.fixed_dictionaries({}, optional=fields)
    elif kind == "list":
        typed = st.lists(_shaped(shape.member, depth + 1), max_size=3)
    elif kind == "map":
        typed = st.dictionaries(st.text(max_size=10), _shaped(shape.value, depth + 1), max_size=3)
    elif kind == "string":
        enum = shape.metadata.get("enum") or ["x"]
        typed = st.text(max_size=300) | st.sampled_from(enum)
    elif kind in ("integer", "long", "float", "double"):
        typed = st.one_of(st.integers(), st.floats())
    else:
        typed = JSONISH
    return typed | JSONISH


OPERATIONS = [
    op("sagemaker", "UpdateModelPackage"),
    op("sagemaker", "CreateEndpointConfig"),
    op("dynamodb", "PutItem"),
    op("cloudwatch", "PutMetricData"),
    op("lambda", "Invoke"),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(OPERATIONS).flatmap(lambda o: st.tuples(st.just(o), _shaped(o.input_shape))))
def test_violations_never_raise(case: tuple[OperationModel, Any]) -> None:
    operation, params = case
    problems = c.violations(operation, params)
    assert isinstance(problems, list)
    assert all(isinstance(p, str) and " failed to satisfy constraint: " in p for p in problems)


# --- end to end through moto --------------------------------------------------------------


def _package(sm: Any) -> str:
    sm.create_model_package_group(ModelPackageGroupName="group")
    arn: str = sm.create_model_package(
        ModelPackageGroupName="group",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return arn


def test_update_model_package_with_bad_metadata_is_refused(aws: None, checked: None) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    arn = _package(sm)
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"r": "fine 1"})
    with pytest.raises(ClientError) as err:
        sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"r": "bad (x)"})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"].startswith(
        "1 validation error detected: Value '{r=bad (x)}' at 'customerMetadataProperties'"
    )
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["CustomerMetadataProperties"] == {"r": "fine 1"}  # unchanged


def test_disabled_lets_the_request_through(aws: None, checked: None) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    arn = _package(sm)
    with c.disabled("shows that moto itself accepts what AWS refuses"):
        sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"r": "(x)"})
    assert c.ENABLED
    with pytest.raises(ValueError), c.disabled(" "):
        pass


def _invoke(svc: str) -> Any:
    client = boto3.client(svc, region_name=REGION)
    calls = {
        "dynamodb": lambda: client.list_tables(ExclusiveStartTableName="bad name!"),
        "s3": lambda: client.list_objects_v2(Bucket="bucket", EncodingType="bogus"),
        "sns": lambda: client.create_topic(Name="t", Tags=[{"Key": "k" * 129, "Value": "v"}]),
        "events": lambda: client.put_rule(Name="bad name!", ScheduleExpression="rate(1 hour)"),
        "stepfunctions": lambda: client.list_state_machines(maxResults=5000),
        "lambda": lambda: client.get_function(FunctionName="bad name"),
        "cloudwatch": lambda: client.put_metric_data(
            Namespace="ns", MetricData=[{"MetricName": "m" * 300, "Value": 1.0}]
        ),
        "iam": lambda: client.create_role(RoleName="bad name", AssumeRolePolicyDocument="{}"),
        "sagemaker-runtime": lambda: client.invoke_endpoint(EndpointName="bad name", Body=b"{}"),
    }
    return calls[svc]()


@pytest.mark.parametrize(
    ("svc", "code"),
    [
        ("dynamodb", "ValidationException"),
        ("s3", "InvalidArgument"),
        ("sns", "InvalidParameter"),
        ("events", "ValidationException"),
        ("stepfunctions", "ValidationException"),
        ("lambda", "ValidationException"),
        ("cloudwatch", "ValidationError"),
        ("iam", "ValidationError"),
        ("sagemaker-runtime", "ValidationError"),
    ],
)
def test_each_service_answers_with_its_own_code(
    aws: None, checked: None, svc: str, code: str
) -> None:
    with pytest.raises(ClientError) as err:
        _invoke(svc)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "validation error detected: " in err.value.response["Error"]["Message"]


def test_valid_requests_pass(aws: None, checked: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bucket")
    s3.put_object(Bucket="bucket", Key="k", Body=b"x" * 1000)
    assert s3.list_objects_v2(Bucket="bucket", EncodingType="url")["KeyCount"] == 1
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_data(Namespace="ns", MetricData=[{"MetricName": "m", "Value": 1.0}])
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []


def test_install_is_idempotent_and_uninstall_restores(checked: None) -> None:
    from moto.core.responses import BaseResponse

    c.install()
    c.install()
    wrapper = BaseResponse.setup_class
    original = getattr(wrapper, "__wrapped__", None)
    assert original is not None
    assert not hasattr(original, "__wrapped__")  # wrapped once, not twice
    c.uninstall()
    assert BaseResponse.setup_class is original
    assert not c.installed()
    c.install()
    assert c.installed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_under_threaded_moto_server(monkeypatch: pytest.MonkeyPatch, checked: None) -> None:
    from moto.server import ThreadedMotoServer

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=f"http://127.0.0.1:{port}")
        with pytest.raises(ClientError) as err:
            sm.update_model_package(
                ModelPackageArn=PACKAGE_ARN, CustomerMetadataProperties={"r": "(x)"}
            )
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "at 'customerMetadataProperties'" in err.value.response["Error"]["Message"]
        assert "Endpoints" in sm.list_endpoints()  # a valid call passes
    finally:
        server.stop()
