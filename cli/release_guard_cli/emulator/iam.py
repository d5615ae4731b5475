"""IAM in the emulated account: every request is authorised as AWS would authorise it.

Who is calling:
- A Lambda handler acts with its execution role (``as_function_role``), as Lambda does;
  a thread the handler starts acts as the handler did.
- A Step Functions execution acts with its state machine's role.
- Anyone else (tests, the CLI) acts with the credentials of the client it calls with:
  the account's admin keys (``ADMIN_KEYS``), an IAM user's keys or an assumed role's
  (``acting_as(role_arn)`` makes the current thread act as a role, e.g. the operator).

The acting principal's credentials sign each request (botocore's before-sign event), so
the same works in-process and through ``emulator serve``. The server side then finds the
principal from the request's access key, works out the IAM action, resource ARNs and
condition keys of the request (``resources.py``), and evaluates the principal's
identity policies (inline and managed, as the stack created them) with moto's policy
documents: an explicit Deny wins, else an Allow is needed. A refused call answers
AccessDenied in the service's own error shape, naming principal, action and resource.

Not emulated (docs/emulator.md): resource-based policies (bucket, topic, key policies),
permissions boundaries, SCPs and session policies.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# The account admin's access key ids: account.py's, and the one mock_aws() sets.
ADMIN_KEYS = frozenset({"emulated", "FOOBARKEY"})
ENABLED = True  # `with disabled(why)` turns enforcement off, naming the reason

# Auditing a policy change: record refusals in ``denials`` but let calls through.
REPORT_ONLY = False

_local = threading.local()
_lock = threading.Lock()
_role_credentials: dict[str, tuple[str, str, str]] = {}
denials: list[str] = []  # every refusal, for tests and the emulator log


@dataclass(frozen=True)
class Check:
    """One authorisation AWS makes for a request: action on resource, with context."""

    action: str
    resource: str = "*"
    context: tuple[tuple[str, str], ...] = ()


# --- who is acting ---------------------------------------------------------------------


def _credentials_for(role_arn: str) -> tuple[str, str, str]:
    """Temporary credentials of a role, made by the emulated STS (once per role)."""
    with _lock:
        creds = _role_credentials.get(role_arn)
        if creds is None:
            from moto.sts.models import sts_backends

            account = role_arn.split(":")[4]
            assumed = sts_backends[account]["aws"].assume_role(
                region_name="us-east-1",
                role_session_name=role_arn.rsplit("/", 1)[-1][:64],
                role_arn=role_arn,
                policy="",
                duration=43200,
                external_id="",
            )
            creds = (assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
            _role_credentials[role_arn] = creds
        return creds


_active = False  # enforced while an emulated account is open (plain moto tests: not)


def reset() -> None:
    """A new emulated account: roles and their credentials are gone."""
    global _active
    with _lock:
        _role_credentials.clear()
    denials.clear()
    _active = True


def deactivate() -> None:
    """The emulated account closed: moto used on its own authorises nothing."""
    global _active
    _active = False


def current() -> str | None:
    """The role ARN the current thread acts as, if any."""
    return getattr(_local, "role", None)


@contextmanager
def acting_as(role_arn: str | None) -> Iterator[None]:
    """The current thread (and threads it starts) calls AWS as ``role_arn``."""
    saved = current()
    _local.role = role_arn
    try:
        yield
    finally:
        _local.role = saved


@contextmanager
def as_function_role(fn: Any) -> Iterator[None]:
    """Run a Lambda handler with its execution role's credentials, as Lambda does.
    ``fn`` is moto's LambdaFunction."""
    with acting_as(str(fn.role) if ENABLED and fn.role else current()):
        yield


@contextmanager
def disabled(why: str) -> Iterator[None]:
    """Turn enforcement off for a block; ``why`` is required so every use says why."""
    if not why.strip():
        raise ValueError("say why enforcement is off")
    global ENABLED
    saved = ENABLED
    ENABLED = False
    try:
        yield
    finally:
        ENABLED = saved


def _before_sign(request_signer: Any = None, **_: Any) -> None:
    """Sign with the acting principal's credentials; a client shared between threads
    (the layer caches clients per process) signs for whoever calls it now."""
    if request_signer is None:
        return
    if not hasattr(request_signer, "_rg_own"):
        request_signer._rg_own = request_signer._credentials
    role = current()
    if role is None:
        request_signer._credentials = request_signer._rg_own
        return
    from botocore.credentials import Credentials

    request_signer._credentials = Credentials(*_credentials_for(role))


def _inherit_principal() -> None:
    """Threads started by a handler act as the handler (a thread pool in RunEval)."""
    start = threading.Thread.start

    def patched_start(self: threading.Thread) -> None:
        role = current()
        if role is not None and not getattr(self, "_rg_wrapped", False):
            run = self.run

            def run_as() -> None:
                with acting_as(role):
                    run()

            self.run = run_as  # type: ignore[method-assign]
            self._rg_wrapped = True  # type: ignore[attr-defined]
        start(self)

    threading.Thread.start = patched_start  # type: ignore[method-assign]


def _executions_as_their_role() -> None:
    from moto.stepfunctions.parser.backend import execution_worker

    worker = execution_worker.ExecutionWorker
    logic = worker._execution_logic

    def as_role(self: Any) -> Any:
        details = self._evaluation_details.aws_execution_details
        with acting_as(str(details.role_arn)):
            return logic(self)

    worker._execution_logic = as_role  # type: ignore[method-assign]


# --- policy evaluation -------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    """IAM wildcards: * any run, ? one character; everything else literal."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _action_matches(pattern: str, action: str) -> bool:
    # Action names are case-insensitive in IAM; resources are not.
    return _like(pattern.lower(), action.lower())


_OPERATORS = {
    "StringEquals": lambda want, have: have == want,
    "StringNotEquals": lambda want, have: have != want,
    "StringEqualsIgnoreCase": lambda want, have: have.lower() == want.lower(),
    "StringLike": lambda want, have: _like(want, have),
    "StringNotLike": lambda want, have: not _like(want, have),
    "ArnEquals": lambda want, have: have == want,
    "ArnLike": lambda want, have: _like(want, have),
    "ArnNotEquals": lambda want, have: have != want,
    "ArnNotLike": lambda want, have: not _like(want, have),
    "Bool": lambda want, have: have.lower() == str(want).lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _condition_holds(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for raw_op, keys in conditions.items():
        op = raw_op.split(":")[-1]
        if_exists = op.endswith("IfExists")
        op = op.removesuffix("IfExists")
        test = _OPERATORS.get(op)
        if test is None:
            raise UnsupportedPolicy(f"condition operator {raw_op} is not emulated")
        for key, wanted in keys.items():
            have = context.get(key.lower())
            if have is None:
                # A missing key fails a condition, except a negated one or ...IfExists.
                if if_exists or op in _NEGATED:
                    continue
                return False
            results = [test(str(w), have) for w in _as_list(wanted)]
            if not (all(results) if op in _NEGATED else any(results)):
                return False
    return True


class UnsupportedPolicy(Exception):
    """A policy uses IAM grammar the emulator does not evaluate: refuse loudly."""


def _statement_applies(st: dict[str, Any], check: Check) -> bool:
    if "NotResource" in st or "NotPrincipal" in st:
        raise UnsupportedPolicy("NotResource/NotPrincipal are not emulated")
    if "NotAction" in st:
        if any(_action_matches(p, check.action) for p in _as_list(st["NotAction"])):
            return False
    elif not any(_action_matches(p, check.action) for p in _as_list(st.get("Action", []))):
        return False
    if not any(_like(p, check.resource) for p in _as_list(st.get("Resource", []))):
        return False
    return _condition_holds(st.get("Condition") or {}, dict(check.context))


def decide(documents: list[dict[str, Any]], check: Check) -> bool:
    """AWS's evaluation for identity policies: explicit Deny > Allow > implicit deny."""
    allowed = False
    for doc in documents:
        for st in _as_list(doc.get("Statement", [])):
            # moto's CloudFormation leaves None where AWS::NoValue removed a statement
            if isinstance(st, dict) and _statement_applies(st, check):
                if st.get("Effect") == "Deny":
                    return False
                allowed = True
    return allowed


def _documents(account: str, access_key: str, headers: dict[str, str]) -> tuple[str, list]:
    """(principal ARN, its policy documents) for an access key; raise if unknown."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

    try:
        key = create_access_key(account, "aws", access_key, headers)
    except CreateAccessKeyFailure as err:
        raise _Unrecognised(err.reason) from err
    docs = []
    for policy in key.collect_policies():
        text: Any
        if isinstance(policy, str):
            text = policy
        elif hasattr(policy, "versions"):  # a managed policy: its default version
            text = next(v for v in policy.versions if v.is_default).document
        elif isinstance(policy, dict) and "Statement" in policy:
            text = policy  # an inline policy CloudFormation stored as a document
        else:
            text = policy["policy_document"]
        docs.append(json.loads(text) if isinstance(text, str) else text)
    return key.arn, docs


class _Unrecognised(Exception):
    pass


# --- the server side --------------------------------------------------------------------


def _access_key(headers: Any) -> str:
    auth = str(headers.get("Authorization") or headers.get("authorization") or "")
    match = re.search(r"Credential=([^/,\s]+)/", auth)
    return match.group(1) if match else ""


def authorize(response: Any, checks: list[Check]) -> None:
    """Raise the service's AccessDenied unless the caller may make every check."""
    if not (ENABLED and _active):
        return
    headers = {k: v for k, v in response.headers.items()}
    key = _access_key(headers)
    if key in ADMIN_KEYS or not key or (key == "ak" and current() is None):
        # The account admin; unsigned requests and "ak" (moto's Step Functions client
        # outside an execution) are moto's own internal calls.
        return
    if "X-Amz-Security-Token" not in headers and "x-amz-security-token" in headers:
        headers["X-Amz-Security-Token"] = headers["x-amz-security-token"]
    account = str(getattr(response, "current_account", None) or "123456789012")
    try:
        arn, docs = _documents(account, key, headers)
    except _Unrecognised as err:
        raise _error(
            response,
            "UnrecognizedClientException",
            f"The security token included in the request is invalid ({key}: {err})",
        ) from None
    for check in checks:
        if check.action == "sts:GetCallerIdentity" or decide(docs, check):
            continue
        message = (
            f"User: {arn} is not authorized to perform: {check.action} on resource: "
            f"{check.resource} because no identity-based policy allows the "
            f"{check.action} action"
        )
        denials.append(message)
        log.warning("AccessDenied: %s", message)
        if not REPORT_ONLY:
            raise _error(response, None, message)


# Error codes AWS answers an unauthorised call with, per service (signing name).
_DENIED_CODE = {
    "s3": "AccessDenied",
    "sqs": "AccessDenied",
    "sns": "AuthorizationError",
    "monitoring": "AccessDenied",
    "iam": "AccessDenied",
    "sts": "AccessDenied",
    "cloudformation": "AccessDenied",
}


def _error(response: Any, code: str | None, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError
    from moto.core.exceptions import _RESTError as RESTError

    service = _signing_name(response)
    code = code or _DENIED_CODE.get(service, "AccessDeniedException")
    if service == "s3":
        from moto.s3.exceptions import S3ClientError

        s3_error = S3ClientError(code, message)
        s3_error.code = code
        return s3_error
    if service in ("sns", "iam", "sts", "cloudformation") or (
        service in ("monitoring", "sqs") and not _is_json(response)
    ):
        err: Exception = RESTError(code, message)
    else:
        err = JsonRESTError(code, message)
    err.code = 403  # type: ignore[attr-defined]
    return err


def _is_json(response: Any) -> bool:
    ctype = str(response.headers.get("Content-Type") or response.headers.get("content-type") or "")
    return "json" in ctype or "cbor" in ctype


def _signing_name(response: Any) -> str:
    auth = str(response.headers.get("Authorization") or "")
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
    return match.group(1) if match else ""


def _normal(self: Any, resource: str = "*") -> None:
    from release_guard_cli.emulator import resources

    if not ENABLED:
        return
    authorize(self, resources.checks(self))


def _s3(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    from release_guard_cli.emulator import resources

    if not ENABLED:
        return
    authorize(self, resources.s3_checks(self, bucket_name, key_name))


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    import boto3
    import botocore.handlers
    from moto.core.authorization import ActionAuthenticatorMixin

    botocore.handlers.BUILTIN_HANDLERS.append(("before-sign", _before_sign))
    if boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION._session.register("before-sign", _before_sign)
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _normal  # type: ignore[method-assign]
    ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _s3  # type: ignore[method-assign]
    _inherit_principal()
    _executions_as_their_role()
