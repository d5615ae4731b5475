"""Step Functions in the emulated account, where moto 5.2's interpreter is not AWS.

moto runs the ASL in-process (``execute_state_machine``); this module patches its
parser so that what release-guard's workflow and its operators see matches AWS.
What is emulated, and why:

- **StopExecution** ends the execution at once: ``ABORTED`` with the given error and
  cause (moto drops both), an ``ExecutionAborted`` event and ``stopDate``, also while a
  ``.waitForTaskToken`` task waits (moto stays RUNNING and lets a later SendTaskSuccess
  complete the task), while a Wait sleeps or a Lambda task runs, and right after
  StartExecution (moto can lose that stop, or fail on it, before its worker exists).
  After the stop no state is entered and no task is invoked; the Lambda already
  running finishes, as in AWS, and its result is discarded. Stopping an execution
  that has already ended is accepted and changes nothing, as AWS does.
- A task token of a closed task or execution answers ``TaskTimedOut`` to
  SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat ("The task token has either
  expired or the task associated with the token has already been closed").
- **History quota**: an execution's history holds at most ``HISTORY_LIMIT`` (25,000)
  events. moto records the events AWS records (state entered/exited, task scheduled/
  started/submitted/succeeded/failed, retries, Map/Parallel events ...); the event that
  would be number 25,000, unless it is ``ExecutionSucceeded``, is replaced by
  ``ExecutionFailed`` with ``States.Runtime`` / "The execution reached the maximum
  number of history events (25000)." (moto has no bound: a loop runs forever.)
- **Payload quota**: a state output, a task result or a task's input after Parameters
  over ``PAYLOAD_LIMIT`` (262,144 bytes of UTF-8 JSON; moto already checks outputs and
  results, one byte early) fails with ``States.DataLimitExceeded``. ``States.ALL`` in a
  Catch or Retry does not match ``States.DataLimitExceeded`` nor ``States.Runtime``
  (AWS docs, "Handling errors"; moto's ``States.ALL`` matched everything); an explicit
  ``ErrorEquals: ["States.DataLimitExceeded"]`` catches a task's result or input over
  the quota, while a state output over it fails the execution whatever the Catch (as
  moto did). See ``STATES_ALL_CATCHES_DATA_LIMIT``.
- **TimeoutSeconds** (moto enforces it): the execution is TIMED_OUT at once with
  ``stopDate`` in DescribeExecution/ListExecutions (moto omits it) and an
  ``ExecutionTimedOut`` event carrying ``States.Timeout``; DescribeExecution has no
  error/cause, as AWS.
- **EventBridge**: every status change of a STANDARD execution (RUNNING, SUCCEEDED,
  FAILED, TIMED_OUT, ABORTED) is put on the default bus as "Step Functions Execution
  Status Change" from ``aws.states``, with the documented detail, so a rule can start
  a recovery Lambda. moto publishes nothing.
- StartExecution without a name gets a UUID name (moto names it "None", so a second
  unnamed start fails with ExecutionAlreadyExists); SendTaskFailure keeps its cause.

``install()`` is idempotent; each patch keeps moto's original in ``ORIGINAL``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from moto.stepfunctions import responses as sfn_responses
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser import quotas
from moto.stepfunctions.parser.api import (
    ExecutionStatus,
    HistoryEventType,
    StateMachineType,
    TaskTimedOut,
)
from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_lambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval import environment as environment_module
from moto.stepfunctions.parser.asl.eval.event import event_manager as event_manager_module
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramTimedOut
from moto.stepfunctions.parser.backend import execution as execution_module
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.utils import TMP_THREADS

log = logging.getLogger(__name__)

HISTORY_LIMIT = 25_000  # events in one execution's history (hard quota)
PAYLOAD_LIMIT = 262_144  # bytes of UTF-8 JSON in a state's input/output or a task result
# AWS's docs say States.ALL does not catch States.DataLimitExceeded; executions LocalStack
# recorded against AWS (2024-03) show a Lambda result over the quota caught by States.ALL.
# The emulator follows the docs, the stricter of the two; True follows the recordings.
STATES_ALL_CATCHES_DATA_LIMIT = False

HISTORY_LIMIT_ERROR = "States.Runtime"
HISTORY_LIMIT_CAUSE = "The execution reached the maximum number of history events ({limit})."
TASK_TIMED_OUT_MESSAGE = "Task Timed Out: 'Provided task does not exist anymore'"
DETAIL_TYPE = "Step Functions Execution Status Change"

ORIGINAL: dict[str, Any] = {}  # moto's functions, before this module replaced them

_ATTR: Final = "_rg_sfn_run"  # the _Run of an Execution, and of its EventManager
_TERMINAL: Final = frozenset(
    {
        HistoryEventType.ExecutionSucceeded,
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
    }
)
_STATES_ALL: Final = StatesErrorName(typ=StatesErrorNameType.StatesALL)
_WAIT_SLICE_S: Final = 0.2


class _ExecutionClosedError(RuntimeError):
    """Raised where moto would call a service for an execution that has ended."""


class _Run:
    """What the emulator knows of one execution beyond moto."""

    def __init__(self, execution: Any) -> None:
        self.execution = execution
        self.lock = threading.RLock()
        self.closed = False  # the status is final (what the API shows)
        self.sealed = False  # the history has its terminal event; nothing more is recorded
        self.env: Any = None  # the interpreter's root Environment, once it exists
        self.pending: tuple[Any, Any, Any] | None = None  # terminal event awaiting history
        self.threads: set[threading.Thread] = set()


def _run_of(obj: Any) -> _Run | None:
    run = getattr(obj, _ATTR, None)
    return run if isinstance(run, _Run) else None


def _now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


def _standard(execution: Any) -> bool:
    return bool(execution.sm_type == StateMachineType.STANDARD)


# --- closing an execution ----------------------------------------------------------------


def _record_terminal_locked(run: _Run, event_type: Any, details: Any, context: Any) -> None:
    """Append the terminal event (now, or right after ExecutionStarted) and seal."""
    env = run.env
    if env is None or not env.event_manager._history_event_list:
        run.pending = (event_type, details, context)
        return
    ORIGINAL["add_event"](
        env.event_manager,
        context=context or event_manager_module.EventHistoryContext(previous_event_id=0),
        event_type=event_type,
        event_details=details,
    )
    run.sealed = True


def _close_locked(
    run: _Run,
    status: ExecutionStatus,
    event_type: Any,
    details: Any,
    error: str | None = None,
    cause: str | None = None,
    context: Any = None,
) -> bool:
    """Make ``status`` the execution's final status. Caller holds ``run.lock``."""
    if run.closed or run.sealed:
        return False
    execution = run.execution
    execution.exec_status = status
    execution.stop_date = _now()
    execution.error = error
    execution.cause = cause
    execution.output = None
    run.closed = True
    _record_terminal_locked(run, event_type, details, context)
    return True


def _after_close(run: _Run) -> None:
    """Let the interpreter wind down, then tell EventBridge. Caller holds no lock."""
    env = run.env
    execution = run.execution
    if env is not None:
        try:
            if execution.exec_status == ExecutionStatus.ABORTED:
                env.set_stop(
                    stop_date=execution.stop_date, cause=execution.cause, error=execution.error
                )
            elif execution.exec_status == ExecutionStatus.FAILED and not isinstance(
                env.program_state(), ProgramError
            ):
                env.set_error({"error": execution.error, "cause": execution.cause})
            # Wake whatever waits: task tokens, heartbeats, Wait states.
            for endpoint in list(env.callback_pool_manager._pool.values()):
                endpoint.interrupt_all()
            env.program_state_event.set()
        except Exception:  # the status is final whatever moto's interpreter does next
            log.exception("winding down %s", execution.exec_arn)
    _publish(execution)


def _abort(execution: Any, error: str | None, cause: str | None) -> bool:
    run = _run_of(execution)
    if run is None:
        return False
    aborted: dict[str, str] = {}
    if error is not None:
        aborted["error"] = error
    if cause is not None:
        aborted["cause"] = cause
    with run.lock:
        closed = _close_locked(
            run,
            ExecutionStatus.ABORTED,
            HistoryEventType.ExecutionAborted,
            {"executionAbortedEventDetails": aborted},
            error=error,
            cause=cause,
        )
    if closed:
        _after_close(run)
    return closed


# --- EventBridge ------------------------------------------------------------------------


def _millis(stamp: dt.datetime | None) -> int | None:
    return None if stamp is None else int(stamp.timestamp() * 1000)


def status_change_detail(execution: Any, status: str | None = None) -> dict[str, Any]:
    """The ``detail`` of "Step Functions Execution Status Change" (the same information
    as DescribeExecution, dates in epoch milliseconds)."""
    status = status or execution.exec_status.value
    succeeded = status == ExecutionStatus.SUCCEEDED.value
    detail: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": None if status == "RUNNING" else _millis(execution.stop_date),
        "input": execution.execution_input,
        "inputDetails": {"included": True},
        "output": (
            json.dumps(execution.output, separators=(",", ":"), default=str) if succeeded else None
        ),
        "outputDetails": {"included": True} if succeeded else None,
    }
    if status != "RUNNING":
        if execution.error is not None:
            detail["error"] = execution.error
        if execution.cause is not None:
            detail["cause"] = execution.cause
    return detail


def _publish(execution: Any, status: str | None = None) -> None:
    """Best effort, as AWS documents it; Express workflows emit no events. The event's
    time is moto's (epoch seconds; moto's SQS delivery needs a number)."""
    if not _standard(execution):
        return
    try:
        from moto.events.models import events_backends

        events_backends[execution.account_id][execution.region_name].put_events(
            [
                {
                    "Source": "aws.states",
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(status_change_detail(execution, status)),
                    "Resources": [execution.exec_arn],
                    "EventBusName": "default",
                }
            ]
        )
    except Exception:
        log.exception("publishing the status change of %s", execution.exec_arn)


# --- patches: execution lifecycle --------------------------------------------------------


def _execution_start(self: Any) -> None:
    run = _Run(self)
    setattr(self, _ATTR, run)
    _publish(self, ExecutionStatus.RUNNING.value)
    ORIGINAL["Execution.start"](self)


def _worker_start(self: Any) -> None:
    """moto's ExecutionWorker.start, remembering the thread (see interpreter_done)."""
    run = _run_of(getattr(self._execution_communication, "execution", None))
    if run is None:
        ORIGINAL["ExecutionWorker.start"](self)
        return
    thread = threading.Thread(target=self._execution_logic, daemon=True)
    TMP_THREADS.append(thread)
    with run.lock:
        run.threads.add(thread)
    thread.start()


def _get_evaluation_environment(self: Any) -> Any:
    env = ORIGINAL["ExecutionWorker._get_evaluation_environment"](self)
    execution = getattr(self._execution_communication, "execution", None)
    run = _run_of(execution)
    if run is not None:
        with run.lock:
            run.env = env
            run.threads.add(threading.current_thread())
            setattr(env.event_manager, _ATTR, run)
    return env


def _reflect_execution_status(self: Any) -> None:
    run = _run_of(self.execution)
    if run is None:
        ORIGINAL["reflect"](self)
        return
    with run.lock:
        if run.closed:
            return
        env = getattr(self.execution.exec_worker, "env", None)
        if env is not None and isinstance(env.program_state(), ProgramTimedOut):
            timed_out = _close_locked(
                run,
                ExecutionStatus.TIMED_OUT,
                HistoryEventType.ExecutionTimedOut,
                {"executionTimedOutEventDetails": {"error": "States.Timeout"}},
            )
        else:
            ORIGINAL["reflect"](self)
            run.closed = run.sealed = True
            timed_out = False
    if timed_out:
        _after_close(run)
    else:
        _publish(self.execution)


def _is_running(self: Any) -> bool:
    run = getattr(self.event_manager, _ATTR, None)
    if run is not None and run.closed:
        return False
    return bool(ORIGINAL["Environment.is_running"](self))


def _add_event(
    self: Any,
    context: Any,
    event_type: Any,
    event_details: Any = None,
    timestamp: Any = None,
    update_source_event_id: bool = True,
) -> int:
    run = _run_of(self)
    if run is None:
        return int(
            ORIGINAL["add_event"](
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
        )
    closed_now = False
    with run.lock:
        run.threads.add(threading.current_thread())
        if run.sealed:
            return int(context.last_published_event_id)
        if run.pending is not None:
            if event_type != HistoryEventType.ExecutionStarted:
                return int(context.last_published_event_id)
            event_id = ORIGINAL["add_event"](
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
            pending_type, pending_details, pending_context = run.pending
            run.pending = None
            _record_terminal_locked(run, pending_type, pending_details, pending_context)
            return int(event_id)
        count = len(self._history_event_list)
        if _standard(run.execution) and count >= HISTORY_LIMIT - 1 and event_type not in _TERMINAL:
            cause = HISTORY_LIMIT_CAUSE.format(limit=HISTORY_LIMIT)
            closed_now = _close_locked(
                run,
                ExecutionStatus.FAILED,
                HistoryEventType.ExecutionFailed,
                {
                    "executionFailedEventDetails": {
                        "error": HISTORY_LIMIT_ERROR,
                        "cause": cause,
                    }
                },
                error=HISTORY_LIMIT_ERROR,
                cause=cause,
                context=context,
            )
            event_id = context.last_published_event_id
        else:
            event_id = ORIGINAL["add_event"](
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
            if event_type in _TERMINAL:
                run.sealed = True
    if closed_now:
        _after_close(run)
    return int(event_id)


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    """A Wait that notices the end of its execution within a slice (moto's could miss
    the wake-up and sleep the whole Wait)."""
    deadline = time.monotonic() + max(0.0, float(wait_seconds))
    while env.is_running():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        env.program_state_event.wait(min(left, _WAIT_SLICE_S))


# --- patches: no work after the end, payload quota, States.ALL ---------------------------


def _state_name(env: Any) -> str:
    state = env.states.context_object.context_object_data.get("State") or {}
    return str(state.get("Name", ""))


def _within_payload_limit(value: Any) -> bool:
    """The value as the JSON text AWS measures (moto measured a string without its
    quotes, and JSON with spaces and ASCII escapes)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8")) <= PAYLOAD_LIMIT


def _input_too_large(env: Any, event_type: Any, details_key: str, extra: dict[str, Any]) -> None:
    error = StatesErrorNameType.StatesStatesDataLimitExceeded.to_name()
    cause = (
        f"The state/task '{_state_name(env)}' has an input with a size exceeding "
        "the maximum number of bytes service limit."
    )
    details: Any = {details_key: {"error": error, "cause": cause, **extra}}
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
            event_type=event_type,
            event_details=details,
        )
    )


def _execute_lambda_function_integration(
    env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
) -> None:
    if not env.is_running():
        raise _ExecutionClosedError("the execution has ended")
    ORIGINAL["execute_lambda_function_integration"](env, parameters, region, state_credentials)


def _lambda_eval_parameters(self: Any, env: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = ORIGINAL["StateTaskLambda._eval_parameters"](self, env)
    if not _within_payload_limit(parameters.get("Payload")):
        _input_too_large(
            env, HistoryEventType.LambdaFunctionFailed, "lambdaFunctionFailedEventDetails", {}
        )
    return parameters


def _before_eval_execution(
    self: Any,
    env: Any,
    resource_runtime_part: Any,
    raw_parameters: dict[str, Any],
    state_credentials: Any,
) -> None:
    if not _within_payload_limit(raw_parameters):
        _input_too_large(
            env,
            HistoryEventType.TaskFailed,
            "taskFailedEventDetails",
            {"resource": self._get_sfn_resource(), "resourceType": self._get_sfn_resource_type()},
        )
    ORIGINAL["StateTaskService._before_eval_execution"](
        self, env, resource_runtime_part, raw_parameters, state_credentials
    )
    if not env.is_running():
        raise _ExecutionClosedError("the execution has ended")


def _not_matched_by_states_all() -> set[str]:
    names = {StatesErrorNameType.StatesRuntime.to_name()}
    if not STATES_ALL_CATCHES_DATA_LIMIT:
        names.add(StatesErrorNameType.StatesStatesDataLimitExceeded.to_name())
    return names


def _error_equals_eval_body(self: Any, env: Any) -> None:
    error_name = env.stack[-1]
    if (
        getattr(error_name, "error_name", None) in _not_matched_by_states_all()
        and _STATES_ALL in self.error_names
    ):
        env.stack.pop()
        env.stack.append(False)
        return
    ORIGINAL["ErrorEqualsDecl._eval_body"](self, env)


# --- patches: the API ----------------------------------------------------------------------


def _stop_execution(
    self: Any, execution_arn: str, error: str | None = None, cause: str | None = None
) -> Any:
    execution = self.describe_execution(execution_arn)  # ExecutionDoesNotExist, InvalidArn
    if _run_of(execution) is None:
        return ORIGINAL["stop_execution"](self, execution_arn)
    _abort(execution, error, cause)  # an execution that has ended is left as it is
    return execution


def _start_execution(
    self: Any,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
) -> Any:
    return ORIGINAL["start_execution"](
        self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
    )


def _token_closed(backend: Any, token: str) -> bool:
    """The token is one of a task that is over, or of an execution that is."""
    for execution in backend._get_executions():
        worker = getattr(execution, "exec_worker", None)
        env = getattr(worker, "env", None)
        if env is None:
            continue
        endpoint = env.callback_pool_manager.get(token)
        if endpoint is None:
            continue
        return bool(
            execution.exec_status != ExecutionStatus.RUNNING
            or endpoint._notify_event.is_set()
            or endpoint.get_outcome() is not None
        )
    return False


def _checking_token(name: str) -> Callable[..., Any]:
    def send(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        if _token_closed(self, task_token):
            raise TaskTimedOut(TASK_TIMED_OUT_MESSAGE, "TaskTimedOut")
        return ORIGINAL[name](self, task_token, *args, **kwargs)

    send.__name__ = name
    return send


def _parser_backend(response: Any) -> Any:
    backend = response.stepfunction_backend
    return backend if isinstance(backend, parser_models.StepFunctionsParserBackend) else None


def _stop_execution_response(self: Any) -> Any:
    backend = _parser_backend(self)
    if backend is None:
        return ORIGINAL["responses.stop_execution"](self)
    execution = backend.stop_execution(
        self._get_param("executionArn"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return sfn_responses.ActionResult({"stopDate": execution.stop_date})


def _send_task_failure_response(self: Any) -> Any:
    backend = _parser_backend(self)
    if backend is None:
        return ORIGINAL["responses.send_task_failure"](self)
    backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return sfn_responses.EmptyResult()


def _with_timed_out_stop_dates(name: str) -> Callable[[Any], Any]:
    """DescribeExecution/ListExecutions give a TIMED_OUT execution its stopDate."""

    def respond(self: Any) -> Any:
        result = ORIGINAL[name](self)
        body = getattr(result, "_result", None)
        if isinstance(body, dict):
            items = body.get("executions") if "executions" in body else [body]
            for item in items or []:
                timed_out = item.get("status") in (ExecutionStatus.TIMED_OUT, "TIMED_OUT")
                if timed_out and item.get("stopDate") is None:
                    execution = self.stepfunction_backend.describe_execution(item["executionArn"])
                    item["stopDate"] = execution.stop_date
        return result

    respond.__name__ = name
    return respond


# --- public ---------------------------------------------------------------------------------


def interpreter_done(execution_arn: str, timeout: float) -> bool:
    """True once every interpreter thread of the execution has finished, i.e. the
    emulated Step Functions does nothing more for it (a stopped execution's running
    Lambda included). For tests and teardown; AWS has no such call."""
    parts = execution_arn.split(":")
    backend = parser_models.stepfunctions_parser_backends[parts[4]][parts[3]]
    run = _run_of(backend.describe_execution(execution_arn))
    if run is None:
        return True
    deadline = time.monotonic() + timeout
    while True:
        with run.lock:
            threads = [t for t in run.threads if t is not threading.current_thread()]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with run.lock:
            alive = [t for t in run.threads if t.is_alive()]
        if not alive:
            return True
        if time.monotonic() >= deadline:
            return False


def install() -> None:
    """Patch moto's Step Functions; idempotent."""
    if ORIGINAL:
        return
    execution_cls = execution_module.Execution
    comm_cls = execution_module.BaseExecutionWorkerCommunication
    worker_cls = execution_worker.ExecutionWorker
    env_cls = environment_module.Environment
    manager_cls = event_manager_module.EventManager
    backend_cls = parser_models.StepFunctionsParserBackend
    response_cls = sfn_responses.StepFunctionResponse
    service_cls = state_task_service.StateTaskService
    lambda_cls = state_task_lambda.StateTaskLambda
    decl_cls = error_equals_decl.ErrorEqualsDecl

    ORIGINAL.update(
        {
            "Execution.start": execution_cls.start,
            "ExecutionWorker.start": worker_cls.start,
            "ExecutionWorker._get_evaluation_environment": (worker_cls._get_evaluation_environment),
            "reflect": comm_cls._reflect_execution_status,
            "Environment.is_running": env_cls.is_running,
            "add_event": manager_cls.add_event,
            "WaitFunction._wait_interval": wait_function.WaitFunction._wait_interval,
            "execute_lambda_function_integration": (
                lambda_eval_utils.execute_lambda_function_integration
            ),
            "StateTaskLambda._eval_parameters": lambda_cls._eval_parameters,
            "StateTaskService._before_eval_execution": service_cls._before_eval_execution,
            "ErrorEqualsDecl._eval_body": decl_cls._eval_body,
            "is_within_size_quota": quotas.is_within_size_quota,
            "stop_execution": backend_cls.stop_execution,
            "start_execution": backend_cls.start_execution,
            "send_task_success": backend_cls.send_task_success,
            "send_task_failure": backend_cls.send_task_failure,
            "send_task_heartbeat": backend_cls.send_task_heartbeat,
            "responses.stop_execution": response_cls.stop_execution,
            "responses.send_task_failure": response_cls.send_task_failure,
            "responses.describe_execution": response_cls.describe_execution,
            "responses.list_executions": response_cls.list_executions,
        }
    )
    patches: list[tuple[Any, str, Any]] = [
        (execution_cls, "start", _execution_start),
        (worker_cls, "start", _worker_start),
        (worker_cls, "_get_evaluation_environment", _get_evaluation_environment),
        (comm_cls, "_reflect_execution_status", _reflect_execution_status),
        (env_cls, "is_running", _is_running),
        (manager_cls, "add_event", _add_event),
        (wait_function.WaitFunction, "_wait_interval", _wait_interval),
        (
            lambda_eval_utils,
            "execute_lambda_function_integration",
            _execute_lambda_function_integration,
        ),
        (lambda_cls, "_eval_parameters", _lambda_eval_parameters),
        (service_cls, "_before_eval_execution", _before_eval_execution),
        (decl_cls, "_eval_body", _error_equals_eval_body),
        (backend_cls, "stop_execution", _stop_execution),
        (backend_cls, "start_execution", _start_execution),
        (backend_cls, "send_task_success", _checking_token("send_task_success")),
        (backend_cls, "send_task_failure", _checking_token("send_task_failure")),
        (backend_cls, "send_task_heartbeat", _checking_token("send_task_heartbeat")),
        (response_cls, "stop_execution", _stop_execution_response),
        (response_cls, "send_task_failure", _send_task_failure_response),
        (
            response_cls,
            "describe_execution",
            _with_timed_out_stop_dates("responses.describe_execution"),
        ),
        (response_cls, "list_executions", _with_timed_out_stop_dates("responses.list_executions")),
    ]
    # moto imported the quota check by name into each module that uses it.
    for module in (quotas, state_module, state_task_lambda, state_task_service):
        patches.append((module, "is_within_size_quota", _within_payload_limit))
    for owner, attribute, replacement in patches:
        setattr(owner, attribute, replacement)
