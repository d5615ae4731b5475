"""SageMaker control plane and runtime behaviour that moto 5.2 lacks (see moto_gaps).

Beyond moto, as SageMaker documents it:

- endpoints have a lifecycle; CreateEndpoint refuses a name in use, and UpdateEndpoint,
  UpdateEndpointWeightsAndCapacities and DeleteEndpoint refuse an endpoint that is
  Creating or Updating ("Cannot update in-progress endpoint");
- DesiredInstanceCount in UpdateEndpointWeightsAndCapacities scales a variant: Desired at
  once, Current (and the model server's instance count) once InService again;
- per-instance-type quotas ("ml.g5.2xlarge for endpoint usage", ``quotas(g)``) refuse a
  CreateEndpoint, UpdateEndpoint or scale-out with ResourceLimitExceeded. An update is
  blue/green: the new config's whole fleet is provisioned next to the old one, so while
  Updating both count. Service Quotas GetServiceQuota/ListServiceQuotas show the table;
- CreateModelPackage and every UpdateModelPackage publish "SageMaker Model Package State
  Change", as SageMaker does; an update's detail names what it changed in
  UpdatedModelPackageFields (a metadata-only update sends one too).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import SagemakerClientError, ValidationError
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from release_guard_cli.emulator.moto_gaps import ORIGINAL as _ORIGINAL
from release_guard_cli.emulator.moto_gaps import Gaps, gaps

REAL_TIME_TYPES = re.compile(
    r"^ml\.(t2|t3|m4|m5|m5d|m6i|m6id|m7i|c4|c5|c5d|c6i|c6id|c7i|r5|r5d|r6i|r7i|"
    r"m6g|c6g|r6g|c7g|g4dn|g5|g6|g6e|p2|p3|p4d|p4de|p5|p5e|p5en|inf1|inf2|trn1|trn2)\."
    r"(medium|large|xlarge|[0-9]+xlarge|metal)$"
)

# Statuses in which SageMaker refuses UpdateEndpoint*, and DeleteEndpoint.
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})

# --- quotas --------------------------------------------------------------------------


class ResourceLimitExceeded(SagemakerClientError):
    code = "ResourceLimitExceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass
class Settings:
    """The emulated SageMaker's account settings, kept on the Gaps (``g.sagemaker``), so
    every emulated account starts afresh."""

    # "<instance type> for endpoint usage": the most instances of the type all endpoints
    # may use at once. A type not in the table is unlimited.
    quotas: dict[str, int] = field(default_factory=dict)


def settings(g: Gaps | None = None) -> Settings:
    g = g or gaps()
    found: Settings | None = getattr(g, "sagemaker", None)
    if found is None:
        found = Settings()
        setattr(g, "sagemaker", found)  # noqa: B010 - Gaps (moto_gaps) does not declare it
    return found


def quotas(g: Gaps | None = None) -> dict[str, int]:
    """The account's per-instance-type endpoint quotas (``settings(g).quotas``); change the
    dict in place to set, lower or raise one."""
    return settings(g).quotas


def _limit_message(instance_type: str, limit: int, used: int, delta: int) -> str:
    return (
        f"The account-level service limit '{instance_type} for endpoint usage' is {limit} "
        f"Instances, with current utilization of {used} Instances and a request delta of "
        f"{delta} Instances. Please use AWS Service Quotas to request an increase for this "
        "quota. If AWS Service Quotas is not available, contact AWS support to request an "
        "increase for this quota."
    )


def _config_fleet(production_variants: list[dict[str, Any]]) -> Counter[str]:
    """Instances by type that a config's variants start with (serverless ones: none)."""
    fleet: Counter[str] = Counter()
    for pv in production_variants:
        if pv.get("InstanceType"):
            fleet[str(pv["InstanceType"])] += int(pv.get("InitialInstanceCount") or 0)
    return fleet


def _variant_types(backend: Any, endpoint: Any) -> dict[str, str]:
    types: dict[str, str] = dict(getattr(endpoint, "rg_types", None) or {})
    config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    if config is not None:
        for pv in config.production_variants:
            if pv.get("InstanceType"):
                types[pv["VariantName"]] = str(pv["InstanceType"])
    return types


def _fleet(backend: Any, endpoint: Any) -> Counter[str]:
    """Instances by type the endpoint holds now: its variants' (the larger of Current and
    Desired while scaling), plus the new config's fleet while an update provisions it."""
    fleet: Counter[str] = Counter()
    if endpoint.endpoint_status == "Failed":
        return fleet
    types = _variant_types(backend, endpoint)
    for v in endpoint.production_variants:
        kind = types.get(v["VariantName"])
        if kind:
            current = int(v.get("CurrentInstanceCount") or 0)
            fleet[kind] += max(current, int(v.get("DesiredInstanceCount") or 0))
    pending = getattr(endpoint, "rg_pending", None)
    if pending and endpoint.endpoint_status == "Updating":
        fleet.update(pending)
    return fleet


def usage(backend: Any | None = None) -> Counter[str]:
    """Instances by type that the account's endpoints use (what the quotas limit)."""
    backend = backend or gaps().backend()
    total: Counter[str] = Counter()
    for endpoint in list(backend.endpoints.values()):
        total.update(_fleet(backend, endpoint))
    return total


def _check_quotas(backend: Any, request: Counter[str]) -> None:
    table = quotas()
    if not table:
        return
    used = usage(backend)
    for kind, delta in sorted(request.items()):
        limit = table.get(kind)
        if limit is not None and delta > 0 and used[kind] + delta > limit:
            raise ResourceLimitExceeded(_limit_message(kind, limit, used[kind], delta))


# --- control plane ---------------------------------------------------------


def _variants(production_variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ProductionVariantSummary of a new config's variants, as DescribeEndpoint shows them."""
    out = []
    for pv in production_variants:
        weight = float(pv.get("InitialVariantWeight", 1.0))
        count = pv.get("InitialInstanceCount")
        v: dict[str, Any] = {
            "VariantName": pv["VariantName"],
            "CurrentWeight": weight,
            "DesiredWeight": weight,
        }
        if count is not None:
            v["CurrentInstanceCount"] = v["DesiredInstanceCount"] = int(count)
        if pv.get("ServerlessConfig"):
            v["CurrentServerlessConfig"] = dict(pv["ServerlessConfig"])
            v["DesiredServerlessConfig"] = dict(pv["ServerlessConfig"])
        out.append(v)
    return out


def _types_of(production_variants: list[dict[str, Any]]) -> dict[str, str]:
    return {
        pv["VariantName"]: str(pv["InstanceType"])
        for pv in production_variants
        if pv.get("InstanceType")
    }


def _in_progress(endpoint: Any) -> ValidationError:
    return ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')


def _not_found(backend: Any, endpoint_name: str) -> ValidationError:
    arn = sm_models.FakeEndpoint.arn_formatter(
        endpoint_name, backend.account_id, backend.region_name
    )
    return ValidationError(message=f'Could not find endpoint "{arn}".')


def _start_servers(endpoint: Any, production_variants: list[dict[str, Any]]) -> None:
    g = gaps()
    for pv in production_variants:
        g.dataplane.start_variant(
            endpoint.endpoint_name,
            pv["VariantName"],
            g.model_environment(pv["ModelName"]),
            instances=int(pv.get("InitialInstanceCount") or 1),
        )


def _create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
    existing = self.endpoints.get(endpoint_name)
    if existing is not None:
        raise ValidationError(message=f'Cannot create already existing endpoint "{existing.arn}".')
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is not None:
        _check_quotas(self, _config_fleet(config.production_variants))
    endpoint = _ORIGINAL["create_endpoint"](self, endpoint_name, endpoint_config_name, tags)
    config = self.endpoint_configs[endpoint_config_name]
    endpoint.endpoint_status = "Creating"
    endpoint.rg_types = _types_of(config.production_variants)
    g = gaps()

    def finish() -> None:
        try:
            _start_servers(endpoint, config.production_variants)
        except Exception as err:
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = f"model container failed to start: {err}"
            return
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)

    g.later(g.timings.create, finish)
    return endpoint


def _update_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str) -> str:
    g = gaps()
    g.check_throttle("UpdateEndpoint")
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        raise _not_found(self, endpoint_name)
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is None:
        raise ValidationError(
            message=f'Could not find endpoint configuration "{endpoint_config_name}".'
        )
    if endpoint.endpoint_status != "InService":
        raise _in_progress(endpoint)
    # Blue/green: the new fleet is provisioned while the old one still serves.
    new_fleet = _config_fleet(config.production_variants)
    _check_quotas(self, new_fleet)
    endpoint.endpoint_status = "Updating"
    endpoint.failure_reason = None
    endpoint.rg_pending = new_fleet
    if endpoint_name in g.faults.stuck:
        return str(endpoint.arn)

    def finish() -> None:
        reason = g.faults.fail_next_update.pop(endpoint_name, None)
        if reason is None:
            try:
                _start_servers(endpoint, config.production_variants)
            except Exception as err:
                reason = f"model container failed to start: {err}"
        endpoint.rg_pending = None
        if reason is not None:
            # SageMaker rolls a failed update back: InService on the old config.
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = reason
            return
        old = {v["VariantName"] for v in endpoint.production_variants}
        endpoint.production_variants = _variants(config.production_variants)
        endpoint.rg_types = _types_of(config.production_variants)
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.data_capture_config = config.data_capture_config
        for gone in old - {v["VariantName"] for v in endpoint.production_variants}:
            g.dataplane.stop_variant(endpoint_name, gone)
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)

    g.later(g.timings.update, finish)
    return str(endpoint.arn)


def _update_weights(
    self: Any, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
) -> str:
    g = gaps()
    g.check_throttle("UpdateEndpointWeightsAndCapacities")
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        raise _not_found(self, endpoint_name)
    if endpoint.endpoint_status != "InService":
        raise _in_progress(endpoint)
    by_name = {v["VariantName"]: v for v in endpoint.production_variants}
    types = _variant_types(self, endpoint)
    seen: set[str] = set()
    scale_out: Counter[str] = Counter()
    for d in desired_weights_and_capacities:
        name = str(d.get("VariantName"))
        if name not in by_name:
            raise ValidationError(
                message=f'The variant name(s) "{name}" is/are not present within endpoint '
                f'configuration "{endpoint.endpoint_config_name}".'
            )
        if name in seen:
            raise ValidationError(
                message=f'The variant name "{name}" was non-unique within the request.'
            )
        seen.add(name)
        weight = d.get("DesiredWeight")
        if weight is not None and float(weight) < 0:
            raise ValidationError(message="DesiredWeight must be >= 0")
        count = d.get("DesiredInstanceCount")
        if count is not None:
            if name not in types:
                raise ValidationError(
                    message=f'Variant "{name}" is serverless and has no instance count.'
                )
            if int(count) < 1:
                # 0 is allowed by the API only for inference-component endpoints.
                raise ValidationError(
                    message=f"DesiredInstanceCount of variant {name} must be at least 1."
                )
            held = max(
                int(by_name[name].get("CurrentInstanceCount") or 0),
                int(by_name[name].get("DesiredInstanceCount") or 0),
            )
            scale_out[types[name]] += max(0, int(count) - held)
    _check_quotas(self, scale_out)
    for d in desired_weights_and_capacities:
        v = by_name[d["VariantName"]]
        if d.get("DesiredWeight") is not None:
            v["DesiredWeight"] = float(d["DesiredWeight"])
        if d.get("DesiredInstanceCount") is not None:
            v["DesiredInstanceCount"] = int(d["DesiredInstanceCount"])
    endpoint.endpoint_status = "Updating"
    if endpoint_name in g.faults.stuck:
        return str(endpoint.arn)

    def finish() -> None:
        config = self.endpoint_configs.get(endpoint.endpoint_config_name)
        variants = config.production_variants if config is not None else []
        models = {pv["VariantName"]: pv.get("ModelName") for pv in variants}
        for v in endpoint.production_variants:
            v["CurrentWeight"] = v["DesiredWeight"]
            desired = v.get("DesiredInstanceCount")
            if desired is not None and desired != v.get("CurrentInstanceCount"):
                model = models.get(v["VariantName"])
                try:
                    if model:
                        # Same container environment: the running server keeps serving
                        # and only its instance count (InvocationsPerInstance) changes.
                        g.dataplane.start_variant(
                            endpoint_name,
                            v["VariantName"],
                            g.model_environment(model),
                            instances=int(desired),
                        )
                except Exception as err:
                    # The scaling is rolled back: InService at the old count.
                    v["DesiredInstanceCount"] = v.get("CurrentInstanceCount")
                    endpoint.failure_reason = f"model container failed to start: {err}"
                    continue
                v["CurrentInstanceCount"] = desired
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)

    g.later(g.timings.weights, finish)
    return str(endpoint.arn)


def _delete_endpoint(self: Any, endpoint_name: str) -> None:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        raise _not_found(self, endpoint_name)
    if endpoint.endpoint_status in IN_PROGRESS:
        raise _in_progress(endpoint)
    _ORIGINAL["delete_endpoint"](self, endpoint_name)
    for v in endpoint.production_variants:
        gaps().dataplane.stop_variant(endpoint_name, v["VariantName"])


def _describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
    resp: dict[str, Any] = _ORIGINAL["describe_endpoint"](self, endpoint_name)
    endpoint = self.endpoints[endpoint_name]
    resp["ProductionVariants"] = [dict(v) for v in endpoint.production_variants]
    if endpoint.failure_reason:
        resp["FailureReason"] = endpoint.failure_reason
    for hidden in ("RgTypes", "RgPending"):  # our bookkeeping is not part of the response
        resp.pop(hidden, None)
    return resp


def _validate_instance_type(self: Any, instance_type: str) -> None:
    if not REAL_TIME_TYPES.match(instance_type or ""):
        raise ValidationError(
            message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint"
        )


# --- model packages ----------------------------------------------------------------------


def _create_model_package(self: Any, *args: Any, **kwargs: Any) -> str:
    arn = str(_ORIGINAL["create_model_package"](self, *args, **kwargs))
    _emit_package_event(self.model_packages[arn], updated=None)
    return arn


def _update_model_package(
    self: Any,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    customer_metadata_properties_to_remove: list[str],
    additional_inference_specifications_to_add: list[Any] | None,
) -> str:
    name = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
    package = self.model_packages.get(name)
    if package is None:
        raise ValidationError(f"Model package {model_package_arn} not found")
    updated: list[str] = []
    if model_approval_status is not None:
        package.set_model_approval_status(model_approval_status)
        updated.append("ModelApprovalStatus")
    if approval_description is not None:
        package.approval_description = approval_description
        updated.append("ApprovalDescription")
    if customer_metadata_properties:
        merged = dict(package.customer_metadata_properties or {})
        merged.update(customer_metadata_properties)
        package.customer_metadata_properties = merged
    if customer_metadata_properties_to_remove:
        package.customer_metadata_properties = dict(package.customer_metadata_properties or {})
        package.remove_customer_metadata_property(customer_metadata_properties_to_remove)
    if customer_metadata_properties or customer_metadata_properties_to_remove:
        updated.append("CustomerMetadataProperties")
    if additional_inference_specifications_to_add:
        package.add_additional_inference_specifications(additional_inference_specifications_to_add)
        updated.append("AdditionalInferenceSpecifications")
    package.modifications_done()
    _emit_package_event(package, updated=updated)
    return str(package.arn)


def _epoch_ms(value: Any) -> Any:
    """Epoch milliseconds, as SageMaker's events carry times (moto keeps naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return value


_DETAIL_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageName",
    "ModelPackageDescription",
    "CreationTime",
    "InferenceSpecification",
    "SourceAlgorithmSpecification",
    "ValidationSpecification",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "CertifyForMarketplace",
    "ModelApprovalStatus",
    "ApprovalDescription",
    "CreatedBy",
    "MetadataProperties",
    "ModelMetrics",
    "CustomerMetadataProperties",
    "DriftCheckBaselines",
    "Domain",
    "Task",
    "SamplePayloadUrl",
    "AdditionalInferenceSpecifications",
    "UpdatedModelPackageFields",
    "LastModifiedTime",
    "LastModifiedBy",
)


def package_event_detail(package: Any, updated: list[str] | None) -> dict[str, Any]:
    """The ``detail`` of "SageMaker Model Package State Change": the package as
    DescribeModelPackage shows it, times in epoch milliseconds, and on an update the
    names of the fields it changed."""
    described: dict[str, Any] = package.gen_response_object()
    described["ModelPackageArn"] = package.arn
    described["ModelPackageName"] = package.model_package_name
    described["CreationTime"] = _epoch_ms(package.creation_time)
    # A new package's LastModifiedTime is its CreationTime (DescribeModelPackage).
    described["LastModifiedTime"] = _epoch_ms(package.last_modified_time or package.creation_time)
    described.pop("LastModifiedBy", None)
    if package.last_modified_by:
        described["LastModifiedBy"] = package.last_modified_by
    if updated is not None:
        described["UpdatedModelPackageFields"] = list(updated)
    return {
        key: described[key]
        for key in _DETAIL_FIELDS
        if described.get(key) is not None and described.get(key) != {}
    }


def _emit_package_event(package: Any, updated: list[str] | None) -> None:
    """SageMaker publishes every creation and update of a package to the default bus
    (and may publish one more than once; the emulator publishes it once)."""
    g = gaps()
    from moto.events.models import events_backends

    events_backends[g.account_id][g.region].put_events(
        [
            {
                "Source": "aws.sagemaker",
                "DetailType": "SageMaker Model Package State Change",
                "Detail": json.dumps(package_event_detail(package, updated), default=str),
                "Resources": [package.arn],
                "EventBusName": "default",
            }
        ]
    )


# --- Service Quotas ------------------------------------------------------------------

# Quota codes of "<type> for endpoint usage" as ListServiceQuotas reported them in one
# account (us-east-1); any other type gets a made-up code of the same form.
_KNOWN_QUOTA_CODES = {
    "ml.g5.xlarge": "L-1928E07B",
    "ml.g5.2xlarge": "L-9614C779",
    "ml.g5.4xlarge": "L-C1B9A48D",
    "ml.g5.12xlarge": "L-65C4BD00",
    "ml.g6.xlarge": "L-D470D954",
    "ml.g6.2xlarge": "L-98BDE811",
    "ml.g6.4xlarge": "L-DFB10FDE",
    "ml.g6.12xlarge": "L-0A29AACF",
    "ml.g6e.xlarge": "L-B0729CB4",
    "ml.g6e.2xlarge": "L-F8D7F460",
    "ml.p4d.24xlarge": "L-09F79647",
    "ml.p5.48xlarge": "L-16AF71F1",
}


def quota_code(instance_type: str) -> str:
    known = _KNOWN_QUOTA_CODES.get(instance_type)
    if known:
        return known
    digest = hashlib.sha1(f"{instance_type} for endpoint usage".encode()).hexdigest()
    return f"L-{digest[:8].upper()}"


def _service_quotas(account_id: str, region: str) -> list[dict[str, Any]]:
    from release_guard_cli.emulator import moto_gaps

    g = moto_gaps.GAPS
    if g is None or (g.account_id, g.region) != (account_id, region):
        return []
    return [
        {
            "ServiceCode": "sagemaker",
            "ServiceName": "Amazon SageMaker",
            "QuotaArn": f"arn:aws:servicequotas:{region}:{account_id}:sagemaker/{quota_code(kind)}",
            "QuotaCode": quota_code(kind),
            "QuotaName": f"{kind} for endpoint usage",
            "Value": float(limit),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }
        for kind, limit in sorted(quotas(g).items())
    ]


def _install_service_quotas() -> None:
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.responses import ServiceQuotasResponse

    original_get = ServiceQuotasBackend.get_service_quota

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code != "sagemaker":
            return original_get(self, service_code, quota_code)
        for quota in _service_quotas(self.account_id, self.region_name):
            if quota["QuotaCode"] == quota_code:
                return quota
        raise NoSuchResource

    def list_service_quotas(self: Any) -> str:
        params = json.loads(self.body or "{}")
        if params.get("ServiceCode") != "sagemaker":
            raise NoSuchResource
        return json.dumps({"Quotas": _service_quotas(self.current_account, self.region)})

    ServiceQuotasBackend.get_service_quota = get_service_quota  # type: ignore[method-assign]
    ServiceQuotasResponse.list_service_quotas = list_service_quotas  # type: ignore[attr-defined]


# --- SageMaker runtime -----------------------------------------------------------------


def _runtime_error(status: int, code: str, body: dict[str, Any]) -> tuple[int, dict, str]:
    # moto takes the HTTP status from headers["status"], not from the tuple.
    headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json", "status": str(status)}
    return status, headers, json.dumps(body)


def _invoke_endpoint(self: Any) -> tuple[int, dict[str, str], bytes | str]:
    g = gaps()
    name = self.uri.split("/endpoints/")[1].split("/")[0]
    endpoint = g.backend().endpoints.get(name)
    if endpoint is None:
        return _runtime_error(
            400,
            "ValidationError",
            {"message": f"Endpoint {name} of account {g.account_id} not found."},
        )
    if endpoint.endpoint_status not in ("InService", "Updating"):
        return _runtime_error(
            400,
            "ValidationError",
            {"message": f"Endpoint {name} is {endpoint.endpoint_status} and cannot serve."},
        )
    headers = {k.lower(): v for k, v in self.headers.items()}
    body = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
    weights = {
        v["VariantName"]: float(v.get("CurrentWeight", 0)) for v in endpoint.production_variants
    }
    try:
        result = g.dataplane.invoke(
            name,
            weights,
            body,
            headers.get("content-type", "application/octet-stream"),
            headers.get("accept"),
            headers.get("x-amzn-sagemaker-target-variant"),
            endpoint.data_capture_config,
            headers.get("x-amzn-sagemaker-inference-id"),
        )
    except ValueError as err:
        return _runtime_error(400, "ValidationError", {"message": str(err)})
    out_headers = {
        "Content-Type": result.content_type,
        "x-Amzn-Invoked-Production-Variant": result.variant,
    }
    if result.status >= 400:
        text = result.body.decode(errors="replace")[:1000]
        return _runtime_error(
            424,
            "ModelError",
            {
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if result.status < 500 else "MODEL_ERROR",
                "OriginalStatusCode": result.status,
                "OriginalMessage": text,
                "LogStreamArn": f"arn:aws:logs:{g.region}:{g.account_id}:log-group:"
                f"/aws/sagemaker/Endpoints/{name}",
                "message": f"Received server error ({result.status}) from {result.variant} "
                f'with message "{text}".',
            },
        )
    return 200, out_headers, result.body


# --- install ---


def install() -> None:
    backend_cls = sm_models.SageMakerModelBackend
    _ORIGINAL["create_endpoint"] = backend_cls.create_endpoint
    _ORIGINAL["delete_endpoint"] = backend_cls.delete_endpoint
    _ORIGINAL["describe_endpoint"] = backend_cls.describe_endpoint
    _ORIGINAL["create_model_package"] = backend_cls.create_model_package
    backend_cls.create_endpoint = _create_endpoint  # type: ignore[method-assign]
    backend_cls.delete_endpoint = _delete_endpoint  # type: ignore[method-assign]
    backend_cls.describe_endpoint = _describe_endpoint  # type: ignore[method-assign]
    backend_cls.update_endpoint = _update_endpoint  # type: ignore[attr-defined]
    backend_cls.update_endpoint_weights_and_capacities = _update_weights  # type: ignore[method-assign]
    backend_cls.create_model_package = _create_model_package  # type: ignore[method-assign]
    backend_cls.update_model_package = _update_model_package  # type: ignore[method-assign]
    sm_models.FakeEndpoint._process_production_variants = (  # type: ignore[method-assign]
        lambda self, production_variants: _variants(production_variants)
    )
    sm_models.FakeEndpointConfig.validate_instance_type = _validate_instance_type  # type: ignore[method-assign]

    def update_endpoint_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        arn = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        )
        return ActionResult({"EndpointArn": arn})

    SageMakerResponse.update_endpoint = update_endpoint_response  # type: ignore[attr-defined]
    SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint  # type: ignore[method-assign]
    _install_service_quotas()
