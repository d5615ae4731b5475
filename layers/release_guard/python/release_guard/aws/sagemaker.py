"""SageMaker control plane: endpoints, endpoint configs, models, model packages."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from release_guard import registry
from release_guard.aws.clients import client, code, message, raise_transient
from release_guard.events import EndpointView, VariantView


def _not_found(err: ClientError) -> bool:
    return code(err) == "ValidationException" and (
        "Could not find" in message(err) or "does not exist" in message(err)
    )


def describe_endpoint(name: str) -> EndpointView | None:
    try:
        resp = client("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError as err:
        if _not_found(err):
            return None
        raise_transient(err)
        raise
    return EndpointView(
        name=resp["EndpointName"],
        status=resp["EndpointStatus"],
        config_name=resp["EndpointConfigName"],
        failure_reason=resp.get("FailureReason"),
        variants=[
            VariantView(
                name=v["VariantName"],
                current_weight=v.get("CurrentWeight"),
                desired_weight=v.get("DesiredWeight"),
                current_instance_count=v.get("CurrentInstanceCount"),
            )
            for v in resp.get("ProductionVariants", [])
        ],
    )


def describe_endpoint_config(name: str) -> dict[str, Any]:
    try:
        return dict(client("sagemaker").describe_endpoint_config(EndpointConfigName=name))
    except ClientError as err:
        raise_transient(err)
        raise


def describe_model_package(arn: str) -> dict[str, Any] | None:
    try:
        return dict(client("sagemaker").describe_model_package(ModelPackageName=arn))
    except ClientError as err:
        if _not_found(err):
            return None
        raise_transient(err)
        raise


def create_model(name: str, container: dict[str, Any], role_arn: str, tags: dict[str, str]) -> None:
    """One ContainerDefinition (ModelPackageName, or Image and ModelDataUrl; Environment).
    Idempotent: a model left by an earlier attempt of this release is reused."""
    try:
        client("sagemaker").create_model(
            ModelName=name,
            Containers=[container],
            ExecutionRoleArn=role_arn,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
    except ClientError as err:
        if "already exist" in message(err):
            return
        raise_transient(err)
        raise


def create_endpoint_config(
    name: str, variants: list[dict[str, Any]], data_capture: dict[str, Any] | None
) -> None:
    kwargs: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": variants}
    if data_capture:
        kwargs["DataCaptureConfig"] = data_capture
    try:
        client("sagemaker").create_endpoint_config(**kwargs)
    except ClientError as err:
        if "already exist" in message(err):
            return
        raise_transient(err)
        raise


def update_endpoint(endpoint: str, config_name: str) -> None:
    try:
        client("sagemaker").update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
    except ClientError as err:
        raise_transient(err)
        raise


def update_weights(endpoint: str, weights: dict[str, float]) -> None:
    try:
        client("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[
                {"VariantName": name, "DesiredWeight": weight} for name, weight in weights.items()
            ],
        )
    except ClientError as err:
        raise_transient(err)
        raise


def record_on_package(arn: str, properties: dict[str, str]) -> None:
    """Customer metadata on the model package: the registry shows what happened. Made
    to fit SageMaker's constraints here too (release_guard.registry), so that no text
    can turn the write into a ValidationException."""
    fitted = registry.customer_metadata(properties)
    if not fitted:  # the map needs an entry: nothing to record is no call
        return
    try:
        client("sagemaker").update_model_package(
            ModelPackageArn=arn, CustomerMetadataProperties=fitted
        )
    except ClientError as err:
        raise_transient(err)
        raise


def reject_package(arn: str, reason: str, properties: dict[str, str]) -> None:
    """The registry shows why: Rejected, the reason, and where the report is (both made
    to fit SageMaker's constraints, release_guard.registry)."""
    kwargs: dict[str, Any] = {
        "ModelPackageArn": arn,
        "ModelApprovalStatus": "Rejected",
        "ApprovalDescription": registry.approval_description(reason),
    }
    fitted = registry.customer_metadata(properties)
    if fitted:
        kwargs["CustomerMetadataProperties"] = fitted
    try:
        client("sagemaker").update_model_package(**kwargs)
    except ClientError as err:
        raise_transient(err)
        raise
