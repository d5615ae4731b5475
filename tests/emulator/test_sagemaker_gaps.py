"""The emulated SageMaker control plane where moto falls short: model package events,
endpoint lifecycle refusals, instance counts and per-instance-type quotas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from release_guard_cli.emulator import sagemaker_gaps
from release_guard_cli.emulator.account import EmulatedAccount

from tests.emulator.support import FAST, until

ROOT = Path(__file__).resolve().parents[2]
GROUP = "gaps-models"
TYPE = "ml.g5.2xlarge"


@pytest.fixture
def account(tmp_path: Path) -> Iterator[EmulatedAccount]:
    with EmulatedAccount(ROOT, tmp_path / "emulator") as acc:
        acc.gaps.timings.create = 0.1
        acc.gaps.timings.update = 0.3
        acc.gaps.timings.weights = 0.1
        yield acc


@pytest.fixture
def sm(account: EmulatedAccount) -> Any:
    return boto3.client("sagemaker")


def in_service(sm: Any, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        desc = sm.describe_endpoint(EndpointName=name)
        assert desc["EndpointStatus"] != "Failed", desc
        return dict(desc) if desc["EndpointStatus"] == "InService" else None

    return until(probe, f"{name} InService")


def config(sm: Any, account: EmulatedAccount, name: str, variants: dict[str, int]) -> str:
    """An endpoint config with one variant per entry (name -> instance count)."""
    package = account.register_package(GROUP, FAST, approved=True)
    production = []
    for variant, count in variants.items():
        model = f"{name}-{variant}"
        try:
            sm.create_model(
                ModelName=model,
                Containers=[{"ModelPackageName": package}],
                ExecutionRoleArn=account.role_arn,
            )
        except ClientError:
            pass  # a model of an earlier config
        production.append(
            {
                "VariantName": variant,
                "ModelName": model,
                "InstanceType": TYPE,
                "InitialInstanceCount": count,
                "InitialVariantWeight": 1.0,
            }
        )
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=production)
    return name


def endpoint(sm: Any, account: EmulatedAccount, name: str, instances: int = 1) -> str:
    sm.create_endpoint(
        EndpointName=name,
        EndpointConfigName=config(sm, account, f"{name}-a", {"champion": instances}),
    )
    in_service(sm, name)
    return name


def limit_error(err: pytest.ExceptionInfo[ClientError], limit: int, used: int, delta: int) -> None:
    assert err.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert err.value.response["Error"]["Message"] == (
        f"The account-level service limit '{TYPE} for endpoint usage' is {limit} Instances, "
        f"with current utilization of {used} Instances and a request delta of {delta} "
        "Instances. Please use AWS Service Quotas to request an increase for this quota. "
        "If AWS Service Quotas is not available, contact AWS support to request an increase "
        "for this quota."
    )


# -- model package events ------------------------------------------------------------------


class PackageEvents:
    """An EventBridge rule on the default bus delivering package changes to SQS."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="package-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = boto3.client("events")
        events.put_rule(
            Name="package-changes",
            EventPattern=json.dumps(
                {
                    "source": ["aws.sagemaker"],
                    "detail-type": ["SageMaker Model Package State Change"],
                }
            ),
        )
        events.put_targets(Rule="package-changes", Targets=[{"Id": "q", "Arn": queue_arn}])
        self.received: list[dict[str, Any]] = []

    def read(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` events delivered (waiting for them)."""

        def probe() -> list[dict[str, Any]] | None:
            resp = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            for m in resp.get("Messages", []):
                self.received.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
            return self.received[:n] if len(self.received) >= n else None

        return until(probe, f"{n} package events")


def test_package_events_on_create_and_every_update(account: EmulatedAccount, sm: Any) -> None:
    events = PackageEvents()
    read = events.read

    arn = account.register_package(GROUP, FAST, approved=False)
    created = read(1)[0]
    assert created["source"] == "aws.sagemaker"
    assert created["detail-type"] == "SageMaker Model Package State Change"
    assert created["resources"] == [arn]
    detail = created["detail"]
    assert "UpdatedModelPackageFields" not in detail
    assert detail["ModelPackageGroupName"] == GROUP
    assert detail["ModelPackageVersion"] == 1
    assert detail["ModelPackageArn"] == arn
    assert detail["ModelPackageName"] == GROUP
    assert detail["ModelPackageStatus"] == "Completed"
    assert detail["ModelApprovalStatus"] == "PendingManualApproval"
    assert isinstance(detail["CreationTime"], int)  # epoch milliseconds
    assert detail["LastModifiedTime"] == detail["CreationTime"]
    assert detail["InferenceSpecification"]["Containers"][0]["Environment"] == FAST

    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"a": "1"})
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"b": "2"})
    approval, stamp, stamp2 = (e["detail"] for e in read(4)[1:])

    # An approval and a metadata-only stamp are told apart by what they changed.
    assert approval["UpdatedModelPackageFields"] == ["ModelApprovalStatus"]
    assert approval["ModelApprovalStatus"] == "Approved"
    assert approval["LastModifiedTime"] >= detail["CreationTime"]
    assert "CustomerMetadataProperties" not in approval
    assert stamp["UpdatedModelPackageFields"] == ["CustomerMetadataProperties"]
    assert stamp["ModelApprovalStatus"] == "Approved"
    assert stamp["CustomerMetadataProperties"] == {"a": "1"}
    assert stamp["LastModifiedTime"] >= approval["LastModifiedTime"]
    assert stamp2["CustomerMetadataProperties"] == {"a": "1", "b": "2"}  # merged
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["CustomerMetadataProperties"] == {"a": "1", "b": "2"}
    assert described["ModelApprovalStatus"] == "Approved"


def test_create_refuses_an_existing_name_and_delete_an_endpoint_in_progress(
    account: EmulatedAccount, sm: Any
) -> None:
    name = endpoint(sm, account, "ep")
    arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(EndpointName=name, EndpointConfigName="ep-a")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == (
        f'Cannot create already existing endpoint "{arn}".'
    )

    sm.update_endpoint(EndpointName=name, EndpointConfigName=config(sm, account, "ep-b", {"v2": 1}))
    with pytest.raises(ClientError) as err:
        sm.delete_endpoint(EndpointName=name)
    assert err.value.response["Error"]["Message"] == f'Cannot update in-progress endpoint "{arn}".'
    in_service(sm, name)
    sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName=name)
    assert account.dataplane.running(name) == []


# -- instance counts --------------------------------------------------------------------------


def test_a_capacity_change_sets_desired_now_and_current_once_in_service(
    account: EmulatedAccount, sm: Any
) -> None:
    name = endpoint(sm, account, "ep")
    account.gaps.timings.weights = 5.0  # long enough to look at the endpoint mid-change
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredInstanceCount": 3}],
    )
    desc = sm.describe_endpoint(EndpointName=name)
    assert desc["EndpointStatus"] == "Updating"
    assert set(desc) - {"ResponseMetadata"} <= {
        "EndpointName",
        "EndpointArn",
        "EndpointConfigName",
        "ProductionVariants",
        "DataCaptureConfig",
        "EndpointStatus",
        "FailureReason",
        "CreationTime",
        "LastModifiedTime",
    }
    (variant,) = desc["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 3)
    assert set(variant) == {
        "VariantName",
        "CurrentWeight",
        "DesiredWeight",
        "CurrentInstanceCount",
        "DesiredInstanceCount",
    }
    account.gaps.timings.weights = 0.1

    (variant,) = in_service(sm, name)["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (3, 3)
    assert account.dataplane._variants[name]["champion"].instances == 3
    assert account.dataplane.running(name) == ["champion"]

    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredInstanceCount": 1}],
    )
    variant = until(
        lambda: next(
            (
                v
                for v in in_service(sm, name)["ProductionVariants"]
                if v["CurrentInstanceCount"] == 1
            ),
            None,
        ),
        "the scale-in",
    )
    assert variant["DesiredInstanceCount"] == 1
    assert account.dataplane._variants[name]["champion"].instances == 1


# -- quotas ------------------------------------------------------------------------------------


def test_create_beyond_the_quota_is_refused_and_a_delete_frees_it(
    account: EmulatedAccount, sm: Any
) -> None:
    sagemaker_gaps.quotas(account.gaps)[TYPE] = 2
    first = endpoint(sm, account, "first", instances=2)
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(
            EndpointName="second", EndpointConfigName=config(sm, account, "second-a", {"v": 1})
        )
    limit_error(err, limit=2, used=2, delta=1)
    assert "second" not in account.gaps.backend().endpoints

    sm.delete_endpoint(EndpointName=first)
    sm.create_endpoint(EndpointName="second", EndpointConfigName="second-a")
    in_service(sm, "second")


def test_an_update_needs_room_for_the_new_fleet_next_to_the_old(
    account: EmulatedAccount, sm: Any
) -> None:
    quotas = sagemaker_gaps.quotas(account.gaps)
    quotas[TYPE] = 2
    name = endpoint(sm, account, "ep")
    canary = config(sm, account, "ep-canary", {"champion": 1, "candidate": 1})
    with pytest.raises(ClientError) as err:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=canary)
    limit_error(err, limit=2, used=1, delta=2)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"

    quotas[TYPE] = 3  # 2N+1 for a one-instance champion
    account.gaps.timings.update = 5.0  # the new fleet provisions for a while
    sm.update_endpoint(EndpointName=name, EndpointConfigName=canary)
    assert sagemaker_gaps.usage()[TYPE] == 3
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(
            EndpointName="other", EndpointConfigName=config(sm, account, "other-a", {"v": 1})
        )
    limit_error(err, limit=3, used=3, delta=1)

    # Once the update completes the old fleet is gone and the new one counts alone.
    in_service(sm, name)
    assert sagemaker_gaps.usage()[TYPE] == 2
    sm.create_endpoint(EndpointName="other", EndpointConfigName="other-a")
    in_service(sm, "other")
    assert sagemaker_gaps.usage()[TYPE] == 3


def test_a_scale_out_beyond_the_quota_is_refused(account: EmulatedAccount, sm: Any) -> None:
    sagemaker_gaps.quotas(account.gaps)[TYPE] = 2
    name = endpoint(sm, account, "ep")
    with pytest.raises(ClientError) as err:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredInstanceCount": 3}],
        )
    limit_error(err, limit=2, used=1, delta=2)
    (variant,) = sm.describe_endpoint(EndpointName=name)["ProductionVariants"]
    assert variant["DesiredInstanceCount"] == 1

    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredInstanceCount": 2}],
    )
    variant = until(
        lambda: next(
            (
                v
                for v in in_service(sm, name)["ProductionVariants"]
                if v["CurrentInstanceCount"] == 2
            ),
            None,
        ),
        "the scale-out",
    )
    assert variant["DesiredInstanceCount"] == 2
    assert sagemaker_gaps.usage()[TYPE] == 2


def test_service_quotas_shows_the_endpoint_usage_quotas(account: EmulatedAccount) -> None:
    sagemaker_gaps.quotas(account.gaps).update({TYPE: 4, "ml.g5.xlarge": 2})
    sq = boto3.client("service-quotas")
    quota = sq.get_service_quota(ServiceCode="sagemaker", QuotaCode="L-9614C779")["Quota"]
    assert (quota["QuotaName"], quota["Value"]) == (f"{TYPE} for endpoint usage", 4.0)
    listed = sq.list_service_quotas(ServiceCode="sagemaker")["Quotas"]
    assert {q["QuotaName"]: q["Value"] for q in listed} == {
        "ml.g5.2xlarge for endpoint usage": 4.0,
        "ml.g5.xlarge for endpoint usage": 2.0,
    }
    with pytest.raises(ClientError):
        sq.get_service_quota(ServiceCode="sagemaker", QuotaCode="L-00000000")
