"""Server-side checks of botocore's parameter constraints, as the AWS services make them.

botocore validates only types and required members before it sends a request; the
services themselves enforce each input shape's ``pattern``, ``min``/``max`` (string
length in code points, list length, map size, blob size in bytes, numeric ranges) and
``enum``. moto enforces none of it, so a value AWS refuses - the known case: SageMaker
CustomerMetadataProperties values with ``( ) ; %`` against
``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`` - passes every emulated run and fails in the real
account. ``install()`` closes that gap for every request to the services in SERVICES:
the request is refused with HTTP 400 and the service's own error code before the backend
acts, with AWS's message ("1 validation error detected: Value 'x' at 'a.b' failed to
satisfy constraint: ...").

What is checked and how, and why:

- Patterns are Java regexes; they are compiled with the ``regex`` module (which knows
  ``\\p{L}`` ...) after a small translation of the Java-only parts (ASCII-only ``\\w \\d
  \\s`` and POSIX ``\\p{Alnum}``..., UTF-16 surrogate pairs), and must match the whole
  value, as Java's ``matches()`` does. A pattern that still does not compile is skipped
  and kept in UNCOMPILABLE; a match that runs past TIMEOUT seconds counts as a pass and
  is kept in TIMED_OUT, so a hostile value can never stall the emulator.
- Structure members inside lists are reported at ``list.N.member.field`` (1-based);
  scalar list members, map keys and map values are reported once per aspect at the
  container with all of the element's rules, as AWS does ("Map value must satisfy
  constraint: [...]"). Blob and sensitive values are not echoed ("Value at 'body'").
- Streaming blobs (S3 PutObject Body), documents, timestamps and booleans are not
  checked; unknown keys are ignored (botocore and moto deal with those).

The hook sits in ``BaseResponse.setup_class``: every service's response handler calls
it (S3 too, whose handlers bypass ``_dispatch``/``call_action``), in decorator mode and
under ThreadedMotoServer, and after it the operation and the request are known. The
refusal is raised as an HTTPException carrying the response serialized in the service's
protocol, which moto's stubber and Flask both turn into the HTTP answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any

import regex
from botocore.model import OperationModel, Shape
from werkzeug.exceptions import HTTPException

SERVICES = (
    "sagemaker",
    "sagemaker-runtime",
    "dynamodb",
    "s3",
    "sns",
    "sqs",
    "events",
    "scheduler",
    "stepfunctions",
    "lambda",
    "cloudwatch",
    "logs",
    "iam",
    "sts",
    "cloudformation",
    "application-autoscaling",
    "service-quotas",
    "kms",
)

# The code each service answers a constraint violation with (boto3 names). Sources in
# docs/emulator.md: real error messages quoted in public issues, and the error shapes
# of the botocore models (CloudWatch's ValidationException has code ValidationError).
CODES = {
    "sagemaker": "ValidationException",
    "sagemaker-runtime": "ValidationError",
    "dynamodb": "ValidationException",
    "s3": "InvalidArgument",
    "sns": "InvalidParameter",
    "sqs": "InvalidAttributeName",  # SQS's only constraints are attribute-name enums
    "events": "ValidationException",
    "scheduler": "ValidationException",
    "stepfunctions": "ValidationException",
    "lambda": "ValidationException",
    "cloudwatch": "ValidationError",
    "logs": "InvalidParameterException",
    "iam": "ValidationError",
    "sts": "ValidationError",
    "cloudformation": "ValidationError",
    "application-autoscaling": "ValidationException",
    "service-quotas": "ValidationException",
    "kms": "ValidationException",
}

ENABLED = True  # the switch; tests turn it off only through disabled(reason)
TIMEOUT = 0.05  # seconds one pattern match may take before it counts as a pass

UNCOMPILABLE: set[str] = set()  # botocore patterns skipped: regex cannot compile them
TIMED_OUT: set[str] = set()  # patterns whose match ran past TIMEOUT at least once
STATS: Counter[str] = Counter()  # matches, timeouts, refusals, unparsed requests


@contextmanager
def disabled(reason: str) -> Iterator[None]:
    """Turn the checks off for a block; ``reason`` says why (it is required on purpose)."""
    global ENABLED
    if not reason.strip():
        raise ValueError("say why the constraint checks are turned off")
    before = ENABLED
    ENABLED = False
    try:
        yield
    finally:
        ENABLED = before


# --- Java patterns -------------------------------------------------------------------

# Java's POSIX classes are ASCII-only; the regex module's namesakes are Unicode.
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0B\\f\\r",
}
# Java's \w \d \s are ASCII-only too (the regex module's are Unicode, and its ASCII flag
# would also make \p{L} ASCII).
_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}


def _hex4(p: str, i: int) -> int | None:
    """The code unit of a ``\\uXXXX`` escape starting at p[i], if there is one."""
    digits = p[i + 2 : i + 6]
    if p.startswith("\\u", i) and len(digits) == 4:
        try:
            return int(digits, 16)
        except ValueError:
            return None
    return None


def _literal_hyphen(p: str, i: int, depth: int, out: list[str]) -> int:
    """After a class escape inside a set, a "-" is a literal in both dialects; once the
    escape is expanded to ranges it would start a range, so it is escaped."""
    if depth and p.startswith("-", i) and not p.startswith("-]", i):
        out.append("\\-")
        return i + 1
    return i


def translate(p: str) -> str:
    """A Java regex as the regex module reads it with the same meaning."""
    out: list[str] = []
    depth = 0  # inside a character class
    i = 0
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            nxt = p[i + 1]
            if nxt in "pP" and p.startswith("{", i + 2) and "}" in p[i + 3 :]:
                end = p.index("}", i + 3)
                body = _POSIX.get(p[i + 3 : end])
                if body is not None and nxt == "p":
                    out.append(body if depth else f"[{body}]")
                elif body is not None and not depth:
                    out.append(f"[^{body}]")
                else:
                    out.append(p[i : end + 1])
                i = _literal_hyphen(p, end + 1, depth, out)
                continue
            if nxt in _CLASSES:
                out.append(_CLASSES[nxt] if depth else f"[{_CLASSES[nxt]}]")
                i = _literal_hyphen(p, i + 2, depth, out)
                continue
            if nxt.lower() in _CLASSES and not depth:
                out.append(f"[^{_CLASSES[nxt.lower()]}]")
                i += 2
                continue
            unit = _hex4(p, i)
            if unit is not None:
                low = _hex4(p, i + 6)
                # Java matches UTF-16: a surrogate pair is one code point beyond the BMP.
                if 0xD800 <= unit <= 0xDBFF and low is not None and 0xDC00 <= low <= 0xDFFF:
                    point = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    out.append(f"\\U{point:08X}")
                    i += 12
                else:
                    out.append(p[i : i + 6])
                    i += 6
                continue
            if nxt == "Q":  # \Q...\E quotes literally
                end = p.find("\\E", i + 2)
                end = len(p) if end < 0 else end
                out.append(regex.escape(p[i + 2 : end]))
                i = end + 2
                continue
            out.append(p[i : i + 2])
            i += 2
            continue
        if c == "[" and not depth:
            depth = 1
            out.append(c)
            i += 1
            if p.startswith("^", i):
                out.append("^")
                i += 1
            if p.startswith("]", i):  # a leading ']' is literal in both dialects
                out.append("\\]")
                i += 1
            continue
        if c == "[" and depth:
            out.append("\\[")  # Java nests classes; none of botocore's do
            i += 1
            continue
        if c == "]" and depth:
            depth = 0
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compiled(pattern: str) -> regex.Pattern[str] | None:
    """The pattern compiled, or None (and kept in UNCOMPILABLE) if regex cannot."""
    try:
        return regex.compile(translate(pattern))
    except (regex.error, ValueError, OverflowError):
        UNCOMPILABLE.add(pattern)
        return None


def matches(pattern: str, value: str) -> bool:
    """Whether the whole value matches; a pattern that cannot be run never refuses."""
    rx = compiled(pattern)
    if rx is None:
        return True
    STATS["matches"] += 1
    try:
        return rx.fullmatch(value, timeout=TIMEOUT) is not None
    except TimeoutError:
        STATS["timeouts"] += 1
        TIMED_OUT.add(pattern)
        return True


def uncompilable_patterns(services: tuple[str, ...] = SERVICES) -> dict[str, list[str]]:
    """Every pattern of these services' botocore models that regex cannot compile, with
    the ``service:Shape`` names that use it (for docs/emulator.md)."""
    import botocore.session

    session = botocore.session.get_session()
    found: dict[str, list[str]] = {}
    for service in services:
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None and compiled(pattern) is None:
                found.setdefault(pattern, []).append(f"{service}:{name}")
    return found


# --- the walk --------------------------------------------------------------------------

_NUMBERS = ("integer", "long", "float", "double", "byte", "short", "bigInteger", "bigDecimal")


def _number(shape: Shape, n: Any) -> str:
    if shape.type_name in ("float", "double", "bigDecimal"):
        return repr(float(n))  # Java prints doubles as 1.0
    return str(n)


def _rules(shape: Shape, value: Any) -> list[str]:
    """The constraints of ``shape`` that ``value`` breaks, in AWS's wording."""
    md = shape.metadata
    kind = shape.type_name
    broken: list[str] = []
    if kind == "string":
        if not isinstance(value, str):
            return []
        pattern = md.get("pattern")
        if pattern is not None and not matches(pattern, value):
            broken.append(f"Member must satisfy regular expression pattern: {pattern}")
        size: int | None = len(value)
    elif kind == "blob":
        if md.get("streaming"):
            return []
        if isinstance(value, str):
            size = len(value.encode())
        elif isinstance(value, bytes | bytearray | memoryview):
            size = len(value)
        else:
            size = None
    elif kind in ("list", "map"):
        size = len(value) if isinstance(value, list | tuple | Mapping) else None
    elif kind in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return []
        if isinstance(value, float) and math.isnan(value):
            return []
        if "max" in md and value > md["max"]:
            top = _number(shape, md["max"])
            broken.append(f"Member must have value less than or equal to {top}")
        if "min" in md and value < md["min"]:
            bottom = _number(shape, md["min"])
            broken.append(f"Member must have value greater than or equal to {bottom}")
        return broken
    else:
        return []
    if size is not None:
        if "max" in md and size > md["max"]:
            broken.append(f"Member must have length less than or equal to {md['max']}")
        if "min" in md and size < md["min"]:
            broken.append(f"Member must have length greater than or equal to {md['min']}")
    enum = md.get("enum")
    if kind == "string" and enum and value not in enum:
        broken.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    return broken


def _all_rules(shape: Shape) -> list[str]:
    """Every constraint of a scalar shape, in the order AWS lists them in brackets."""
    md = shape.metadata
    kind = shape.type_name
    rules: list[str] = []
    word = "value" if kind in _NUMBERS else "length"
    show = (lambda n: _number(shape, n)) if kind in _NUMBERS else str
    if "max" in md:
        rules.append(f"Member must have {word} less than or equal to {show(md['max'])}")
    if "min" in md:
        rules.append(f"Member must have {word} greater than or equal to {show(md['min'])}")
    if kind == "string" and "pattern" in md:
        rules.append(f"Member must satisfy regular expression pattern: {md['pattern']}")
    if kind == "string" and md.get("enum"):
        rules.append(f"Member must satisfy enum value set: [{', '.join(md['enum'])}]")
    return rules


def _text(value: Any) -> str:
    """A value as AWS (Java's toString) echoes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_text(k)}={_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _hidden(shape: Shape) -> bool:
    """Values AWS does not echo: blobs and sensitive members, or containers of them."""
    inner = [shape]
    inner += [getattr(shape, a) for a in ("member", "key", "value") if hasattr(shape, a)]
    return any(s.type_name == "blob" or s.metadata.get("sensitive") for s in inner)


def _say(shape: Shape, value: Any, path: str, rule: str) -> str:
    where = f"Value at '{path}'" if _hidden(shape) else f"Value '{_text(value)}' at '{path}'"
    return f"{where} failed to satisfy constraint: {rule}"


def _scalar(shape: Shape) -> bool:
    return shape.type_name not in ("structure", "list", "map")


def _walk(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if value is None:
        return
    out.extend(_say(shape, value, path, rule) for rule in _rules(shape, value))
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping) or getattr(shape, "is_document_type", False):
            return
        for name, member in shape.members.items():
            if name in value:
                child = name[:1].lower() + name[1:]
                _walk(member, value[name], f"{path}.{child}" if path else child, out)
    elif kind == "list" and isinstance(value, list | tuple):
        member = shape.member
        if _scalar(member):
            if any(_rules(member, v) for v in value if v is not None):
                rules = ", ".join(_all_rules(member))
                out.append(_say(shape, value, path, f"Member must satisfy constraint: [{rules}]"))
        else:
            for i, item in enumerate(value, start=1):
                _walk(member, item, f"{path}.{i}.member", out)
    elif kind == "map" and isinstance(value, Mapping):
        key, val = shape.key, shape.value
        if any(_rules(key, k) for k in value):
            rules = ", ".join(_all_rules(key))
            out.append(_say(shape, value, path, f"Map keys must satisfy constraint: [{rules}]"))
        if _scalar(val):
            if any(_rules(val, v) for v in value.values() if v is not None):
                rules = ", ".join(_all_rules(val))
                rule = f"Map value must satisfy constraint: [{rules}]"
                out.append(_say(shape, value, path, rule))
        else:
            for k, item in value.items():
                _walk(val, item, f"{path}.{k}.member", out)


def violations(operation_model: OperationModel, params: dict[str, Any]) -> list[str]:
    """Every constraint of the operation's input shape that ``params`` (botocore's input
    form: member names, bytes for blobs) breaks, one AWS-style message each."""
    shape = operation_model.input_shape
    out: list[str] = []
    if shape is not None and isinstance(params, Mapping):
        _walk(shape, params, "", out)
    return out


def message(problems: list[str]) -> str:
    """The errors joined as AWS joins them."""
    n = len(problems)
    noun = "validation error" if n == 1 else "validation errors"
    return f"{n} {noun} detected: " + "; ".join(problems)


# --- the hook --------------------------------------------------------------------------


class Refused(HTTPException):
    """The service's answer to a request that breaks its constraints, already serialized
    in the service's protocol; moto's stubber and Flask both send HTTPExceptions as is."""

    def __init__(self, status: int, headers: Mapping[str, Any], body: str | bytes) -> None:
        super().__init__(description="constraint violation")
        self.code = status
        self._headers = [(k, str(v)) for k, v in headers.items() if k.lower() != "status"]
        self._body = body

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return list(self._headers)

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        body = self._body
        return body.decode() if isinstance(body, bytes) else body


@lru_cache(maxsize=1)
def _violation() -> type[Exception]:
    """moto's ServiceException, subclassed here so that moto looks its code up in the
    request's service model only (it guesses a second model from a moto module name)."""
    from moto.core.exceptions import ServiceException

    class Violation(ServiceException):
        pass

    return Violation


def _request(resp: Any) -> tuple[OperationModel, dict[str, Any]] | None:
    """The operation and its params in botocore's input form, from moto's own parse when
    the response class did it (automated_parameter_parsing), else parsed here alike."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import determine_request_protocol
    from moto.core.utils import get_service_model

    action = resp._get_action()  # for REST protocols this also fills resp.uri_match
    if not action:
        return None
    service_model = get_service_model(resp.boto3_service_name)
    if action not in service_model.operation_names:
        return None
    op = service_model.operation_model(action)
    params = getattr(resp, "params", None)
    if resp.automated_parameter_parsing and isinstance(params, dict):
        return op, params
    request = resp.normalized_request
    protocol = determine_request_protocol(service_model, request.content_type)
    parser = PROTOCOL_PARSERS[protocol](op, map_type=dict)
    parsed = parser.parse(
        {
            "method": request.method,
            "values": request.values,
            "headers": request.headers,
            "body": request.data,
            "url_path": request.path,
            "url_params": resp.uri_match,
        }
    )
    return op, parsed


def check(resp: Any) -> None:
    """Refuse the request ``resp`` (a moto BaseResponse after setup) if it breaks its
    operation's constraints; anything this cannot parse is left to moto."""
    service = resp.boto3_service_name
    if not (ENABLED and _STATE["active"]) or service not in SERVICES:
        return
    try:
        found = _request(resp)
    except Exception:  # moto answers malformed requests itself
        STATS["unparsed"] += 1
        return
    if found is None:
        return
    problems = violations(*found)
    if not problems:
        return
    from moto.core.responses import ActionResult

    STATS["refusals"] += 1
    error = _violation()(CODES.get(service, "ValidationException"), message(problems))
    status, headers, body = resp.serialized(ActionResult(error))
    raise Refused(status or 400, headers, body)


_STATE: dict[str, Any] = {"original": None, "active": False}


def install() -> None:
    """Check every request to SERVICES before moto's backend sees it. Idempotent."""
    from moto.core.responses import BaseResponse

    _STATE["active"] = True
    if _STATE["original"] is not None:
        return
    original = BaseResponse.setup_class
    _STATE["original"] = original

    @wraps(original)  # also sets __wrapped__, which uninstall() looks for
    def setup_class(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        check(self)

    BaseResponse.setup_class = setup_class  # type: ignore[method-assign]


def uninstall() -> None:
    """Stop checking. The wrapper is removed only while it is still the outermost one, so
    a patch applied on top of it keeps working (the wrapper then just passes through)."""
    from moto.core.responses import BaseResponse

    _STATE["active"] = False
    original: Any = _STATE["original"]
    if original is not None and getattr(BaseResponse.setup_class, "__wrapped__", None) is original:
        BaseResponse.setup_class = original  # type: ignore[method-assign,assignment]
        _STATE["original"] = None


def installed() -> bool:
    return bool(_STATE["active"])
