"""Everything moto 5.2 lacks that release-guard relies on, filled in one place.

Handlers and adapters never know they run against this: they make the same boto3
calls as in AWS. What is emulated here, and why:

- SageMaker endpoints have a lifecycle (Creating/Updating -> InService, Failed) and
  refuse updates while one is in progress ("Cannot update in-progress endpoint");
  moto makes every change instant and has no UpdateEndpoint at all.
- Real-time GPU instance types (ml.g5, ml.g6, ml.p4d ...) are accepted.
- A weight of 0 is kept (moto drops falsy weights) and the default weight is 1.0.
- UpdateModelPackage changes only the fields given and merges metadata (moto
  overwrites); an approval-status change is published to EventBridge as
  "SageMaker Model Package State Change", as SageMaker does.
- InvokeEndpoint is routed to per-variant model server processes by weight and
  TargetVariant (see dataplane.py), with SageMaker's ModelError on a container 5XX.
- Lambda invokes run the real handler in-process instead of in Docker.
- EventBridge delivers to Lambda targets through that dispatcher.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError
from moto.sagemaker import models as sm_models
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

REAL_TIME_TYPES = re.compile(
    r"^ml\.(t2|t3|m4|m5|m5d|m6i|m6id|m7i|c4|c5|c5d|c6i|c6id|c7i|r5|r5d|r6i|r7i|"
    r"m6g|c6g|r6g|c7g|g4dn|g5|g6|g6e|p2|p3|p4d|p4de|p5|p5e|p5en|inf1|inf2|trn1|trn2)\."
    r"(medium|large|xlarge|[0-9]+xlarge|metal)$"
)


@dataclass
class Timings:
    """Seconds an endpoint spends in each transition (AWS: minutes)."""

    create: float = 1.0
    update: float = 1.5
    weights: float = 0.3


@dataclass
class Faults:
    """Faults tests and the demo inject into the emulated SageMaker."""

    fail_next_update: dict[str, str] = field(default_factory=dict)  # endpoint -> reason
    stuck: set[str] = field(default_factory=set)  # endpoints that stay Updating
    throttle: dict[str, int] = field(default_factory=dict)  # operation -> calls to throttle


class Throttled(JsonRESTError):
    code = 400

    def __init__(self, operation: str) -> None:
        super().__init__("ThrottlingException", f"Rate exceeded for {operation}")


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline: float = field(default_factory=lambda: time.time() + 60)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


class Gaps:
    """State of the emulated services beyond moto's: timings, faults, data plane."""

    def __init__(self, account_id: str, region: str, dataplane: Any, log: Path) -> None:
        self.account_id = account_id
        self.region = region
        self.dataplane = dataplane
        self.timings = Timings()
        self.faults = Faults()
        self.functions: dict[str, Path] = {}
        self.log = log
        self._modules: dict[str, ModuleType] = {}
        self._invoke_lock = threading.RLock()
        self._timers: list[threading.Timer] = []
        self.on_invoke: list[Callable[[str, dict[str, Any], Any], None]] = []

    # --- helpers ---------------------------------------------------------------------

    def backend(self) -> Any:
        return sm_models.sagemaker_backends[self.account_id][self.region]

    def later(self, seconds: float, fn: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        self.dataplane.stop_all()

    def check_throttle(self, operation: str) -> None:
        left = self.faults.throttle.get(operation, 0)
        if left > 0:
            self.faults.throttle[operation] = left - 1
            raise Throttled(operation)

    def model_environment(self, model_name: str) -> dict[str, str]:
        """A variant's container environment, following a ModelPackageName container."""
        backend = self.backend()
        model = backend._models.get(model_name)
        if model is None:
            return {}
        containers = list(getattr(model, "containers", None) or [])
        primary = getattr(model, "primary_container", None)
        if primary:
            containers.insert(0, primary)
        env: dict[str, str] = {}
        for c in containers:
            package_ref = c.get("ModelPackageName")
            if package_ref:
                name = backend.model_package_name_mapping.get(package_ref, package_ref)
                package = backend.model_packages.get(name)
                spec = getattr(package, "inference_specification", None) or {}
                for pc in spec.get("Containers", []):
                    env.update(pc.get("Environment") or {})
            env.update(c.get("Environment") or {})
        return env


GAPS: Gaps | None = None


def gaps() -> Gaps:
    if GAPS is None:
        raise RuntimeError("the emulator is not running")
    return GAPS


# --- SageMaker control plane ---------------------------------------------------------


def _variants(production_variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
            v["CurrentInstanceCount"] = v["DesiredInstanceCount"] = count
        out.append(v)
    return out


def _in_progress(endpoint: Any) -> ValidationError:
    return ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')


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
    endpoint = _ORIGINAL["create_endpoint"](self, endpoint_name, endpoint_config_name, tags)
    config = self.endpoint_configs[endpoint_config_name]
    endpoint.endpoint_status = "Creating"
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
        raise ValidationError(message=f'Could not find endpoint "{endpoint_name}".')
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is None:
        raise ValidationError(
            message=f'Could not find endpoint configuration "{endpoint_config_name}".'
        )
    if endpoint.endpoint_status != "InService":
        raise _in_progress(endpoint)
    endpoint.endpoint_status = "Updating"
    endpoint.failure_reason = None
    if endpoint_name in g.faults.stuck:
        return str(endpoint.arn)

    def finish() -> None:
        reason = g.faults.fail_next_update.pop(endpoint_name, None)
        if reason is None:
            try:
                _start_servers(endpoint, config.production_variants)
            except Exception as err:
                reason = f"model container failed to start: {err}"
        if reason is not None:
            # SageMaker rolls a failed update back: InService on the old config.
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = reason
            return
        old = {v["VariantName"] for v in endpoint.production_variants}
        endpoint.production_variants = _variants(config.production_variants)
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
        raise ValidationError(message=f'Could not find endpoint "{endpoint_name}".')
    if endpoint.endpoint_status != "InService":
        raise _in_progress(endpoint)
    names = {v["VariantName"] for v in endpoint.production_variants}
    seen: set[str] = set()
    for d in desired_weights_and_capacities:
        name = str(d.get("VariantName"))
        if name not in names:
            raise ValidationError(message=f'The variant name(s) "{name}" is/are not present')
        if name in seen:
            raise ValidationError(message=f'The variant name "{name}" was non-unique')
        seen.add(name)
        weight = d.get("DesiredWeight")
        if weight is not None and float(weight) < 0:
            raise ValidationError(message="DesiredWeight must be >= 0")
    by_name = {v["VariantName"]: v for v in endpoint.production_variants}
    for d in desired_weights_and_capacities:
        if d.get("DesiredWeight") is not None:
            by_name[d["VariantName"]]["DesiredWeight"] = float(d["DesiredWeight"])
    endpoint.endpoint_status = "Updating"
    if endpoint_name in g.faults.stuck:
        return str(endpoint.arn)

    def finish() -> None:
        for v in endpoint.production_variants:
            v["CurrentWeight"] = v["DesiredWeight"]
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)

    g.later(g.timings.weights, finish)
    return str(endpoint.arn)


def _delete_endpoint(self: Any, endpoint_name: str) -> None:
    endpoint = self.endpoints.get(endpoint_name)
    _ORIGINAL["delete_endpoint"](self, endpoint_name)
    if endpoint is not None:
        for v in endpoint.production_variants:
            gaps().dataplane.stop_variant(endpoint_name, v["VariantName"])


def _describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
    resp: dict[str, Any] = _ORIGINAL["describe_endpoint"](self, endpoint_name)
    endpoint = self.endpoints[endpoint_name]
    resp["ProductionVariants"] = [dict(v) for v in endpoint.production_variants]
    if endpoint.failure_reason:
        resp["FailureReason"] = endpoint.failure_reason
    return resp


def _validate_instance_type(self: Any, instance_type: str) -> None:
    if not REAL_TIME_TYPES.match(instance_type or ""):
        raise ValidationError(
            message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint"
        )


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
    before = package.model_approval_status
    if model_approval_status is not None:
        package.set_model_approval_status(model_approval_status)
    if approval_description is not None:
        package.approval_description = approval_description
    if customer_metadata_properties:
        merged = dict(package.customer_metadata_properties or {})
        merged.update(customer_metadata_properties)
        package.customer_metadata_properties = merged
    if customer_metadata_properties_to_remove:
        package.remove_customer_metadata_property(customer_metadata_properties_to_remove)
    if additional_inference_specifications_to_add:
        package.add_additional_inference_specifications(additional_inference_specifications_to_add)
    package.modifications_done()
    if model_approval_status is not None and model_approval_status != before:
        _emit_package_event(package)
    return str(package.arn)


def _emit_package_event(package: Any) -> None:
    """SageMaker publishes approval changes to the default bus (maybe more than once)."""
    g = gaps()
    modified = package.last_modified_time or datetime.now(UTC)
    if isinstance(modified, str):
        modified = datetime.fromisoformat(modified)
    detail = {
        "ModelPackageGroupName": package.model_package_group_name,
        "ModelPackageVersion": package.model_package_version,
        "ModelPackageArn": package.arn,
        "ModelPackageName": package.model_package_name,
        "CreationTime": int(package.creation_time.timestamp() * 1000)
        if hasattr(package.creation_time, "timestamp")
        else package.creation_time,
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": package.model_approval_status,
        "LastModifiedTime": int(modified.timestamp() * 1000),
    }
    from moto.events.models import events_backends

    events_backends[g.account_id][g.region].put_events(
        [
            {
                "Source": "aws.sagemaker",
                "DetailType": "SageMaker Model Package State Change",
                "Detail": json.dumps(detail),
                "Resources": [package.arn],
                "EventBusName": "default",
            }
        ]
    )


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


# --- Lambda ----------------------------------------------------------------------------


def _load(g: Gaps, function_name: str, code: Path) -> ModuleType:
    module = g._modules.get(function_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(f"rg_fn_{code.name}", code / "app.py")
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {code}/app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        g._modules[function_name] = module
    return module


def run_handler(fn: Any, event: Any) -> tuple[str, bool, str]:
    """Run one function's real handler in-process with its own environment."""
    g = gaps()
    code = g.functions.get(fn.function_name)
    if code is None:
        return (
            json.dumps(
                {"errorMessage": f"no code for {fn.function_name}", "errorType": "EmulatorError"}
            ),
            True,
            "",
        )
    payload = json.loads(event) if isinstance(event, (str, bytes)) else (event or {})
    with g._invoke_lock:
        saved = dict(os.environ)
        os.environ.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = fn.function_name
        from release_guard import settings as settings_module

        # Each function is its own process in AWS: its own settings, read from its env.
        settings_module.settings.cache_clear()
        context = LambdaContext(
            function_name=fn.function_name,
            invoked_function_arn=fn.function_arn,
            deadline=time.time() + float(fn.timeout or 60),
        )
        try:
            with _ROUTER.handler_output():
                module = _load(g, fn.function_name, code)
                result = module.handler(payload, context)
            for hook in g.on_invoke:
                hook(fn.function_name, payload, result)
            return json.dumps(result, default=str), False, ""
        except Exception as err:
            for hook in g.on_invoke:
                hook(fn.function_name, payload, err)
            body = {
                "errorMessage": str(err),
                "errorType": type(err).__name__,
                "stackTrace": traceback.format_tb(err.__traceback__),
            }
            return json.dumps(body), True, ""
        finally:
            os.environ.clear()
            os.environ.update(saved)


class _StdoutRouter:
    """Handler output (Powertools JSON logs, EMF) goes to the emulator's log file;
    everything else on stdout (the CLI's own output) is untouched. Routing is per
    thread because handlers run on Step Functions' threads beside the CLI."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.console: Any = sys.stdout
        self.file: Any = None

    def attach(self, log: Path) -> None:
        if self.file is None:
            self.file = open(log, "a", buffering=1)  # noqa: SIM115 - lives with the process
            self.console = sys.stdout
            sys.stdout = self

    def _target(self) -> Any:
        return self.file if getattr(self.local, "on", False) and self.file else self.console

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return bool(self.console.isatty())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def handler_output(self) -> Any:
        router = self

        class _On:
            def __enter__(self) -> None:
                router.local.on = True

            def __exit__(self, *exc: object) -> None:
                router.local.on = False

        return _On()


_ROUTER = _StdoutRouter()


def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    return run_handler(self, event)


# --- EventBridge -> Lambda ---------------------------------------------------------------


def _send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    """Lambda targets are invoked asynchronously, as EventBridge does; moto raises."""
    from moto.awslambda.utils import get_backend
    from moto.events.models import EventTemplateParser

    lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
    if lambda_targets and self.event_pattern.matches_event(original_event):
        for target in lambda_targets:
            transformer = target.get("InputTransformer", {})
            event = (
                EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
                if transform_input
                else dict(original_event)
            )
            event.setdefault("account", self.account_id)  # AWS always sends it
            if not isinstance(event.get("time"), str | None):
                # AWS sends ISO 8601 ("2026-11-22T01:02:03Z"); moto leaves a number.
                stamp = datetime.fromtimestamp(float(event["time"]), UTC)
                event["time"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            arn = target["Arn"]
            backend = get_backend(self.account_id, arn.split(":")[3])
            threading.Thread(
                target=backend.invoke,
                kwargs={
                    "function_name": arn,
                    "qualifier": None,
                    "body": json.dumps(event),
                    "headers": {"x-amz-invocation-type": "Event"},
                    "response_headers": {},
                },
                daemon=True,
            ).start()
    others = [t for t in self.targets if ":lambda:" not in t["Arn"]]
    if others:
        saved = self.targets
        self.targets = others
        try:
            _ORIGINAL["send_to_targets"](self, original_event, transform_input)
        finally:
            self.targets = saved


# --- install ---------------------------------------------------------------------------

_ORIGINAL: dict[str, Any] = {}


def install(g: Gaps) -> None:
    global GAPS
    GAPS = g
    _ROUTER.attach(g.log)
    if _ORIGINAL:
        return
    backend_cls = sm_models.SageMakerModelBackend
    _ORIGINAL["create_endpoint"] = backend_cls.create_endpoint
    _ORIGINAL["delete_endpoint"] = backend_cls.delete_endpoint
    _ORIGINAL["describe_endpoint"] = backend_cls.describe_endpoint
    backend_cls.create_endpoint = _create_endpoint  # type: ignore[method-assign]
    backend_cls.delete_endpoint = _delete_endpoint  # type: ignore[method-assign]
    backend_cls.describe_endpoint = _describe_endpoint  # type: ignore[method-assign]
    backend_cls.update_endpoint = _update_endpoint  # type: ignore[attr-defined]
    backend_cls.update_endpoint_weights_and_capacities = _update_weights  # type: ignore[method-assign]
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
    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    from moto.events.models import Rule

    _ORIGINAL["send_to_targets"] = Rule.send_to_targets
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
