"""Lambda in the emulated account, in-process (see moto_gaps): invokes, timeouts,
asynchronous invocation with retries, destinations and dead-letter queues, and
EventBridge -> Lambda delivery.

As AWS documents it (docs.aws.amazon.com/lambda/latest/dg/):

- Synchronous invoke (RequestResponse): the real handler runs in a worker thread with
  the function's environment and execution role. Past the function's ``Timeout`` the
  caller gets FunctionError ``Unhandled`` and ``{"errorType": "Sandbox.Timedout",
  "errorMessage": "RequestId: <id> Error: Task timed out after 30.00 seconds"}``; a
  handler's exception is FunctionError ``Unhandled`` too, as with the Python runtime.
- Asynchronous invoke (Event: ``lambda.invoke(InvocationType="Event")``, EventBridge
  rules, EventBridge Scheduler, Lambda destinations): the caller has its 202 at once;
  the event is queued and, on a function error (a timeout included), attempted twice
  more (invocation-async-error-handling: AWS waits ~1 min, then ~2 min; here
  ``ASYNC.retry_delays``), honouring PutFunctionEventInvokeConfig's
  ``MaximumRetryAttempts`` and ``MaximumEventAgeInSeconds`` (scaled by
  ``ASYNC.age_scale``). Every attempt carries the same request id. After the last
  failure (or when the event is too old) the invocation record (invocation-async-
  retain-records: version, timestamp, requestContext{requestId, functionArn,
  condition, approximateInvokeCount}, requestPayload, responseContext{statusCode,
  executedVersion, functionError}, responsePayload) goes to
  ``DestinationConfig.OnFailure`` (SQS, SNS: the record is the message; Lambda: the
  record is the event, invoked asynchronously; EventBridge: the record is the detail
  of "Lambda Function Invocation Result - Failure" from source "lambda"), and the
  original event to ``DeadLetterConfig.TargetArn`` (SQS/SNS, with the RequestID,
  ErrorCode and ErrorMessage message attributes); with both, both get theirs. A
  success goes to ``OnSuccess`` if set. Delivery acts as the function's execution role.
- moto keeps neither a function's DeadLetterConfig nor (from CloudFormation) an
  ``AWS::Lambda::EventInvokeConfig`` (what SAM's ``EventInvokeConfig`` becomes), and a
  second PutFunctionEventInvokeConfig does not replace the first: all filled in here.

Known differences from AWS (docs/emulator.md):

- A timed-out handler cannot be stopped: its thread runs on to its end, its result is
  dropped and the next invocation starts at the deadline (Lambda freezes or discards
  the sandbox). Until it ends, that zombie may still make AWS calls, as its role, and
  reads the process environment and release_guard settings, which by then are another
  invocation's or the base's. Its output still goes to the Lambda log.
- Handlers run one at a time (one process environment), so a queue of asynchronous
  events drains serially; no concurrency limits or throttling (429) retries.
- Retry delays and event age are emulated seconds (``ASYNC``); a handler's own run time
  is not scaled. The queue is lost with the account; no duplicate deliveries.
- Destinations: no S3 bucket destination (logged, not delivered); no
  DestinationDeliveryFailures metric (a failed delivery is logged in the Lambda log).
- SNS -> Lambda subscriptions stay synchronous (moto's), not retried.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.models import EventInvokeConfig, LambdaBackend, LambdaFunction
from moto.core.common_models import CloudFormationModel
from release_guard_cli.emulator import iam
from release_guard_cli.emulator.moto_gaps import ORIGINAL as _ORIGINAL
from release_guard_cli.emulator.moto_gaps import Gaps, gaps

TIMEOUT_ERROR = "Sandbox.Timedout"
DEFAULT_MAX_RETRIES = 2  # AWS: two retries after the first attempt
DEFAULT_MAX_AGE = 21600  # AWS: six hours


@dataclass
class AsyncTimings:
    """Seconds the emulated asynchronous-invocation queue waits (AWS: minutes)."""

    retry_delays: tuple[float, ...] = (0.2, 0.4)  # AWS: ~60 s, then ~120 s
    # Real seconds per emulated second of event age: 0.2 s stands for AWS's 60 s
    # first retry delay, so MaximumEventAgeInSeconds expires at the same point.
    age_scale: float = 0.2 / 60


ASYNC = AsyncTimings()


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


class SandboxTimedout(Exception):
    """What ``on_invoke`` hooks get for an invocation that ran past its Timeout."""


# --- Lambda: one invocation ------------------------------------------------------------


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


class _Run:
    """One handler run on its own thread. At the deadline the waiting side abandons
    it: whatever the handler returns or raises later is dropped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.abandoned = False
        self.result: Any = None
        self.error: BaseException | None = None


# Per thread: .run, the _Run whose handler this thread executes; .request_id, the id of
# the invocation _run is making.
_LOCAL = threading.local()


def _work(run: _Run, g: Gaps, fn: Any, code: Path, payload: Any, context: Any) -> None:
    _LOCAL.run = run
    result: Any = None
    error: BaseException | None = None
    try:
        with _ROUTER.handler_output(), iam.as_function_role(fn):
            module = _load(g, fn.function_name, code)
            result = module.handler(payload, context)
    except BaseException as err:  # the function's error, whatever it is
        error = err
    finally:
        with run.lock:
            if not run.abandoned:
                run.result, run.error = result, error
            run.done.set()
        _LOCAL.run = None


def _error_body(err: BaseException, request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": str(err),
        "errorType": type(err).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(err.__traceback__),
    }


def _parse(event: Any) -> Any:
    # Lambda hands the handler whatever JSON the payload holds (null, 0, false, [] and
    # "" included); only an absent payload becomes {}.
    if isinstance(event, str | bytes):
        return json.loads(event) if event else {}
    return {} if event is None else event


def run_handler(fn: Any, event: Any, request_id: str | None = None) -> tuple[str, bool, str]:
    """Run one function's real handler in-process with its own environment, for at most
    the function's Timeout: (response payload, errored, logs)."""
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
    payload = _parse(event)
    request_id = request_id or str(uuid.uuid4())
    timeout = float(fn.timeout or 3)
    # Handlers share one process environment, so they run one at a time. A handler
    # invoking a function synchronously already holds the lock (on its caller's
    # thread); a zombie past its deadline no longer does and waits like anyone.
    parent: _Run | None = getattr(_LOCAL, "run", None)
    nested = parent is not None and not parent.abandoned
    if not nested:
        g._invoke_lock.acquire()
    saved = dict(os.environ)
    try:
        os.environ.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = fn.function_name
        from release_guard import settings as settings_module

        # Each function is its own process in AWS: its own settings, read from its env.
        settings_module.settings.cache_clear()
        context = LambdaContext(
            function_name=fn.function_name,
            invoked_function_arn=fn.function_arn,
            memory_limit_in_mb=int(fn.memory_size or 128),
            function_version=str(fn.version),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{fn.function_name}",
            deadline=time.time() + timeout,
        )
        run = _Run()
        threading.Thread(
            target=_work,
            args=(run, g, fn, code, payload, context),
            name=f"lambda:{fn.function_name}:{request_id[:8]}",
            daemon=True,
        ).start()
        run.done.wait(max(0.0, context.deadline - time.time()))
        with run.lock:
            run.abandoned = not run.done.is_set()
        outcome: Any
        body: dict[str, Any] | None = None
        if run.abandoned:
            outcome = SandboxTimedout(
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            )
            body = {"errorType": TIMEOUT_ERROR, "errorMessage": str(outcome)}
        elif run.error is not None:
            outcome = run.error
            body = _error_body(run.error, request_id)
        else:
            outcome = run.result
        try:
            for hook in g.on_invoke:
                hook(fn.function_name, payload, outcome)
        except Exception as err:
            if body is not None:
                raise
            body = _error_body(err, request_id)
        if body is not None:
            return json.dumps(body), True, ""
        return json.dumps(run.result, default=str), False, ""
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if not nested:
            g._invoke_lock.release()


class _StdoutRouter:
    """Handler output (Powertools JSON logs, EMF) goes to the emulator's log file;
    everything else on stdout (the CLI's own output) is untouched. Routing is per
    thread because handlers run on their own threads beside the CLI."""

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

    def note(self, message: str, **fields: Any) -> None:
        """A line of the emulated Lambda service's own in the log (not a handler's)."""
        if self.file is not None:
            line = {"level": "WARNING", "location": "emulator.lambda", "message": message}
            self.file.write(json.dumps({**line, **fields}, default=str) + "\n")


_ROUTER = _StdoutRouter()


def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    return run_handler(self, event, getattr(_LOCAL, "request_id", None))


def _run(fn: Any, event: Any, request_id: str) -> tuple[str, bool, str]:
    """One attempt through LambdaFunction._invoke_lambda (moto's hook, which tests may
    replace with handlers of their own), under the invocation's request id."""
    saved = getattr(_LOCAL, "request_id", None)
    _LOCAL.request_id = request_id
    try:
        res, errored, logs = fn._invoke_lambda(event)
        return str(res), bool(errored), str(logs or "")
    finally:
        _LOCAL.request_id = saved


_REQUEST_ID = "x-rg-request-id"  # the invocation's id; moto would answer a random one


def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """LambdaResponse._enrich_response: the response carries the invocation's request
    id (x-amzn-RequestId), the one its handler's context and any record have."""
    mine = headers.pop(_REQUEST_ID, None)
    headers, body = _ORIGINAL["lambda_enrich_response"](headers, body)
    if mine:
        headers["x-amzn-requestid"] = mine
    return headers, body


def _invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
    """LambdaFunction.invoke: RequestResponse runs the handler now, Event queues it."""
    kind = (request_headers or {}).get("x-amz-invocation-type", "RequestResponse")
    if kind == "DryRun":
        return b""
    if kind == "Event":
        response_headers[_REQUEST_ID] = invoke_async(self, body)
        return b""
    request_id = str(uuid.uuid4())
    res, errored, logs = _run(self, _parse(body), request_id)
    response_headers[_REQUEST_ID] = request_id
    response_headers["x-amz-executed-version"] = str(self.version)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-log-result"] = base64.b64encode(logs.encode()).decode()
    return res.encode("utf-8")


# --- Lambda: asynchronous invocation -----------------------------------------------------


@dataclass
class _Event:
    """One event in a function's asynchronous queue."""

    fn: Any
    payload: Any
    request_id: str
    queued: float = field(default_factory=time.monotonic)
    attempts: int = 0
    response: str = "null"
    errored: bool = False


def invoke_async(fn: Any, event: Any) -> str:
    """Queue an asynchronous (Event) invocation of ``fn`` (moto's LambdaFunction), as
    Lambda's internal queue does; the caller has its 202. Returns the request id that
    every attempt and the invocation record carry."""
    g = gaps()
    job = _Event(fn=fn, payload=_parse(event), request_id=str(uuid.uuid4()))
    g.later(0, lambda: _attempt(g, job))
    return job.request_id


def event_invoke_config(fn: Any) -> dict[str, Any]:
    """The function's PutFunctionEventInvokeConfig (the latest put), or {}."""
    configs = getattr(fn, "event_invoke_config", None) or []
    return dict(configs[-1].config) if configs else {}


def _cancelled() -> bool:
    """The account stopped (Gaps.stop cancels its timers): drop the event."""
    me = threading.current_thread()
    return isinstance(me, threading.Timer) and me.finished.is_set()


def _attempt(g: Gaps, job: _Event) -> None:
    if _cancelled():
        return
    config = event_invoke_config(job.fn)
    max_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
    if job.attempts and time.monotonic() - job.queued > max_age * ASYNC.age_scale:
        _finish(g, job, config, "EventAgeExceeded")
        return
    job.attempts += 1
    job.response, job.errored, _ = _run(job.fn, job.payload, job.request_id)
    if _cancelled():
        return
    if not job.errored:
        success = config.get("DestinationConfig", {}).get("OnSuccess", {}).get("Destination")
        if success:
            _deliver(g, job.fn, success, _record(job, "Success"), "Success")
        return
    if job.attempts <= int(config.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES)):
        delays = ASYNC.retry_delays or (0.0,)
        g.later(delays[min(job.attempts, len(delays)) - 1], lambda: _attempt(g, job))
        return
    _finish(g, job, config, "RetriesExhausted")


def _record(job: _Event, condition: str) -> dict[str, Any]:
    """The invocation record Lambda sends to a destination."""
    version = str(job.fn.version)
    arn = job.fn.function_arn if version != "$LATEST" else f"{job.fn.function_arn}:$LATEST"
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": version}
    if job.errored:
        response["functionError"] = "Unhandled"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "version": "1.0",
        "timestamp": now,
        "requestContext": {
            "requestId": job.request_id,
            "functionArn": arn,
            "condition": condition,
            "approximateInvokeCount": job.attempts,
        },
        "requestPayload": job.payload,
        "responseContext": response,
        "responsePayload": json.loads(job.response),
    }


def _finish(g: Gaps, job: _Event, config: dict[str, Any], condition: str) -> None:
    """The event failed for good: record to OnFailure, event to the DLQ, or dropped."""
    failure = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    dlq = (getattr(job.fn, "dead_letter_config", None) or {}).get("TargetArn")
    if failure:
        _deliver(g, job.fn, failure, _record(job, condition), "Failure")
    if dlq:
        error = json.loads(job.response) if job.errored else {}
        message = str(error.get("errorMessage") or error.get("errorType") or condition)
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": job.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": message[:1024]},
        }
        _deliver(g, job.fn, dlq, job.payload, None, attributes)
    if not failure and not dlq:
        _ROUTER.note(
            f"async event discarded after {job.attempts} attempts ({condition})",
            function=job.fn.function_name,
            requestId=job.request_id,
        )


def _deliver(
    g: Gaps,
    fn: Any,
    target: str,
    body: Any,
    outcome: str | None,
    attributes: dict[str, Any] | None = None,
) -> None:
    """Send a record (``outcome`` Success/Failure) or a DLQ message as Lambda does: with
    the function's execution role, through the target service's API."""
    import boto3

    parts = target.split(":")
    service, region, account = parts[2], parts[3], parts[4]
    message = json.dumps(body, default=str)
    extra = {"MessageAttributes": attributes} if attributes else {}
    # The lock: the process environment is nobody's function's while the client is made.
    with g._invoke_lock, iam.as_function_role(fn):
        try:
            client = boto3.session.Session().client(service, region_name=region)
            if service == "sqs":
                # Lambda sends with sqs:SendMessage only; the URL follows from the ARN.
                url = f"https://sqs.{region}.amazonaws.com/{account}/{parts[5]}"
                client.send_message(QueueUrl=url, MessageBody=message, **extra)
            elif service == "sns":
                client.publish(TopicArn=target, Message=message, **extra)
            elif service == "lambda" and outcome:
                client.invoke(FunctionName=target, InvocationType="Event", Payload=message)
            elif service == "events" and outcome:
                resp = client.put_events(
                    Entries=[
                        {
                            "Source": "lambda",
                            "DetailType": f"Lambda Function Invocation Result - {outcome}",
                            "Detail": message,
                            "EventBusName": target,
                            "Resources": [target, body["requestContext"]["functionArn"]],
                        }
                    ]
                )
                if resp.get("FailedEntryCount"):
                    raise RuntimeError(str(resp["Entries"]))
            else:
                raise ValueError(f"the emulator does not deliver to {service} ({target})")
        except Exception as err:  # AWS: the DestinationDeliveryFailures metric
            _ROUTER.note(
                f"delivery to {target} failed: {err}",
                function=fn.function_name,
            )


# --- Lambda: configuration moto drops -----------------------------------------------------


def _put_event_invoke_config(fn: Any, config: dict[str, Any]) -> dict[str, Any]:
    """PutFunctionEventInvokeConfig replaces the function's configuration."""
    eic = EventInvokeConfig(fn.function_arn, fn.last_modified, config)
    fn.event_invoke_config = [eic]
    return dict(eic.response())


def _backend_put_eic(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return _put_event_invoke_config(self.get_function(function_name), config)


def _backend_update_eic(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """UpdateFunctionEventInvokeConfig changes only the fields given."""
    fn = self.get_function(function_name)
    return _put_event_invoke_config(fn, {**event_invoke_config(fn), **config})


def _fn_init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any) -> None:
    _ORIGINAL["lambda_init"](self, account_id, spec, *args, **kw)
    self.dead_letter_config = dict(spec.get("DeadLetterConfig") or {})


def _fn_update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "DeadLetterConfig" in config_updates:
        dlc = config_updates["DeadLetterConfig"] or {}
        self.dead_letter_config = dict(dlc) if dlc.get("TargetArn") else {}
    return dict(_ORIGINAL["lambda_update_configuration"](self, config_updates))


def _fn_get_configuration(self: Any, *args: Any, **kw: Any) -> dict[str, Any]:
    config = dict(_ORIGINAL["lambda_get_configuration"](self, *args, **kw))
    if getattr(self, "dead_letter_config", None):
        config["DeadLetterConfig"] = dict(self.dead_letter_config)
    return config


def _fn_from_cloudformation(
    cls: Any,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """AWS::Lambda::Function with its DeadLetterConfig (SAM's DeadLetterQueue)."""
    fn = _ORIGINAL["lambda_from_cloudformation"](
        resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    dlc = cloudformation_json.get("Properties", {}).get("DeadLetterConfig") or {}
    if dlc.get("TargetArn"):
        from moto.awslambda.utils import get_backend

        stored: Any = get_backend(account_id, region_name).get_function(fn.function_name)
        for each in (fn, stored):  # the same object unless published
            each.dead_letter_config = {"TargetArn": str(dlc["TargetArn"])}
    return fn


class EventInvokeConfigResource(CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig, which moto's CloudFormation lacks: it becomes
    the function's PutFunctionEventInvokeConfig."""

    def __init__(self, function_name: str, qualifier: str) -> None:
        self.function_name = function_name
        self.qualifier = qualifier

    @property
    def physical_resource_id(self) -> str:
        return f"{self.function_name}:{self.qualifier}"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @staticmethod
    def _function(account_id: str, region_name: str, props: dict[str, Any]) -> Any:
        from moto.awslambda.utils import get_backend

        backend = get_backend(account_id, region_name)
        qualifier = props.get("Qualifier")
        if qualifier and qualifier != "$LATEST":
            try:
                return backend.get_function(props["FunctionName"], qualifier)
            except Exception:
                pass
        return backend.get_function(props["FunctionName"])

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventInvokeConfigResource:
        props = cloudformation_json["Properties"]
        config: dict[str, Any] = {
            key: int(props[key])
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
            if key in props
        }
        if props.get("DestinationConfig"):
            config["DestinationConfig"] = props["DestinationConfig"]
        fn = cls._function(account_id, region_name, props)
        _put_event_invoke_config(fn, config)
        return cls(fn.function_name, str(props.get("Qualifier", "$LATEST")))

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventInvokeConfigResource:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        try:
            fn = cls._function(account_id, region_name, cloudformation_json["Properties"])
        except Exception:
            return  # the function went first
        fn.event_invoke_config = []

    def is_created(self) -> bool:
        return True


# --- EventBridge -> Lambda ---------------------------------------------------------------


def _send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    """Lambda targets are invoked asynchronously, as EventBridge does (moto raises): the
    invoke is accepted (202), so Lambda's own retries and destinations apply."""
    from moto.awslambda.utils import get_backend
    from moto.events.models import EventTemplateParser

    if self.state != "ENABLED":
        return  # a disabled rule delivers nothing (moto delivers anyway)
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
            try:
                fn = get_backend(self.account_id, arn.split(":")[3]).get_function(arn)
            except Exception as err:
                # The invoke itself fails: EventBridge's retry policy, then its DLQ.
                _target_failed(self, target, event, err)
                continue
            invoke_async(fn, event)
    others = [t for t in self.targets if ":lambda:" not in t["Arn"]]
    if others:
        saved = self.targets
        self.targets = others
        try:
            _ORIGINAL["send_to_targets"](self, original_event, transform_input)
        finally:
            self.targets = saved


def _target_failed(rule: Any, target: dict[str, Any], event: Any, err: Exception) -> None:
    """A Lambda target EventBridge cannot invoke (e.g. deleted): the event goes to the
    target's DeadLetterConfig queue with EventBridge's attributes (without the retries
    of its RetryPolicy, which could not succeed here), or is dropped."""
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    _ROUTER.note(f"EventBridge could not invoke {target['Arn']}: {err}", rule=rule.name)
    if not dlq:
        return
    import boto3

    code = getattr(err, "code", None) or type(err).__name__
    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": str(code),
        "ERROR_MESSAGE": str(err)[:1024] or str(code),
    }
    parts = dlq.split(":")
    try:
        sqs = boto3.session.Session().client("sqs", region_name=parts[3])
        sqs.send_message(
            QueueUrl=f"https://sqs.{parts[3]}.amazonaws.com/{parts[4]}/{parts[5]}",
            MessageBody=json.dumps(event, default=str),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )
    except Exception as delivery:
        _ROUTER.note(f"EventBridge DLQ {dlq} failed: {delivery}", rule=rule.name)


# --- install ---


def install(g: Gaps, patch: bool = True) -> None:
    _ROUTER.attach(g.log)
    if not patch:
        return
    from moto.awslambda.responses import LambdaResponse
    from moto.cloudformation import parsing
    from moto.events.models import Rule

    _ORIGINAL["lambda_enrich_response"] = LambdaResponse._enrich_response
    LambdaResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign]
    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
    _ORIGINAL["lambda_init"] = LambdaFunction.__init__
    LambdaFunction.__init__ = _fn_init  # type: ignore[method-assign]
    _ORIGINAL["lambda_update_configuration"] = LambdaFunction.update_configuration
    LambdaFunction.update_configuration = _fn_update_configuration  # type: ignore[method-assign]
    _ORIGINAL["lambda_get_configuration"] = LambdaFunction.get_configuration
    LambdaFunction.get_configuration = _fn_get_configuration  # type: ignore[method-assign]
    _ORIGINAL["lambda_from_cloudformation"] = LambdaFunction.create_from_cloudformation_json
    LambdaFunction.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _fn_from_cloudformation
    )
    LambdaBackend.put_function_event_invoke_config = _backend_put_eic  # type: ignore[method-assign]
    LambdaBackend.update_function_event_invoke_config = _backend_update_eic  # type: ignore[method-assign]
    # moto finds CloudFormation types among CloudFormationModel's subclasses, cached.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()

    _ORIGINAL["send_to_targets"] = Rule.send_to_targets
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
