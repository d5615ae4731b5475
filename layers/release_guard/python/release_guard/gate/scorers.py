"""Deterministic scorers of the eval runner, and the scorer configuration.

Pure: no boto3, no environment, no clock, no randomness. A scorer sees one
:class:`Observation` (the output text extracted from a variant's response, the
example's target, the measured latency, token counts and cost) and returns a
:class:`Score`. Every scorer here is *pass-type*: 1.0 when the output passes, 0.0 when
it does not, so a failed invocation scores 0 on all of them.

The configuration (:class:`ScorerConfig`, ``extra="forbid"``) lists which scorers run,
with their options; ``docs/eval-runner.md`` documents every option. JSON Schema
conformance is checked against the subset implemented in this module (``jsonschema``
is not a Lambda dependency): ``type``, ``required``, ``properties``,
``additionalProperties``, ``enum``, ``items``, ``minimum``/``maximum``,
``minLength``/``maxLength`` and ``pattern``; annotations (``title``, ``description``,
``$schema`` ...) are ignored and any other keyword is rejected when the config loads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from release_guard.gate.records import LIMIT

Target = str | list[str] | None

METRIC = r"^[A-Za-z0-9_.:-]{1,64}$"
NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # SageMaker endpoint / variant names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class Observation:
    """What a scorer sees of one invocation."""

    output: str
    target: Target = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class Score:
    value: float
    detail: str | None = None  # why it failed, kept on the record under ``details``


PASS = Score(1.0)


def _verdict(ok: bool, detail: str) -> Score:
    return PASS if ok else Score(0.0, detail)


def targets_of(target: Target) -> list[str]:
    if target is None:
        return []
    return [target] if isinstance(target, str) else list(target)


# --------------------------------------------------------------------------- text helpers

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)


def normalize(text: str) -> str:
    """Lower case, no punctuation, no English articles, single spaces (SQuAD's
    normalisation, with Unicode punctuation and NFKC compatibility forms)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(
        " " if ch in _PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text
    )
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


def parse_json_output(text: str, strip_code_fence: bool = True) -> tuple[bool, Any, str | None]:
    """(ok, value, problem): the output as JSON, optionally inside a Markdown fence."""
    body = text
    if strip_code_fence:
        fenced = _FENCE.match(text)
        if fenced:
            body = fenced.group(1)
    try:
        return True, json.loads(body), None
    except json.JSONDecodeError as err:
        return False, None, f"not JSON: {err.msg} at line {err.lineno} column {err.colno}"
    except RecursionError:
        return False, None, "not JSON: nested too deeply"


# --------------------------------------------------------------------------- JSON Schema subset

SCHEMA_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "enum",
        "items",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
    }
)
SCHEMA_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "format"}
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_schema(schema: Any, where: str = "#") -> None:
    """Raise ValueError naming the place and keyword when ``schema`` is outside the subset."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise ValueError(f"{where}: a schema is an object or a boolean")
    for key, value in schema.items():
        at = f"{where}/{key}"
        if key in SCHEMA_ANNOTATIONS:
            continue
        if key not in SCHEMA_KEYWORDS:
            supported = ", ".join(sorted(SCHEMA_KEYWORDS))
            raise ValueError(f"{at}: unsupported JSON Schema keyword (supported: {supported})")
        if key == "type":
            names = [value] if isinstance(value, str) else value
            if (
                not isinstance(names, list)
                or not names
                or any(n not in SCHEMA_TYPES for n in names)
            ):
                raise ValueError(f"{at}: one of {', '.join(SCHEMA_TYPES)} or a list of them")
        elif key == "required":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{at}: a list of property names")
        elif key == "properties":
            if not isinstance(value, dict):
                raise ValueError(f"{at}: an object of property name -> schema")
            for name, sub in value.items():
                check_schema(sub, f"{at}/{name}")
        elif key in ("additionalProperties", "items"):
            if isinstance(value, list):
                raise ValueError(f"{at}: one schema (the tuple form is not supported)")
            check_schema(value, at)
        elif key == "enum":
            if not isinstance(value, list) or not value:
                raise ValueError(f"{at}: a non-empty list")
        elif key in ("minimum", "maximum"):
            # abs() first: math.isfinite of an integer too large for a float overflows.
            if not _is_number(value) or abs(value) > LIMIT or not math.isfinite(value):
                raise ValueError(f"{at}: a number")
        elif key in ("minLength", "maxLength"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{at}: a non-negative integer")
        elif key == "pattern":
            if not isinstance(value, str):
                raise ValueError(f"{at}: a regular expression string")
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"{at}: invalid regular expression: {err}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _has_type(value: Any, name: str) -> bool:
    actual = _json_type(value)
    if name == "number":
        return actual in ("integer", "number")
    if name == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == name


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def schema_errors(instance: Any, schema: Any, where: str = "$", limit: int = 20) -> list[str]:
    """Where ``instance`` breaks ``schema`` (a schema ``check_schema`` accepts)."""
    out: list[str] = []
    _validate(instance, schema, where, out, limit)
    return out


def _validate(value: Any, schema: Any, where: str, out: list[str], limit: int) -> None:
    if len(out) >= limit or schema is True:
        return
    if schema is False:
        out.append(f"{where}: no value is allowed here")
        return
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else declared
        if not any(_has_type(value, n) for n in names):
            out.append(f"{where}: expected {' or '.join(names)}, got {_json_type(value)}")
            return
    if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
        out.append(f"{where}: {json.dumps(value)[:80]} is not one of the enum values")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{where}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{where}: does not match pattern {schema['pattern']!r}")
    if _is_number(value):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{where}: {value} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{where}: {value} is greater than the maximum {schema['maximum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{where}: missing required property {name!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                _validate(item, props[name], f"{where}.{name}", out, limit)
            elif extra is False:
                out.append(f"{where}: additional property {name!r} is not allowed")
            elif extra is not True:
                _validate(item, extra, f"{where}.{name}", out, limit)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{where}[{i}]", out, limit)
    del out[limit:]


# --------------------------------------------------------------------------- scorers


class ScorerBase(_Strict):
    """Common options: ``name`` is the metric name on the record (default: the type)."""

    type: str
    name: str | None = Field(None, pattern=METRIC)
    needs_target: ClassVar[bool] = False

    @property
    def metric(self) -> str:
        return self.name or self.type

    def missing(self, target: Target) -> str | None:
        """Why this scorer cannot score an example (checked when the dataset loads)."""
        if self.needs_target and not targets_of(target):
            return f"scorer {self.metric!r} needs a target"
        return None

    def score(self, obs: Observation) -> Score:
        raise NotImplementedError

    def with_options(self, options: dict[str, Any]) -> Self:
        """This scorer with per-example options over the configured ones (validated)."""
        fixed = {"type", "name"} & set(options)
        if fixed:
            raise ValueError(f"per-example options cannot change {', '.join(sorted(fixed))}")
        data = self.model_dump(by_alias=True)
        data.update(options)
        return type(self).model_validate(data)


class ExactMatch(ScorerBase):
    """1 when the output equals any target."""

    type: Literal["exact_match"] = "exact_match"
    strip: bool = True
    case_sensitive: bool = True
    needs_target: ClassVar[bool] = True

    def _norm(self, text: str) -> str:
        text = text.strip() if self.strip else text
        return text if self.case_sensitive else text.casefold()

    def score(self, obs: Observation) -> Score:
        out = self._norm(obs.output)
        ok = any(out == self._norm(t) for t in targets_of(obs.target))
        return _verdict(ok, "no target matches exactly")


class NormalizedMatch(ScorerBase):
    """1 when the normalised output equals any normalised target (see ``normalize``)."""

    type: Literal["normalized_match"] = "normalized_match"
    needs_target: ClassVar[bool] = True

    def score(self, obs: Observation) -> Score:
        out = normalize(obs.output)
        ok = any(out == normalize(t) for t in targets_of(obs.target))
        return _verdict(ok, "no target matches after normalisation")


class Contains(ScorerBase):
    """1 when the output contains any (or all) of the targets."""

    type: Literal["contains"] = "contains"
    mode: Literal["any", "all"] = "any"
    case_sensitive: bool = False
    needs_target: ClassVar[bool] = True

    def score(self, obs: Observation) -> Score:
        fold = (lambda s: s) if self.case_sensitive else str.casefold
        out = fold(obs.output)
        found = [fold(t) in out for t in targets_of(obs.target)]
        ok = all(found) if self.mode == "all" else any(found)
        missing = [t for t, f in zip(targets_of(obs.target), found, strict=True) if not f]
        return _verdict(ok, f"missing {json.dumps(missing[:5])[:200]}")


_FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE, "DOTALL": re.DOTALL}


class Regex(ScorerBase):
    """1 when ``pattern`` is found in (``search``) or matches all of (``fullmatch``) the
    output. The pattern may come from the config or per example."""

    type: Literal["regex"] = "regex"
    pattern: str | None = None
    flags: list[Literal["IGNORECASE", "MULTILINE", "DOTALL"]] = Field(default_factory=list)
    match: Literal["search", "fullmatch"] = "search"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"invalid regular expression: {err}") from None
        return value

    def missing(self, target: Target) -> str | None:
        return None if self.pattern is not None else f"scorer {self.metric!r} needs a pattern"

    def score(self, obs: Observation) -> Score:
        if self.pattern is None:
            return Score(0.0, "no pattern")
        flags = 0
        for name in self.flags:
            flags |= _FLAGS[name]
        compiled = re.compile(self.pattern, flags)
        if self.match == "fullmatch":
            found = compiled.fullmatch(obs.output)
        else:
            found = compiled.search(obs.output)
        return _verdict(found is not None, f"pattern {self.pattern!r} does not {self.match}")


class JsonValid(ScorerBase):
    """1 when the output parses as JSON (inside a Markdown code fence allowed)."""

    type: Literal["json_valid"] = "json_valid"
    strip_code_fence: bool = True

    def score(self, obs: Observation) -> Score:
        ok, _, problem = parse_json_output(obs.output, self.strip_code_fence)
        return _verdict(ok, problem or "")


class JsonSchema(ScorerBase):
    """1 when the output is JSON that conforms to ``schema`` (the documented subset)."""

    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any] | bool = Field(alias="schema")
    strip_code_fence: bool = True

    @field_validator("json_schema")
    @classmethod
    def _subset(cls, value: dict[str, Any] | bool) -> dict[str, Any] | bool:
        check_schema(value)
        return value

    def score(self, obs: Observation) -> Score:
        ok, value, problem = parse_json_output(obs.output, self.strip_code_fence)
        if not ok:
            return Score(0.0, problem)
        errors = schema_errors(value, self.json_schema, limit=3)
        return _verdict(not errors, "; ".join(errors)[:300])


class Length(ScorerBase):
    """1 when the output's length in characters and whitespace-separated words is within
    the limits given (at least one)."""

    type: Literal["length"] = "length"
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=0)
    min_words: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if all(v is None for v in (self.min_chars, self.max_chars, self.min_words, self.max_words)):
            raise ValueError("give at least one of min_chars, max_chars, min_words, max_words")
        for lo, hi in ((self.min_chars, self.max_chars), (self.min_words, self.max_words)):
            if lo is not None and hi is not None and lo > hi:
                raise ValueError("a minimum is above its maximum")
        return self

    def score(self, obs: Observation) -> Score:
        chars, words = len(obs.output), len(obs.output.split())
        problems = []
        if self.min_chars is not None and chars < self.min_chars:
            problems.append(f"{chars} chars < {self.min_chars}")
        if self.max_chars is not None and chars > self.max_chars:
            problems.append(f"{chars} chars > {self.max_chars}")
        if self.min_words is not None and words < self.min_words:
            problems.append(f"{words} words < {self.min_words}")
        if self.max_words is not None and words > self.max_words:
            problems.append(f"{words} words > {self.max_words}")
        return _verdict(not problems, "; ".join(problems))


class Latency(ScorerBase):
    """1 when the invocation took at most ``max_ms`` (as measured by the caller)."""

    type: Literal["latency"] = "latency"
    max_ms: float = Field(gt=0)

    def score(self, obs: Observation) -> Score:
        if obs.latency_ms is None:
            return Score(0.0, "latency unknown")
        return _verdict(obs.latency_ms <= self.max_ms, f"{obs.latency_ms:.1f} ms > {self.max_ms}")


class Tokens(ScorerBase):
    """1 when token counts (reported, else estimated) are within the limits given."""

    type: Literal["tokens"] = "tokens"
    max_input_tokens: int | None = Field(None, ge=0)
    max_output_tokens: int | None = Field(None, ge=0)
    max_total_tokens: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if (self.max_input_tokens, self.max_output_tokens, self.max_total_tokens) == (
            None,
            None,
            None,
        ):
            raise ValueError("give at least one of max_input_tokens, max_output_tokens, ...")
        return self

    def score(self, obs: Observation) -> Score:
        if obs.input_tokens is None or obs.output_tokens is None:
            return Score(0.0, "token counts unknown")
        total = obs.input_tokens + obs.output_tokens
        problems = []
        for label, value, limit in (
            ("input", obs.input_tokens, self.max_input_tokens),
            ("output", obs.output_tokens, self.max_output_tokens),
            ("total", total, self.max_total_tokens),
        ):
            if limit is not None and value > limit:
                problems.append(f"{value} {label} tokens > {limit}")
        return _verdict(not problems, "; ".join(problems))


class Cost(ScorerBase):
    """1 when the invocation cost at most ``max_usd`` (needs a price in ``usage``)."""

    type: Literal["cost"] = "cost"
    max_usd: float = Field(ge=0)

    def score(self, obs: Observation) -> Score:
        if obs.cost_usd is None:
            return Score(0.0, "cost unknown")
        return _verdict(obs.cost_usd <= self.max_usd, f"${obs.cost_usd:.6f} > ${self.max_usd}")


ScorerSpec = Annotated[
    ExactMatch
    | NormalizedMatch
    | Contains
    | Regex
    | JsonValid
    | JsonSchema
    | Length
    | Latency
    | Tokens
    | Cost,
    Field(discriminator="type"),
]


def score_all(
    scorers: tuple[ScorerBase, ...] | list[ScorerBase], obs: Observation
) -> tuple[dict[str, float], dict[str, str]]:
    """(metric -> score, metric -> why it failed) for every scorer."""
    scores: dict[str, float] = {}
    details: dict[str, str] = {}
    for scorer in scorers:
        result = scorer.score(obs)
        scores[scorer.metric] = result.value
        if result.detail and result.value < 1.0:
            details[scorer.metric] = result.detail
    return scores, details


# --------------------------------------------------------------------------- requests


class RequestSpec(_Strict):
    """How an example's ``input`` becomes a request body.

    A dict or list input is sent as JSON as it is (``text/csv``: a list of numbers is
    one CSV row, a list of lists several rows). A string input is a prompt: with a JSON
    content type it is wrapped per ``prompt_format`` (``tgi``: ``{"inputs": prompt,
    "parameters": parameters}``; ``openai_chat``: ``{"messages": [{"role": "user",
    "content": prompt}], **parameters}``; ``raw``: the string as the body), with any
    other content type it is the body."""

    content_type: str = Field("application/json", min_length=1, max_length=256)
    prompt_format: Literal["tgi", "openai_chat", "raw"] = "tgi"
    parameters: dict[str, Any] = Field(default_factory=dict)


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = _media(content_type)
    return media == "application/json" or media.endswith("+json")


def build_request(model_input: Any, content_type: str | None, spec: RequestSpec) -> bytes:
    """The request body; ValueError when the input cannot be sent as ``content_type``."""
    ctype = content_type or spec.content_type
    if isinstance(model_input, str):
        if not _is_json(ctype) or spec.prompt_format == "raw":
            return model_input.encode("utf-8")
        if spec.prompt_format == "openai_chat":
            chat = {"messages": [{"role": "user", "content": model_input}], **spec.parameters}
            return json.dumps(chat).encode("utf-8")
        tgi: dict[str, Any] = {"inputs": model_input}
        if spec.parameters:
            tgi["parameters"] = spec.parameters
        return json.dumps(tgi).encode("utf-8")
    if _media(ctype) == "text/csv":
        rows = model_input if isinstance(model_input, list) else None
        if rows and all(not isinstance(r, list) for r in rows):
            rows = [rows]
        if not rows or not all(
            isinstance(r, list) and all(_is_number(v) or isinstance(v, str) for v in r)
            for r in rows
        ):
            raise ValueError("a text/csv input is a string, a list of values or a list of rows")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode("utf-8")
    if not _is_json(ctype):
        raise ValueError(f"a {_media(ctype)} input must be a string")
    return json.dumps(model_input).encode("utf-8")


def prompt_text(model_input: Any) -> str:
    """The text of a request, for the token estimate: a prompt string, TGI ``inputs``,
    ``prompt``, chat ``messages`` contents, else the JSON text."""
    if isinstance(model_input, str):
        return model_input
    if isinstance(model_input, dict):
        for key in ("inputs", "prompt", "text_inputs"):
            value = model_input.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return "\n".join(value)
        messages = model_input.get("messages")
        if isinstance(messages, list):
            parts = [m.get("content") for m in messages if isinstance(m, dict)]
            texts = [p for p in parts if isinstance(p, str)]
            if texts:
                return "\n".join(texts)
    return json.dumps(model_input)


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class Extracted:
    text: str
    document: Any = None  # the parsed JSON body, when it was JSON
    problem: str | None = None


def extract_output(body: bytes, output_path: str | None = None) -> Extracted:
    """The output text of a response: ``output_path`` (JMESPath) when given, else the
    first match of TGI ``[{"generated_text"}]`` / ``{"generated_text"}``, OpenAI-style
    ``choices[0].message.content`` / ``choices[0].text``, a JSON string, or the body."""
    raw = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        if output_path:
            return Extracted("", None, "output_path given but the response is not JSON")
        return Extracted(raw)
    if output_path:
        found = jmespath.search(output_path, doc)
        if found is None:
            return Extracted("", doc, f"output_path {output_path!r} matched nothing")
        return Extracted(found if isinstance(found, str) else json.dumps(found), doc)
    first = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) else doc
    if isinstance(first, dict):
        if isinstance(first.get("generated_text"), str):
            return Extracted(first["generated_text"], doc)
        choices = first.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                return Extracted(message["content"], doc)
            if isinstance(choices[0].get("text"), str):
                return Extracted(choices[0]["text"], doc)
    if isinstance(doc, str):
        return Extracted(doc, doc)
    return Extracted(raw.strip(), doc)


def _count(value: Any) -> int | None:
    """A token count a response reports; beyond records.LIMIT it is no count (and its
    cost, tokens / 1000 * price, would overflow a float)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMIT:
        return None
    return value


def reported_usage(document: Any) -> tuple[int | None, int | None]:
    """(input tokens, output tokens) a response reports: OpenAI-style ``usage``
    (``prompt_tokens``/``completion_tokens``, or ``input_tokens``/``output_tokens``),
    TGI ``details.generated_tokens`` and ``len(details.prefill)`` when non-empty."""
    first = (
        document[0]
        if isinstance(document, list) and document and isinstance(document[0], dict)
        else document
    )
    if not isinstance(first, dict):
        return None, None
    tokens_in: int | None = None
    tokens_out: int | None = None
    usage = first.get("usage")
    if isinstance(usage, dict):
        tokens_in = _count(usage.get("prompt_tokens", usage.get("input_tokens")))
        tokens_out = _count(usage.get("completion_tokens", usage.get("output_tokens")))
    details = first.get("details")
    if isinstance(details, dict):
        if tokens_out is None:
            tokens_out = _count(details.get("generated_tokens"))
        prefill = details.get("prefill")
        if tokens_in is None and isinstance(prefill, list) and prefill:
            tokens_in = len(prefill)
    return tokens_in, tokens_out


class UsageSpec(_Strict):
    """Token counts and cost. Reported counts win; otherwise (``estimate``) a
    tokenizer-free estimate, ``ceil(max(chars / chars_per_token, words *
    tokens_per_word))``, which is about right for English and errs high. Cost is
    ``input_tokens / 1000 * price_per_1k_input_tokens + output_tokens / 1000 *
    price_per_1k_output_tokens`` (a price not given counts as 0), only when a price is
    given."""

    price_per_1k_input_tokens: float | None = Field(None, ge=0)
    price_per_1k_output_tokens: float | None = Field(None, ge=0)
    chars_per_token: float = Field(4.0, gt=0)
    tokens_per_word: float = Field(1.3, gt=0)
    estimate: bool = True

    @property
    def priced(self) -> bool:
        return (
            self.price_per_1k_input_tokens is not None
            or self.price_per_1k_output_tokens is not None
        )

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        if not self.priced or tokens_in is None or tokens_out is None:
            return None
        return tokens_in / 1000 * (self.price_per_1k_input_tokens or 0.0) + tokens_out / 1000 * (
            self.price_per_1k_output_tokens or 0.0
        )


def estimate_tokens(text: str, chars_per_token: float = 4.0, tokens_per_word: float = 1.3) -> int:
    """Tokenizer-free estimate: ``ceil(max(chars / chars_per_token, words *
    tokens_per_word))``; 0 for empty text."""
    if not text:
        return 0
    return math.ceil(max(len(text) / chars_per_token, len(text.split()) * tokens_per_word))


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    estimated: bool


def usage_of(document: Any, prompt: str, output: str, spec: UsageSpec) -> Usage:
    tokens_in, tokens_out = reported_usage(document)
    estimated = False
    if spec.estimate:
        if tokens_in is None:
            tokens_in = estimate_tokens(prompt, spec.chars_per_token, spec.tokens_per_word)
            estimated = True
        if tokens_out is None:
            tokens_out = estimate_tokens(output, spec.chars_per_token, spec.tokens_per_word)
            estimated = True
    return Usage(tokens_in, tokens_out, spec.cost(tokens_in, tokens_out), estimated)


# --------------------------------------------------------------------------- judge and config


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_path(value: str | None) -> str | None:
    if value is not None:
        try:
            jmespath.compile(value)
        except JMESPathError as err:
            raise ValueError(f"invalid JMESPath expression: {err}") from None
    return value


class JudgeSpec(_Strict):
    """LLM-as-judge on a SageMaker endpoint. ``rubric`` is the prompt template:
    ``{output}``, ``{target}`` and ``{input}`` are replaced (nothing else is special,
    so JSON braces are safe). The judge's answer text must contain a number; the first
    one, divided by ``scale_max`` and clipped to [0, 1], is the score."""

    endpoint_name: str = Field(pattern=NAME)
    variant: str | None = Field(None, pattern=NAME)
    model: str | None = Field(None, min_length=1, max_length=256)
    rubric: str = Field(min_length=1)
    name: str = Field("judge", pattern=METRIC)
    request: RequestSpec = Field(default_factory=RequestSpec)
    output_path: str | None = None
    scale_max: float = Field(1.0, gt=0)
    cache_uri: str | None = Field(None, pattern=r"^s3://[^/]+(/.*)?$")

    @field_validator("output_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return _check_path(value)

    @field_validator("rubric")
    @classmethod
    def _mentions_output(cls, value: str) -> str:
        if "{output}" not in value:
            raise ValueError("the rubric must contain {output}")
        return value

    @property
    def label(self) -> str:
        """The judge model recorded on every record."""
        if self.model:
            return self.model
        return f"{self.endpoint_name}/{self.variant}" if self.variant else self.endpoint_name

    @property
    def prompt_hash(self) -> str:
        return sha256_text(self.rubric)


class ScorerConfig(_Strict):
    """Which scorers run, how requests are built and responses read, and the judge."""

    version: str = Field("1", min_length=1, max_length=64)
    scorers: list[ScorerSpec] = Field(default_factory=list)
    request: RequestSpec = Field(default_factory=RequestSpec)
    output_path: str | None = None
    usage: UsageSpec = Field(default_factory=UsageSpec)
    judge: JudgeSpec | None = None

    @field_validator("output_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return _check_path(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [s.metric for s in self.scorers] + ([self.judge.name] if self.judge else [])
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        if any(isinstance(s, Cost) for s in self.scorers) and not self.usage.priced:
            raise ValueError("a cost scorer needs usage.price_per_1k_*_tokens")
        return self

    def by_metric(self) -> dict[str, ScorerBase]:
        return {s.metric: s for s in self.scorers}

    def fingerprint(self) -> str:
        return sha256_text(json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True))
