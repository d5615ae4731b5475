"""The eval runner: an eval dataset against the candidate and champion variants of an
endpoint, scored, written as evaluation records (one JSON Lines file per system).

Pure orchestration over ports, so the Lambda handler and the CLI run the same code:

- :class:`Invoker` calls one production variant (SageMaker ``InvokeEndpoint`` with
  ``TargetVariant``, implemented by the runtime adapter); a model error is an answer with
  its status, not an exception.
- :class:`Store` reads and writes text objects (S3).
- :class:`Judge` scores an output against a rubric (optional, pluggable);
  :class:`CachedJudge` puts an in-memory and an optional :class:`JudgeCacheStore`
  cache in front of any judge.

Work is planned in a fixed order (dataset order, then repeat, then candidate before
champion) and results come back in that order whatever runs them: the caller passes
``map_fn`` (``ThreadPoolExecutor.map`` for bounded concurrency; in order by default).
A failed invocation is a record with an ``error``, scores 0 on every scorer, counted
per system and kind; bad dataset lines are counted and skipped; nothing is dropped
silently.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from release_guard.errors import InvalidReleaseRequest
from release_guard.events import NAME, RELEASE_ID
from release_guard.gate.records import EvalRecord, Problems, System, dump_lines
from release_guard.gate.scorers import (
    JudgeSpec,
    Observation,
    ScorerBase,
    ScorerConfig,
    Target,
    build_request,
    extract_output,
    parse_json_output,
    prompt_text,
    score_all,
    sha256_text,
    usage_of,
)
from release_guard.policy import Strict, describe_validation

S3_PREFIX = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$"
S3_OBJECT = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+$"
MAX_IDS = 20
JSONL = "application/x-ndjson"

# --------------------------------------------------------------------------- ports


class Invoker(Protocol):
    def invoke(
        self, endpoint: str, variant: str | None, body: bytes, content_type: str
    ) -> tuple[int, bytes, str, float]:
        """(status, body, content type, latency in ms). A model error is an answer with
        the container's status; raise only what should stop the whole run."""
        ...


class Store(Protocol):
    def read_text(self, uri: str, field: str) -> str | None:
        """The object's text, None when it does not exist; an object that cannot be read
        (no access, no bucket) is InvalidReleaseRequest naming ``field``."""
        ...

    def write_text(self, uri: str, text: str, content_type: str) -> None: ...


class JudgeCacheStore(Protocol):
    def get(self, key: str) -> float | None: ...

    def put(self, key: str, value: float) -> None: ...


class Judge(Protocol):
    @property
    def model(self) -> str:
        """What is recorded as the judge model."""
        ...

    def score(self, output: str, target: Target, rubric: str) -> float:
        """A score in [0, 1]; raise JudgeError when the judge gives none."""
        ...


class JudgeError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


# --------------------------------------------------------------------------- the judge

_PLACEHOLDER = re.compile(r"\{(input|output|target)\}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def target_text(target: Target) -> str:
    if target is None:
        return ""
    return target if isinstance(target, str) else "\n".join(target)


def render(template: str, **values: str) -> str:
    """Replace ``{input}``, ``{output}``, ``{target}`` given in ``values``, in one pass
    (other braces are left alone, so a JSON rubric needs no escaping)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def judge_number(text: str) -> float | None:
    """The judge's score: ``{"score": n}`` when the answer is such JSON, else the first
    number in the text."""
    ok, doc, _ = parse_json_output(text)
    if ok and isinstance(doc, dict):
        value = doc.get("score")
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # a 400-digit integer is JSON too: no finite score
                return math.inf
    found = _NUMBER.search(text)
    return float(found.group()) if found else None


class EndpointJudge:
    """A judge model behind a SageMaker endpoint, called through the same Invoker."""

    def __init__(self, invoker: Invoker, spec: JudgeSpec) -> None:
        self.invoker = invoker
        self.spec = spec

    @property
    def model(self) -> str:
        return self.spec.label

    def score(self, output: str, target: Target, rubric: str) -> float:
        prompt = render(rubric, output=output, target=target_text(target))
        request = self.spec.request
        body = build_request(prompt, None, request)
        status, answer, _, _ = self.invoker.invoke(
            self.spec.endpoint_name, self.spec.variant, body, request.content_type
        )
        if not 200 <= status < 300:
            raise JudgeError(f"HTTP {status}", answer.decode("utf-8", "replace")[:200])
        extracted = extract_output(answer, self.spec.output_path)
        if extracted.problem:
            raise JudgeError("unreadable answer", extracted.problem)
        value = judge_number(extracted.text)
        if value is None or not math.isfinite(value):
            raise JudgeError("no score", f"no number in {extracted.text[:100]!r}")
        return min(1.0, max(0.0, value / self.spec.scale_max))


class CachedJudge:
    """Scores cached by (judge model, rubric hash, target, output): in memory, then in
    ``store`` when given. The target is part of the key because a rubric may show it;
    failures are never cached."""

    def __init__(self, inner: Judge, store: JudgeCacheStore | None = None) -> None:
        self.inner = inner
        self.store = store
        self.hits = 0
        self.calls = 0
        self._memory: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.inner.model

    def key(self, output: str, target: Target, rubric: str) -> str:
        return sha256_text(json.dumps([self.model, sha256_text(rubric), target, output]))

    def score(self, output: str, target: Target, rubric: str) -> float:
        key = self.key(output, target, rubric)
        with self._lock:
            if key in self._memory:
                self.hits += 1
                return self._memory[key]
        stored = self.store.get(key) if self.store is not None else None
        if stored is not None:
            with self._lock:
                self._memory[key] = stored
                self.hits += 1
            return stored
        value = self.inner.score(output, target, rubric)
        with self._lock:
            self._memory[key] = value
            self.calls += 1
        if self.store is not None:
            self.store.put(key, value)
        return value


# --------------------------------------------------------------------------- requests


class RunEvalRequest(Strict):
    """The Run Eval event (and the CLI's arguments)."""

    endpoint_name: str = Field(pattern=NAME)
    candidate_variant: str = Field(pattern=NAME)
    champion_variant: str = Field(pattern=NAME)
    dataset_uri: str = Field(pattern=S3_OBJECT, description="JSON Lines, one example a line")
    output_prefix: str = Field(pattern=S3_PREFIX)
    scorers: ScorerConfig = Field(default_factory=ScorerConfig)
    repeats: int = Field(1, ge=1, le=20)
    release_id: str | None = Field(None, pattern=RELEASE_ID)
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")
    overwrite: bool = Field(False, description="re-run even when results exist")

    @field_validator("champion_variant")
    @classmethod
    def _two_variants(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("candidate_variant"):
            raise ValueError("a variant other than candidate_variant")
        return value

    def fingerprint(self) -> str:
        """What makes two runs the same: a rerun with this fingerprint reuses results."""
        return sha256_text(
            json.dumps(
                [
                    self.endpoint_name,
                    self.candidate_variant,
                    self.champion_variant,
                    self.dataset_uri,
                    self.repeats,
                    self.scorers.fingerprint(),
                ]
            )
        )


def parse_request(event: Any, field: str = "request") -> RunEvalRequest:
    """Validate the event; the error names the field, what was expected and what came."""
    if not isinstance(event, dict):
        raise InvalidReleaseRequest(field, "a JSON object", type(event).__name__)
    try:
        return RunEvalRequest.model_validate(event)
    except ValidationError as err:
        path, expected = describe_validation(err, field)
        first = err.errors()[0]
        got = first.get("input") if first["type"] != "missing" else None
        if not isinstance(got, str | int | float | bool):
            got = None
        elif isinstance(got, str) and len(got) > 120:
            got = got[:117] + "..."
        raise InvalidReleaseRequest(path, expected, got) from None


# --------------------------------------------------------------------------- the dataset


class EvalExample(Strict):
    """One dataset line. ``scorer_options`` maps a configured metric name to options
    over that scorer's configured ones, for this example only."""

    id: str = Field(min_length=1, max_length=512)
    input: Any
    target: str | list[str] | None = None
    category: str | None = None
    cluster_id: str | None = None
    content_type: str | None = Field(None, min_length=1, max_length=256)
    scorer_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None

    @field_validator("id", "cluster_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("input")
    @classmethod
    def _present(cls, value: Any) -> Any:
        if value is None or value == "" or value == [] or value == {}:
            raise ValueError("a prompt string or a request payload")
        return value


@dataclass(frozen=True)
class Prepared:
    """An example ready to send: its body, content type and effective scorers."""

    example: EvalExample
    scorers: tuple[ScorerBase, ...]
    body: bytes
    content_type: str
    prompt: str


def _validation_kind(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    kind = f"missing {loc}" if first["type"] == "missing" else f"invalid {loc.split('.')[0]}"
    return kind, f"{loc}: {first['msg']}"


def parse_dataset(text: str, source: str, config: ScorerConfig) -> tuple[list[Prepared], Problems]:
    """JSON Lines -> examples ready to send; bad lines counted as ``file:line: reason``."""
    examples: list[Prepared] = []
    problems = Problems()
    seen: set[str] = set()
    configured = config.by_metric()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            raw = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            problems.add("invalid JSON", f"{where}: {getattr(err, 'msg', 'nested too deeply')}")
            continue
        if not isinstance(raw, dict):
            problems.add("invalid JSON", f"{where}: not an object")
            continue
        try:
            example = EvalExample.model_validate(raw)
        except ValidationError as err:
            kind, detail = _validation_kind(err)
            problems.add(kind, f"{where}: {detail}")
            continue
        if example.id in seen:
            problems.add("duplicate id", f"{where}: {example.id}")
            continue
        try:
            prepared = _prepare(example, config, configured)
        except ValueError as err:
            kind, _, detail = str(err).partition("|")
            problems.add(kind, f"{where}: {detail}")
            continue
        seen.add(example.id)
        examples.append(prepared)
    if not examples and not problems.counts:
        problems.add("empty file", source)
    return examples, problems


def _prepare(
    example: EvalExample, config: ScorerConfig, configured: dict[str, ScorerBase]
) -> Prepared:
    unknown = sorted(set(example.scorer_options) - set(configured))
    if unknown:
        raise ValueError(f"invalid scorer_options|no configured scorer named {unknown[0]!r}")
    scorers = []
    for metric, scorer in configured.items():
        options = example.scorer_options.get(metric)
        if options:
            try:
                scorer = scorer.with_options(options)
            except ValidationError as err:
                first = err.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"invalid scorer_options|{metric}.{loc}: {first['msg']}") from None
            except ValueError as err:
                raise ValueError(f"invalid scorer_options|{metric}: {err}") from None
        reason = scorer.missing(example.target)
        if reason:
            raise ValueError(f"unscorable example|{reason}")
        scorers.append(scorer)
    content_type = example.content_type or config.request.content_type
    try:
        body = build_request(example.input, content_type, config.request)
    except ValueError as err:
        raise ValueError(f"invalid input|{err}") from None
    return Prepared(example, tuple(scorers), body, content_type, prompt_text(example.input))


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Task:
    example: Prepared
    system: System
    variant: str
    sample_index: int


@dataclass(frozen=True)
class Outcome:
    record: EvalRecord
    error_kind: str | None = None  # the invocation failed
    judge_error: str | None = None  # the judge gave no score


def plan(examples: list[Prepared], repeats: int, candidate: str, champion: str) -> list[Task]:
    """Every (example, repeat, system) in a fixed order; candidate and champion of one
    example next to each other, so drifts over the run hit both alike."""
    systems: tuple[tuple[System, str], ...] = (("candidate", candidate), ("champion", champion))
    return [
        Task(ex, system, variant, i)
        for ex in examples
        for i in range(repeats)
        for system, variant in systems
    ]


class Evaluator:
    """Invoke, extract, score and judge one task (thread-safe)."""

    def __init__(
        self, endpoint: str, config: ScorerConfig, invoker: Invoker, judge: Judge | None
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.invoker = invoker
        self.judge = judge if config.judge is not None else None

    def __call__(self, task: Task) -> Outcome:
        ex = task.example
        status, body, _, latency = self.invoker.invoke(
            self.endpoint, task.variant, ex.body, ex.content_type
        )
        base: dict[str, Any] = {
            "id": ex.example.id,
            "system": task.system,
            "variant": task.variant,
            "model_input": ex.example.input,
            "target_output": ex.example.target,
            "category": ex.example.category,
            "cluster_id": ex.example.cluster_id,
            "sample_index": task.sample_index,
            "status": status,
        }
        if ex.example.metadata:
            base["metadata"] = ex.example.metadata
        spec = self.config.judge
        if spec is not None and self.judge is not None:
            base["judge"] = {"model": self.judge.model, "prompt_hash": spec.prompt_hash}
        if not 200 <= status < 300:
            kind = f"HTTP {status}"
            message = error_message(body)
            scores = {s.metric: 0.0 for s in ex.scorers}
            if spec is not None and self.judge is not None:
                scores[spec.name] = 0.0
            # No latency_ms: the time to an error is not the model's latency.
            record = {
                **base,
                "scores": scores,
                "error": f"{kind}: {message}",
                "elapsed_ms": round(max(0.0, latency), 3),
            }
            return Outcome(EvalRecord.model_validate(record), error_kind=kind)

        extracted = extract_output(body, self.config.output_path)
        usage = usage_of(extracted.document, ex.prompt, extracted.text, self.config.usage)
        obs = Observation(
            output=extracted.text,
            target=ex.example.target,
            latency_ms=latency,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
        )
        scores, details = score_all(ex.scorers, obs)
        if extracted.problem:
            details["output"] = extracted.problem
        judge_error = None
        if spec is not None and self.judge is not None:
            rubric = render(spec.rubric, input=ex.prompt)
            try:
                value = self.judge.score(extracted.text, ex.example.target, rubric)
                if not math.isfinite(value):
                    raise JudgeError("no score", f"not a finite number: {value}")
                scores[spec.name] = value
            except JudgeError as err:
                judge_error = err.kind
                details[spec.name] = str(err)[:300]
        record = {
            **base,
            "latency_ms": round(max(0.0, latency), 3),
            "model_output": extracted.text,
            "scores": scores,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": None if usage.cost_usd is None else round(usage.cost_usd, 10),
        }
        if usage.estimated:
            record["tokens_estimated"] = True
        if details:
            record["details"] = details
        return Outcome(EvalRecord.model_validate(record), judge_error=judge_error)


def error_message(body: bytes) -> str:
    """An error body as one short line: ``code: message`` of a JSON error, else the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        code = doc.get("error") or doc.get("ErrorCode")
        text = f"{code}: {doc['message']}" if isinstance(code, str) else doc["message"]
    return " ".join(text.split())[:500]


def serial[T, R](fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    return [fn(item) for item in items]


Mapper = Callable[[Callable[[Task], Outcome], Iterable[Task]], Iterable[Outcome]]


def run_tasks(
    tasks: list[Task],
    endpoint: str,
    config: ScorerConfig,
    invoker: Invoker,
    judge: Judge | None = None,
    map_fn: Mapper = serial,
) -> list[Outcome]:
    """Outcomes in task order, whatever order ``map_fn`` runs them in."""
    return list(map_fn(Evaluator(endpoint, config, invoker, judge), tasks))


# --------------------------------------------------------------------------- results


class FailureTally(Strict):
    failed: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    ids: list[str] = Field(default_factory=list, description=f"the first {MAX_IDS} example ids")


class DatasetTally(Strict):
    skipped: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    examples: dict[str, list[str]] = Field(default_factory=dict)


class EvalErrors(Strict):
    candidate: FailureTally = Field(default_factory=FailureTally)
    champion: FailureTally = Field(default_factory=FailureTally)
    judge: FailureTally = Field(default_factory=FailureTally)
    dataset: DatasetTally = Field(default_factory=DatasetTally)


class JudgeSummary(Strict):
    model: str
    prompt_hash: str
    calls: int = Field(0, description="judge invocations (cache misses)")
    cache_hits: int = 0


class RunEvalResult(Strict):
    release_id: str | None
    endpoint_name: str
    candidate_variant: str
    champion_variant: str
    dataset_uri: str
    candidate_uri: str
    champion_uri: str
    manifest_uri: str
    examples: int = Field(description="valid dataset examples run")
    repeats: int
    records: dict[str, int] = Field(description="records written per system")
    errors: EvalErrors
    scorer_version: str
    fingerprint: str
    judge: JudgeSummary | None = None
    reused: bool = Field(False, description="results of an identical earlier run")


def output_uris(prefix: str) -> tuple[str, str, str]:
    """(candidate, champion, manifest) object URIs under ``prefix``."""
    base = prefix.rstrip("/")
    return f"{base}/candidate.jsonl", f"{base}/champion.jsonl", f"{base}/manifest.json"


def tally(outcomes: Iterable[Outcome], kind_of: Callable[[Outcome], str | None]) -> FailureTally:
    """Failures by kind, and the first example ids, of the outcomes ``kind_of`` flags."""
    kinds: Counter[str] = Counter()
    ids: list[str] = []
    for o in outcomes:
        kind = kind_of(o)
        if kind is None:
            continue
        kinds[kind] += 1
        if o.record.id not in ids and len(ids) < MAX_IDS:
            ids.append(o.record.id)
    return FailureTally(failed=sum(kinds.values()), by_kind=dict(sorted(kinds.items())), ids=ids)


def _invocation_error(system: System) -> Callable[[Outcome], str | None]:
    return lambda o: o.error_kind if o.record.system == system else None


@dataclass(frozen=True)
class Ports:
    invoker: Invoker
    store: Store
    endpoint_variants: Callable[[str], list[str] | None]
    judge_cache: Callable[[str], JudgeCacheStore] | None = None  # from JudgeSpec.cache_uri
    judge: Judge | None = None  # instead of an EndpointJudge built from the config


def _reuse(request: RunEvalRequest, manifest: str, prefix_field: str) -> RunEvalResult:
    try:
        prior = RunEvalResult.model_validate(json.loads(manifest)["result"])
    except (ValueError, KeyError, TypeError):
        prior = None
    if prior is None or prior.fingerprint != request.fingerprint():
        raise InvalidReleaseRequest(
            prefix_field,
            "a prefix without results of a different eval run (or overwrite: true)",
            request.output_prefix,
        )
    return prior.model_copy(update={"reused": True})


def _check_variants(request: RunEvalRequest, variants: list[str] | None) -> None:
    if variants is None:
        raise InvalidReleaseRequest(
            "request.endpoint_name", "an existing endpoint", request.endpoint_name
        )
    for field in ("candidate_variant", "champion_variant"):
        name = getattr(request, field)
        if name not in variants:
            raise InvalidReleaseRequest(
                f"request.{field}",
                f"a production variant of {request.endpoint_name} ({', '.join(variants)})",
                name,
            )


def execute(request: RunEvalRequest, ports: Ports, map_fn: Mapper = serial) -> RunEvalResult:
    """Run the eval and write its records, or return an identical earlier run's result.
    Everything is validated before the first invocation."""
    candidate_uri, champion_uri, manifest_uri = output_uris(request.output_prefix)
    if not request.overwrite:
        manifest = ports.store.read_text(manifest_uri, "request.output_prefix")
        if manifest is not None:
            return _reuse(request, manifest, "request.output_prefix")
    _check_variants(request, ports.endpoint_variants(request.endpoint_name))
    text = ports.store.read_text(request.dataset_uri, "request.dataset_uri")
    if text is None:
        raise InvalidReleaseRequest(
            "request.dataset_uri", "an existing object (JSON Lines)", request.dataset_uri
        )
    config = request.scorers
    examples, problems = parse_dataset(text, request.dataset_uri, config)
    if not examples:
        found = ", ".join(f"{k}: {n}" for k, n in sorted(problems.counts.items()))
        raise InvalidReleaseRequest(
            "request.dataset_uri", f"at least one valid example (found {found})"
        )

    judge: CachedJudge | None = None
    if config.judge is not None:
        inner = ports.judge or EndpointJudge(ports.invoker, config.judge)
        store = None
        if config.judge.cache_uri and ports.judge_cache is not None:
            store = ports.judge_cache(config.judge.cache_uri)
        judge = CachedJudge(inner, store)

    tasks = plan(examples, request.repeats, request.candidate_variant, request.champion_variant)
    outcomes = run_tasks(tasks, request.endpoint_name, config, ports.invoker, judge, map_fn)
    by_system: dict[System, list[EvalRecord]] = {"candidate": [], "champion": []}
    for o in outcomes:
        by_system[o.record.system].append(o.record)
    ports.store.write_text(candidate_uri, dump_lines(by_system["candidate"]), JSONL)
    ports.store.write_text(champion_uri, dump_lines(by_system["champion"]), JSONL)

    result = RunEvalResult(
        release_id=request.release_id,
        endpoint_name=request.endpoint_name,
        candidate_variant=request.candidate_variant,
        champion_variant=request.champion_variant,
        dataset_uri=request.dataset_uri,
        candidate_uri=candidate_uri,
        champion_uri=champion_uri,
        manifest_uri=manifest_uri,
        examples=len(examples),
        repeats=request.repeats,
        records={system: len(records) for system, records in by_system.items()},
        errors=EvalErrors(
            candidate=tally(outcomes, _invocation_error("candidate")),
            champion=tally(outcomes, _invocation_error("champion")),
            judge=tally(outcomes, lambda o: o.judge_error),
            dataset=DatasetTally(
                skipped=sum(problems.counts.values()),
                by_kind=dict(sorted(problems.counts.items())),
                examples=problems.examples,
            ),
        ),
        scorer_version=config.version,
        fingerprint=request.fingerprint(),
        judge=None
        if judge is None or config.judge is None
        else JudgeSummary(
            model=judge.model,
            prompt_hash=config.judge.prompt_hash,
            calls=judge.calls,
            cache_hits=judge.hits,
        ),
    )
    manifest_doc = {
        "result": result.model_dump(mode="json"),
        "request": request.model_dump(mode="json", by_alias=True),
    }
    ports.store.write_text(manifest_uri, json.dumps(manifest_doc, indent=1), "application/json")
    return result
