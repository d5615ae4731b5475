"""Other tools' evaluation results -> ``EvalRecord``s.

Pure functions: each takes a file's text and a name for it (its URI) and returns
``(records, problems)``. Nothing is read from disk or S3 here, and nothing in a file can
raise: an unreadable or wrong-shaped file, or a bad row, is a ``Problems`` entry naming
the file and the line (JSON Lines) or the JSON path of what was wrong. A row is either a
record or a counted problem, never silently dropped. Supported formats, versions and the
field mapping of each tool are in docs/eval-formats.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import ValidationError

from release_guard.gate.records import LIMIT, EvalRecord, Problems, System, bulk, parse_lines

Format = Literal["records", "promptfoo", "fmeval", "deepeval"]
Parser = Callable[[str, str, str], tuple[list[EvalRecord], Problems]]

SYSTEMS: tuple[System, ...] = ("candidate", "champion")

FORMAT_NAMES: dict[str, str] = {
    "promptfoo": "a promptfoo results file",
    "fmeval": "fmeval output records",
    "deepeval": "a DeepEval test run",
    "records": "release-guard eval records",
}

# promptfoo assertion types graded by an LLM (a "judge"); `not-` variants count too.
PROMPTFOO_MODEL_GRADED = frozenset(
    {
        "answer-relevance",
        "context-faithfulness",
        "context-recall",
        "context-relevance",
        "conversation-relevance",
        "factuality",
        "g-eval",
        "llm-rubric",
        "model-graded-closedqa",
        "model-graded-factuality",
        "search-rubric",
        "select-best",
    }
)

# fmeval writes no row id: a row is identified by the dataset columns that do not depend
# on the model or the prompt template, so a candidate with a new template still pairs.
FMEVAL_ID_COLUMNS = (
    "model_input",
    "target_output",
    "category",
    "context",
    "sent_more_input",
    "sent_less_input",
)

# from_mapping targets: EvalRecord fields (the caller gives `system`), plus these.
_MAPPING_FIELDS = frozenset(EvalRecord.model_fields) - {"system", "judge"}
_MAPPING_EXTRA = frozenset({"judge.model", "judge.prompt_hash"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_JSON = object()
_DECODER = json.JSONDecoder()
# JSON's whitespace, between concatenated values; it matches everywhere (maybe nothing).
_SPACE = re.compile(r"[ \t\n\r]*")
Result = tuple[list[EvalRecord], Problems]


def _guarded[**P](adapter: Callable[P, Result]) -> Callable[P, Result]:
    """An adapter that no file can make raise, and that collects no garbage while it
    makes records (records.bulk). json refuses nesting deeper than the interpreter's
    recursion limit, but a document just under it can still exhaust the stack later
    (json.dumps of its vars, repr in a message, a JMESPath comparison): that file is
    one ``invalid JSON`` problem, as if json had refused it."""

    @functools.wraps(adapter)
    def run(*args: P.args, **kwargs: P.kwargs) -> Result:
        try:
            with bulk():
                return adapter(*args, **kwargs)
        except RecursionError:
            problems = Problems()
            source = args[1] if len(args) > 1 else kwargs.get("source", "?")
            problems.add("invalid JSON", f"{source}: nested too deeply")
            return [], problems

    return run


# ---------------------------------------------------------------- locations and values


@dataclass(frozen=True)
class _At:
    """Where something is: ``file`` or ``file:line``, and a JSON path inside it."""

    prefix: str
    path: str = "$"

    def at(self, key: str | int) -> _At:
        if isinstance(key, int):
            return _At(self.prefix, f"{self.path}[{key}]")
        if _IDENT.match(key):
            return _At(self.prefix, f"{self.path}.{key}")
        return _At(self.prefix, f"{self.path}[{json.dumps(key)}]")

    def __str__(self) -> str:
        return f"{self.prefix}: {self.path}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _measure(value: Any) -> float | None:
    """A JSON number as a float, None when it is not a number. An integer too large for
    a float (a 400-digit one is valid JSON) becomes inf instead of raising: EvalRecord
    refuses inf, NaN and anything beyond records.LIMIT, so a latency or cost like that
    makes the record an ``invalid <field>`` problem, never a silently missing value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _number(value: Any) -> float | None:
    """A finite JSON number (not a boolean) within records.LIMIT as a float, else None;
    compared as a float, as EvalRecord compares its fields."""
    number = _measure(value)
    return number if number is not None and abs(number) <= LIMIT else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _text(value: Any) -> str | None:
    """A non-empty string, or a number as a string (ids, categories)."""
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _hash(value: Any, length: int = 64) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def _put_score(
    scores: dict[str, float],
    name: str,
    value: Any,
    at: _At,
    problems: Problems,
    *,
    booleans: bool = False,
) -> None:
    """Add one score; a value that is not a finite number is counted, not guessed."""
    if booleans and isinstance(value, bool):
        scores[name] = 1.0 if value else 0.0
        return
    number = _number(value)
    if number is None:
        problems.add("non-numeric score", f"{at}: {name}: {_short(value)}")
        return
    scores[name] = number


def _record(fields: dict[str, Any], at: _At, problems: Problems) -> EvalRecord | None:
    try:
        return EvalRecord.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "missing":
            kind = f"missing {loc}"
        elif loc.startswith("scores"):
            kind = "non-numeric score"
        else:
            kind = f"invalid {loc}"
        problems.add(kind, f"{at}: {loc}: {first['msg']}")
        return None


# ---------------------------------------------------------------- reading JSON


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also an integer of > 4300 digits
        return _NOT_JSON


def _first_value(line: str) -> Any:
    """The first JSON value of a line, even when more follow it without a newline."""
    try:
        return _DECODER.raw_decode(line, _skip_space(line, 0))[0]
    except (ValueError, RecursionError):
        return _NOT_JSON


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _why(err: ValueError | RecursionError) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return err.msg if isinstance(err, json.JSONDecodeError) else str(err)


def _load_json(text: str, source: str, problems: Problems) -> Any:
    """The whole text as one JSON document, or _NOT_JSON with the problem counted."""
    if not text.strip():
        problems.add("empty file", source)
        return _NOT_JSON
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        problems.add("invalid JSON", f"{source}:{err.lineno}:{err.colno}: {err.msg}")
    except (ValueError, RecursionError) as err:
        problems.add("invalid JSON", f"{source}: {_why(err)}")
    return _NOT_JSON


def _load_document(text: str, source: str, expected: str, problems: Problems) -> Any:
    """One JSON document; JSON Lines (another tool's) is a wrong format, not broken JSON."""
    doc = _loads(text)
    if doc is _NOT_JSON and isinstance(_first_value(_first_line(text)), dict):
        _wrong_format(text, source, expected, problems)
        return _NOT_JSON
    return _load_json(text, source, problems) if doc is _NOT_JSON else doc


def _json_lines(text: str, source: str, problems: Problems) -> Iterator[tuple[_At, Any]]:
    """Each JSON value of the text, one after the other, at the line where it starts; a
    value that is not an object is counted. Values need not be one a line: fmeval's S3
    save strategy uploads each batch as a multipart part, its records joined by newlines
    but the parts by nothing, so a line can hold the last record of one part and the
    first of the next. A value that does not parse is counted at its line and reading
    resumes on the next line, as for JSON Lines. Linear: raw_decode reads in place."""
    end, line, counted = len(text), 1, 0
    pos = _skip_space(text, 0)
    while pos < end:
        line += text.count("\n", counted, pos)
        counted = pos
        where = f"{source}:{line}"
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as err:
            problems.add("invalid JSON", f"{where}: {_why(err)}")
            newline = text.find("\n", pos)
            pos = end if newline < 0 else newline + 1
        else:
            if isinstance(value, dict):
                yield _At(where), value
            else:
                problems.add("invalid JSON", f"{where}: not an object")
        pos = _skip_space(text, pos)


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _read_lines(
    text: str,
    source: str,
    expected: str,
    problems: Problems,
    wrong_shape: Callable[[dict[str, Any]], bool],
) -> list[tuple[_At, Any]]:
    """The rows of a JSON Lines file; a whole JSON document (pretty-printed, or broken at
    some line) is one problem, not one per line."""
    if not text.strip():
        problems.add("empty file", source)
        return []
    first = _first_value(_first_line(text))
    if not isinstance(first, dict):
        if _loads(text) is not _NOT_JSON:
            _wrong_format(text, source, expected, problems)
            return []
        if _first_line(text).strip() in ("{", "["):
            _load_json(text, source, problems)  # counts the error at its line and column
            return []
    elif wrong_shape(first):
        _wrong_format(text, source, expected, problems)
        return []
    return list(_json_lines(text, source, problems))


def _shape(doc: Any) -> str | None:
    """Which tool wrote this JSON document (or one JSON Lines row)."""
    if not isinstance(doc, dict):
        return None
    results = doc.get("results")
    if isinstance(results, dict) and isinstance(results.get("results"), list):
        return "promptfoo"
    if {"testCases", "testRunData", "conversationalTestCases"} & doc.keys():
        return "deepeval"
    if "testIdx" in doc and "promptIdx" in doc:
        return "promptfoo"
    if isinstance(doc.get("scores"), list):
        return "fmeval"
    if "id" in doc and "system" in doc:
        return "records"
    return None


def detect_format(text: str) -> str | None:
    """Which tool wrote ``text`` ("promptfoo", "fmeval", "deepeval", "records"), or None."""
    doc = _loads(text)
    if doc is _NOT_JSON:
        doc = _first_value(_first_line(text))
    return _shape(doc)


def _found(text: str) -> str:
    """What a file looks like, for a wrong-format message."""
    if not text.strip():
        return "an empty file"
    kind = detect_format(text)
    if kind:
        return FORMAT_NAMES[kind]
    doc = _loads(text)
    if doc is _NOT_JSON:
        first = _first_value(_first_line(text))
        if isinstance(first, dict):
            return f"JSON Lines whose first row has keys {_keys(first)}"
        if first is _NOT_JSON:
            return "text that is not JSON"
    if isinstance(doc, list):
        return "a JSON array"
    if isinstance(doc, dict):
        return f"a JSON object with keys {_keys(doc)}"
    return "JSON of an unknown shape"


def _keys(doc: dict[str, Any]) -> str:
    names = sorted(doc)
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") if names else "(none)"


def _wrong_format(text: str, source: str, expected: str, problems: Problems) -> None:
    problems.add("wrong format", f"{source}: expected {expected}, found {_found(text)}")


# ---------------------------------------------------------------- promptfoo


def _provider_id(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return _text(value.get("id"))
    return None


def _promptfoo_judge(row: dict[str, Any], config: dict[str, Any]) -> dict[str, str] | None:
    """The grader of the row's model-graded assertions, when the file names it."""
    test = _dict(row.get("testCase"))
    assertions = test.get("assert")
    if not isinstance(assertions, list):
        results = _dict(row.get("gradingResult")).get("componentResults")
        assertions = [_dict(c).get("assertion") for c in results or []]
    fallback = _provider_id(_dict(test.get("options")).get("provider")) or _provider_id(
        _dict(_dict(config.get("defaultTest")).get("options")).get("provider")
    )
    graders: set[str] = set()
    rubrics: list[Any] = []
    pending = list(assertions or [])
    while pending:
        assertion = pending.pop()
        if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
            continue
        if assertion["type"] == "assert-set" and isinstance(assertion.get("assert"), list):
            pending.extend(assertion["assert"])
            continue
        kind = assertion["type"].removeprefix("not-")
        if kind not in PROMPTFOO_MODEL_GRADED:
            continue
        grader = _provider_id(assertion.get("provider")) or fallback
        if grader:
            graders.add(grader)
        rubrics.append([kind, assertion.get("value"), assertion.get("rubricPrompt")])
    if not graders:
        return None  # promptfoo's default grader is not written to the file
    rubrics.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return {"model": ",".join(sorted(graders)), "prompt_hash": _hash(rubrics)}


def _assertion_names(components: Any) -> Iterator[tuple[str, Any]]:
    """(score name, component) for each graded assertion: its ``metric``, or
    ``assert.<type>`` (``#2``, ``#3``... when the type repeats in the test)."""
    seen: Counter[str] = Counter()
    for component in components if isinstance(components, list) else []:
        assertion = _dict(_dict(component).get("assertion"))
        metric, kind = _text(assertion.get("metric")), assertion.get("type")
        if metric:
            yield metric, component
        elif isinstance(kind, str):
            seen[kind] += 1
            yield f"assert.{kind}" + (f"#{seen[kind]}" if seen[kind] > 1 else ""), component


def _promptfoo_rows(
    text: str, source: str, problems: Problems
) -> tuple[list[tuple[_At, Any]], dict[str, Any]]:
    """(location, row) pairs from a results JSON file or a JSON Lines export."""
    expected = "a promptfoo results file (`promptfoo eval -o results.json` or .jsonl)"
    doc = _loads(text)
    if doc is _NOT_JSON:
        return _read_lines(text, source, expected, problems, _not_promptfoo), {}
    if _not_promptfoo(doc):
        _wrong_format(text, source, expected, problems)
        return [], {}
    if "testIdx" in doc:  # a one-line JSON Lines export
        return [(_At(f"{source}:1"), doc)], {}
    base = _At(source, "$.results.results")
    return [(base.at(i), row) for i, row in enumerate(doc["results"]["results"])], doc


def _not_promptfoo(doc: Any) -> bool:
    return _shape(doc) != "promptfoo"


def _repeat(doc: dict[str, Any]) -> int | None:
    """The ``--repeat`` count the file records, None when it records none (the JSON
    Lines export, older files)."""
    config = _dict(doc.get("config"))
    recorded = None
    for value in (
        _dict(doc.get("runtimeOptions")).get("repeat"),
        _dict(config.get("evaluateOptions")).get("repeat"),
        _dict(config.get("commandLineOptions")).get("repeat"),
    ):
        count = _count(value)
        if count and count > 1:
            return count
        recorded = count if count else recorded
    return recorded


# A column of a promptfoo file: (provider label, provider id, prompt label, prompt id,
# promptIdx). The first four are what system_for_provider may name.
Column = tuple[str, str, str, str, str]


@dataclass
class _PromptfooRow:
    at: _At
    system: System
    column: Column
    test_idx: int
    id_from_vars: bool
    group: str | None
    fields: dict[str, Any]


def _column_name(column: Column, columns: Collection[Column]) -> str:
    """The first of a column's names no other column shares, for a message."""
    others = {k for c in columns if c != column for k in c[:4]}
    names = [k for k in column[:4] if k]
    return next((k for k in names if k not in others), names[0] if names else "(unnamed)")


def promptfoo_columns(columns: Counter[Column]) -> str:
    """Each column by its distinguishing name and its rows: ``'a' (12 rows), 'b' (12 rows)``."""
    return ", ".join(f"{_column_name(c, columns)!r} ({n} rows)" for c, n in columns.items())


def _promptfoo_system(
    keys: list[str],
    at: _At,
    system: System | None,
    mapping: Mapping[str, System] | None,
    problems: Problems,
) -> System | None:
    if mapping is None:
        return system
    found = {mapping[k] for k in keys if k in mapping}
    if len(found) == 1:
        return found.pop()
    if found:
        problems.add("ambiguous system", f"{at.at('provider')}: {keys} map to both systems")
    else:
        problems.add(
            "unmapped provider",
            f"{at.at('provider')}: none of {keys} is in system_for_provider",
        )
    return None


def _promptfoo_row(
    row: Any,
    at: _At,
    system: System | None,
    mapping: Mapping[str, System] | None,
    ignore: Collection[str],
    config: dict[str, Any],
    problems: Problems,
    columns: Counter[Column],
) -> _PromptfooRow | None:
    if not isinstance(row, dict):
        problems.add("invalid row", f"{at}: not an object")
        return None
    provider = row.get("provider")
    provider_id = _provider_id(provider) or ""
    label = _text(_dict(provider).get("label")) or ""
    prompt = _dict(row.get("prompt"))
    prompt_label = _text(prompt.get("label")) or ""
    prompt_id = _text(row.get("promptId")) or ""
    column = (label, provider_id, prompt_label, prompt_id, str(row.get("promptIdx")))
    columns[column] += 1
    keys = [k for k in (label, provider_id, prompt_label, prompt_id) if k]
    if any(k in ignore for k in keys):
        return None
    mine = _promptfoo_system(keys, at, system, mapping, problems)
    if mine is None:
        return None

    test = _dict(row.get("testCase"))
    variables = _dict(row.get("vars")) or _dict(test.get("vars"))
    test_idx = _count(row.get("testIdx"))
    var_id = _text(variables.get("__id")) or _text(variables.get("id"))
    if var_id is None and test_idx is None:
        problems.add("missing id", f"{at}: no testIdx and no `id` / `__id` var")
        return None
    metadata = {**_dict(variables), **_dict(test.get("metadata")), **_dict(row.get("metadata"))}

    scores: dict[str, float] = {}
    success = row.get("success")
    if isinstance(success, bool):
        scores["pass"] = 1.0 if success else 0.0
    else:
        problems.add("missing success", f"{at.at('success')}: {_short(success)}")
    if "score" in row:
        _put_score(scores, "score", row["score"], at, problems)
    grading = _dict(row.get("gradingResult"))
    components = grading.get("componentResults")
    for i, (name, component) in enumerate(_assertion_names(components)):
        if name.startswith("assert."):  # named assertions are in namedScores
            where = at.at("gradingResult").at("componentResults").at(i)
            _put_score(scores, name, _dict(component).get("score"), where, problems)
    named = row.get("namedScores")
    for name, value in _dict(named).items():
        _put_score(scores, name, value, at.at("namedScores"), problems)

    response = _dict(row.get("response"))
    # `error` also holds the reason of a failed assertion (failureReason 1); only
    # failureReason 2 (or, in files without it, a provider error) is an errored call.
    reason = row.get("failureReason")
    error = row.get("error") or response.get("error")
    failed = reason == 2 or (reason is None and bool(response.get("error")))
    if failed:
        problems.add("error result", f"{at}: {_short(error or 'failureReason 2', 200)}")
        # Like the eval runner: a failed call scores 0 on every metric of its test.
        asserts = [{"assertion": a} for a in test.get("assert") or []]
        for name, _ in _assertion_names(asserts):
            scores.setdefault(name, 0.0)
    cached = response.get("cached") is True
    usage = _dict(response.get("tokenUsage")) or _dict(row.get("tokenUsage"))
    fields: dict[str, Any] = {
        "id": var_id if var_id is not None else str(test_idx),
        "system": mine,
        "model_input": prompt.get("raw"),
        "model_output": response.get("output"),
        "target_output": _text(variables.get("__expected")) or _text(variables.get("expected")),
        "category": _text(metadata.get("category")),
        "cluster_id": _text(metadata.get("cluster_id")),
        "scores": scores,
        "provider": label or provider_id,
    }
    if not failed:
        if not cached:  # a cache hit's latency is not the model's
            fields["latency_ms"] = _measure(row.get("latencyMs"))
            if fields["latency_ms"] is None:
                fields["latency_ms"] = _measure(response.get("latencyMs"))
        fields["cost_usd"] = _measure(row.get("cost"))
        if fields["cost_usd"] is None:
            fields["cost_usd"] = _measure(response.get("cost"))
        fields["input_tokens"] = _count(usage.get("prompt"))
        fields["output_tokens"] = _count(usage.get("completion"))
    if cached:
        fields["cached"] = True
    if failed:
        fields["error"] = str(error or "failureReason 2")[:500]
    repeat_index = _count(variables.get("__repeatIndex"))
    if repeat_index is None:
        repeat_index = _count(metadata.get("repeatIndex"))
    if repeat_index is not None:
        fields["sample_index"] = repeat_index
    judge = _promptfoo_judge(row, config)
    if judge:
        fields["judge"] = judge
    group = None
    if variables:
        group = json.dumps([variables, test.get("description")], sort_keys=True, default=str)
    return _PromptfooRow(
        at,
        mine,
        column,
        test_idx if test_idx is not None else -1,
        var_id is not None,
        group,
        {k: v for k, v in fields.items() if v is not None},
    )


def from_promptfoo(
    text: str,
    source: str,
    system: System | None = None,
    *,
    system_for_provider: Mapping[str, System] | None = None,
    ignore_providers: Collection[str] = (),
) -> tuple[list[EvalRecord], Problems]:
    """Records from ``promptfoo eval -o results.json`` (or ``-o results.jsonl``).

    Give ``system`` when the whole file is one system, or ``system_for_provider`` when
    one run compares both: its keys are provider labels, provider ids, prompt labels or
    prompt ids, each mapped to ``"candidate"`` or ``"champion"``. Rows of a provider or
    prompt in ``ignore_providers`` are skipped on purpose; any other unmapped row is a
    problem. The id is the test's ``__id`` or ``id`` var, else its ``testIdx``.
    """
    if (system is None) == (system_for_provider is None):
        raise ValueError("give exactly one of system and system_for_provider")
    return _promptfoo(text, source, system, system_for_provider, ignore_providers, Counter())


@_guarded
def _promptfoo(
    text: str,
    source: str,
    system: System | None,
    mapping: Mapping[str, System] | None,
    ignore: Collection[str],
    columns: Counter[Column],
) -> Result:
    """from_promptfoo, counting the rows of each column (also unmapped and ignored ones)
    in ``columns``, for the gate's messages."""
    problems = Problems()
    rows, doc = _promptfoo_rows(text, source, problems)
    config = _dict(doc.get("config"))
    parsed = [
        parsed_row
        for at, row in rows
        if (
            parsed_row := _promptfoo_row(
                row, at, system, mapping, ignore, config, problems, columns
            )
        )
    ]
    used = Counter(p.column for p in parsed)
    if system is not None and len(used) > 1:
        # Rows of two providers (or prompts) read as one system share their ids: say
        # which columns there are, once, rather than a duplicate id for every test.
        problems.add(
            "several promptfoo columns",
            f"{source}: {len(used)} provider/prompt columns in a file read as one "
            f"system: {promptfoo_columns(used)}",
        )
    # The JSON file records --repeat; the JSON Lines export does not, so there a test
    # met at several testIdx in one column is taken for what it is: repeated.
    repeat = _repeat(doc)
    if (repeat or 1) > 1 or (repeat is None and _repeated(parsed)):
        _promptfoo_repeats(parsed, source, problems)
    records = [r for p in parsed if (r := _record(p.fields, p.at, problems))]
    return records, problems


def _repeated(rows: list[_PromptfooRow]) -> bool:
    """Whether one test (its id var and vars, or without an id var its vars and
    description) appears at more than one testIdx of one column: promptfoo's
    ``--repeat`` gives every repeat its own testIdx and nothing else that differs."""
    first: dict[tuple[Any, ...], int] = {}
    for row in rows:
        if row.group is None or row.test_idx < 0:
            continue  # a test without vars cannot be told from another one
        key = (row.system, row.column, row.fields["id"] if row.id_from_vars else None, row.group)
        if first.setdefault(key, row.test_idx) != row.test_idx:
            return True
    return False


def _promptfoo_repeats(rows: list[_PromptfooRow], source: str, problems: Problems) -> None:
    """``--repeat N`` gives each repeat its own testIdx: fold repeats into samples.

    Repeats of a test have the same vars; with an id var they share the id already,
    otherwise the id becomes the first repeat's testIdx. The repeat order is testIdx order.
    """
    first: dict[tuple[Any, ...], int] = {}
    for row in sorted(rows, key=lambda r: r.test_idx):
        if row.id_from_vars:
            continue
        if row.group is None:
            problems.add("repeat without vars", f"{row.at}: a repeated test with no vars")
            continue
        key = (row.system, row.column, row.group)
        first.setdefault(key, row.test_idx)
        row.fields["id"] = str(first[key])
    order: defaultdict[tuple[Any, ...], int] = defaultdict(int)
    for row in sorted(rows, key=lambda r: r.test_idx):
        if "sample_index" in row.fields:
            continue
        key = (row.system, row.column, row.fields["id"])
        row.fields["sample_index"] = order[key]
        order[key] += 1


# ---------------------------------------------------------------- fmeval


@_guarded
def from_fmeval(text: str, source: str, system: System) -> tuple[list[EvalRecord], Problems]:
    """Records from an fmeval output file (``evaluate(save=True)``: JSON Lines, one
    ``EvalOutputRecord`` a line; written to S3, batches follow each other with no newline
    between them, and every record is read all the same). fmeval writes no id: the id is
    a hash of the row's dataset columns (model_input, target_output, category, context,
    ...), identical rows are numbered as samples in file order."""
    problems = Problems()
    rows = _read_lines(
        text,
        source,
        "fmeval output records (JSON Lines)",
        problems,
        lambda first: _shape(first) not in ("fmeval", None),
    )
    records: list[EvalRecord] = []
    samples: Counter[str] = Counter()
    for at, row in rows:
        fields = _fmeval_fields(row, at, problems)
        if fields is None:
            continue
        fields["system"] = system
        fields["sample_index"] = samples[fields["id"]]
        samples[fields["id"]] += 1
        if record := _record(fields, at, problems):
            records.append(record)
    return records, problems


def _fmeval_fields(row: dict[str, Any], at: _At, problems: Problems) -> dict[str, Any] | None:
    raw_scores = row.get("scores")
    if not isinstance(raw_scores, list):
        problems.add("missing scores", f"{at.at('scores')}: {_short(raw_scores)}")
        return None
    identity = {k: row[k] for k in FMEVAL_ID_COLUMNS if row.get(k) is not None}
    if not identity:
        problems.add("missing id", f"{at}: none of {', '.join(FMEVAL_ID_COLUMNS)}")
        return None
    scores: dict[str, float] = {}
    for i, entry in enumerate(raw_scores):
        where = at.at("scores").at(i)
        name = _dict(entry).get("name")
        if not isinstance(name, str) or not name:
            problems.add("invalid score entry", f"{where}: {_short(entry)}")
        elif _dict(entry).get("value") is None and entry.get("error") is not None:
            problems.add("metric error", f"{where}: {name}: {_short(entry['error'], 200)}")
        else:
            _put_score(scores, name, entry.get("value"), where, problems)
    if row.get("error"):
        problems.add("error result", f"{at.at('error')}: {_short(row['error'], 200)}")
    target = row.get("target_output")
    return {
        "id": "fm-" + _hash(identity, 16),
        "model_input": row.get("model_input"),
        "model_output": row.get("model_output"),
        "target_output": target if target is None or isinstance(target, str) else str(target),
        "category": _text(row.get("category")),
        "scores": scores,
        **({"error": str(row["error"])[:500]} if row.get("error") else {}),
    }


# ---------------------------------------------------------------- DeepEval


@_guarded
def from_deepeval(text: str, source: str, system: System) -> tuple[list[EvalRecord], Problems]:
    """Records from a saved DeepEval test run (``test_run_<time>.json`` written with
    ``DEEPEVAL_RESULTS_FOLDER``, or ``.deepeval/.latest_test_run.json``)."""
    problems = Problems()
    expected = "a DeepEval test run (an object with testCases[])"
    doc = _load_document(text, source, expected, problems)
    if doc is _NOT_JSON:
        return [], problems
    root = "$"
    if isinstance(doc, dict) and isinstance(doc.get("testRunData"), dict):
        doc, root = doc["testRunData"], "$.testRunData"
    cases = doc.get("testCases") if isinstance(doc, dict) else None
    if not isinstance(cases, list):
        _wrong_format(text, source, expected, problems)
        return [], problems
    if any("metricsMetadata" in _dict(c) for c in cases) and not any(
        "metricsData" in _dict(c) for c in cases
    ):
        problems.add(
            "wrong format",
            f"{source}: a DeepEval test run from before 1.0 (metricsMetadata), not supported",
        )
        return [], problems
    base = _At(source, root)
    for i, _ in enumerate(_dict(doc).get("conversationalTestCases") or []):
        problems.add(
            "unsupported test case",
            f"{base.at('conversationalTestCases').at(i)}: conversational test cases",
        )
    records: list[EvalRecord] = []
    for i, case in enumerate(cases):
        at = base.at("testCases").at(i)
        if not isinstance(case, dict):
            problems.add("invalid row", f"{at}: not an object")
            continue
        fields = _deepeval_fields(case, at, problems)
        if fields is None:
            continue
        fields["system"] = system
        if record := _record(fields, at, problems):
            records.append(record)
    return records, problems


def _deepeval_fields(case: dict[str, Any], at: _At, problems: Problems) -> dict[str, Any] | None:
    metadata = _dict(case.get("metadata"))
    ident = _text(metadata.get("id")) or _text(case.get("name")) or _text(case.get("order"))
    if ident is None:
        problems.add("missing id", f"{at}: no name, metadata.id or order")
        return None
    scores: dict[str, float] = {}
    judged: list[tuple[str, str]] = []
    metrics = case.get("metricsData")
    if not isinstance(metrics, list) or not metrics:
        problems.add("missing scores", f"{at.at('metricsData')}: {_short(metrics)}")
        metrics = []
    for j, metric in enumerate(metrics):
        where = at.at("metricsData").at(j)
        name = _dict(metric).get("name")
        if not isinstance(name, str) or not name:
            problems.add("invalid score entry", f"{where}: {_short(metric)}")
            continue
        if metric.get("error") is not None or metric.get("score") is None:
            reason = metric.get("error") or "no score"
            problems.add("metric error", f"{where}: {name}: {_short(reason, 200)}")
        else:
            _put_score(scores, name, metric["score"], where, problems)
        model = _text(metric.get("evaluationModel"))
        if model:
            judged.append((name, model))
    if isinstance(case.get("success"), bool):
        scores.setdefault("pass", 1.0 if case["success"] else 0.0)
    seconds = _measure(case.get("completionTime"))
    fields: dict[str, Any] = {
        "id": ident,
        "model_input": case.get("input"),
        "model_output": case.get("actualOutput"),
        "target_output": case.get("expectedOutput"),
        "category": _text(metadata.get("category")),
        "cluster_id": _text(metadata.get("cluster_id")),
        "scores": scores,
        "latency_ms": None if seconds is None else seconds * 1000.0,
        "cost_usd": _measure(case.get("tokenCost")),
        "input_tokens": _count(case.get("inputTokenCount")),
        "output_tokens": _count(case.get("outputTokenCount")),
        "sample_index": _count(metadata.get("sample_index")),
    }
    if judged:
        # DeepEval records no judge prompt: the metric names with their judge stand in.
        fields["judge"] = {
            "model": ",".join(sorted({m for _, m in judged})),
            "prompt_hash": _hash(sorted(judged)),
        }
    return {k: v for k, v in fields.items() if v is not None}


# ---------------------------------------------------------------- JMESPath mapping


def _compile_mapping(
    mapping: Mapping[str, str], fmt: str, source: str, problems: Problems
) -> dict[str, Any] | None:
    compiled: dict[str, Any] = {}
    for key, expression in mapping.items():
        where = f"{source}: mapping[{key!r}]"
        allowed = (
            key in _MAPPING_FIELDS
            or key in _MAPPING_EXTRA
            or (key.startswith("scores.") and len(key) > len("scores."))
            or (key == "rows" and fmt == "json")
        )
        if not allowed:
            problems.add(
                "invalid mapping",
                f"{where}: not a mappable field (EvalRecord fields except system, "
                "scores.<metric>, judge.model, judge.prompt_hash, and rows for json)",
            )
            continue
        if not isinstance(expression, str) or not expression.strip():
            problems.add("invalid mapping", f"{where}: a JMESPath expression, got {expression!r}")
            continue
        try:
            compiled[key] = jmespath.compile(expression)
        except JMESPathError as err:
            problems.add("invalid mapping", f"{where} = {expression!r}: {err}")
    if "id" not in mapping:
        problems.add("invalid mapping", f"{source}: mapping has no 'id' expression")
    if fmt not in ("json", "jsonl"):
        problems.add("invalid mapping", f"{source}: fmt {fmt!r}: 'jsonl' or 'json'")
    return None if problems.counts else compiled


def _mapped_fields(
    row: Any, compiled: dict[str, Any], at: _At, problems: Problems
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for key, expression in compiled.items():
        if key == "rows":
            continue
        try:
            values[key] = expression.search(row)
        except JMESPathError as err:
            problems.add("mapping error", f"{at}: {key} = {expression.expression!r}: {err}")
            return None
    fields: dict[str, Any] = {}
    scores: dict[str, Any] = {}
    whole = values.pop("scores", None)
    if whole is not None:
        if not isinstance(whole, dict):
            problems.add("non-numeric score", f"{at}: scores: {_short(whole)} is not an object")
            return None
        for name, value in whole.items():
            _put_score(scores, str(name), value, at, problems, booleans=True)
    judge = {
        k.removeprefix("judge."): values.pop(k) for k in list(values) if k.startswith("judge.")
    }
    for key, value in values.items():
        if key.startswith("scores."):
            if value is not None:
                _put_score(scores, key.removeprefix("scores."), value, at, problems, booleans=True)
        elif key in ("id", "category", "cluster_id"):
            text = _text(value) if not isinstance(value, float) else None
            if value not in (None, "") and text is None:
                problems.add(f"invalid {key}", f"{at}: {key}: {_short(value)}")
                return None
            fields[key] = text
        elif value is not None:
            fields[key] = value
    if judge.get("model") is not None:
        fields["judge"] = {
            "model": str(judge["model"]),
            "prompt_hash": str(judge.get("prompt_hash") or "unknown"),
        }
    fields["scores"] = scores
    if fields.get("id") is None:
        problems.add("missing id", f"{at}: id = {compiled['id'].expression!r} gave nothing")
        return None
    return fields


@_guarded
def from_mapping(
    text: str,
    source: str,
    system: System,
    mapping: Mapping[str, str],
    fmt: Literal["jsonl", "json"] = "jsonl",
) -> tuple[list[EvalRecord], Problems]:
    """Records from any JSON Lines or JSON file, by JMESPath expressions per field.

    ``mapping`` maps an ``EvalRecord`` field (``id``, ``model_input``, ``category``,
    ``latency_ms``, ...), ``scores.<metric>``, ``scores`` (an object of metrics),
    ``judge.model`` or ``judge.prompt_hash`` to a JMESPath expression evaluated on each row.
    For ``fmt="json"`` the ``rows`` expression selects the list of rows from the document
    (default: the document itself, when it is a list). An expression that finds nothing
    leaves the field out; booleans are scores 1 and 0.
    """
    problems = Problems()
    compiled = _compile_mapping(mapping, fmt, source, problems)
    if compiled is None:
        return [], problems
    rows: list[tuple[_At, Any]] = []
    if fmt == "jsonl":
        rows = _read_lines(text, source, "JSON Lines (fmt='jsonl')", problems, lambda _: False)
    else:
        path = mapping.get("rows", "@")
        doc = _load_document(text, source, f"one JSON document with rows at {path!r}", problems)
        if doc is not _NOT_JSON:
            selector = compiled.get("rows")
            try:
                found = selector.search(doc) if selector is not None else doc
            except JMESPathError as err:
                problems.add("mapping error", f"{source}: rows = {path!r}: {err}")
                found = None
            if isinstance(found, list):
                rows = [(_At(source, f"{path}[{i}]"), row) for i, row in enumerate(found)]
            else:
                _wrong_format(text, source, f"a list of rows at {path!r}", problems)
    records: list[EvalRecord] = []
    for at, row in rows:
        fields = _mapped_fields(row, compiled, at, problems)
        if fields is None:
            continue
        fields["system"] = system
        if record := _record(fields, at, problems):
            records.append(record)
    return records, problems


# ---------------------------------------------------------------- one entry point


def parser_for(
    fmt: Format,
    *,
    mapping: Mapping[str, str] | None = None,
    mapping_fmt: Literal["jsonl", "json"] = "jsonl",
    system_for_provider: Mapping[str, System] | None = None,
    ignore_providers: Collection[str] = (),
) -> GateReader:
    """A ``(text, source, system) -> (records, problems)`` reader for the eval gate.

    One file per system. With ``mapping`` the file is read by :func:`from_mapping`
    whatever ``fmt`` says. A promptfoo file comparing both systems is read with
    ``system_for_provider`` (and ``ignore_providers``), see :class:`GateReader`.
    """
    if system_for_provider is not None and (fmt != "promptfoo" or mapping is not None):
        raise ValueError("system_for_provider reads promptfoo files, without a mapping")
    return GateReader(fmt, mapping, mapping_fmt, system_for_provider, tuple(ignore_providers))


@dataclass(frozen=True)
class GateReader:
    """The eval gate's reader of one system's records: ``reader(text, source, system)``.

    With ``system_for_provider`` (promptfoo), ``read_both(text, source)`` reads a file
    holding both systems once, as the gate does when both URIs name the same file;
    called per system, the other system's records are left out and counted. A name in
    ``system_for_provider`` that no row of the file has is a problem (``candidate
    provider not found`` / ``champion provider not found``) listing the file's columns:
    a misspelt provider would otherwise look like a system with no records.
    """

    fmt: Format
    mapping: Mapping[str, str] | None = None
    mapping_fmt: Literal["jsonl", "json"] = "jsonl"
    system_for_provider: Mapping[str, System] | None = None
    ignore_providers: tuple[str, ...] = field(default=())

    def __call__(self, text: str, source: str, system: str) -> Result:
        if system not in SYSTEMS:
            problems = Problems()
            problems.add("invalid system", f"{source}: {system!r}")
            return [], problems
        mine: System = "candidate" if system == "candidate" else "champion"
        if self.mapping is not None:
            return from_mapping(text, source, mine, self.mapping, self.mapping_fmt)
        if self.system_for_provider is not None:
            records, problems = self._mapped(text, source, (mine,))
            kept = [r for r in records if r.system == mine]
            if len(kept) != len(records):
                problems.add("record of the other system", f"{source}: {len(records) - len(kept)}")
            return kept, problems
        if self.fmt == "promptfoo":
            return from_promptfoo(text, source, mine)
        if self.fmt == "fmeval":
            return from_fmeval(text, source, mine)
        if self.fmt == "deepeval":
            return from_deepeval(text, source, mine)
        records, problems = parse_lines(text, source)
        kept = [r for r in records if r.system == mine]
        if len(kept) != len(records):
            problems.add("record of the other system", f"{source}: {len(records) - len(kept)}")
        return kept, problems

    @property
    def read_both(self) -> Callable[[str, str], Result] | None:
        if self.system_for_provider is None:
            return None
        return lambda text, source: self._mapped(text, source, SYSTEMS)

    def _mapped(self, text: str, source: str, systems: tuple[System, ...]) -> Result:
        assert self.system_for_provider is not None
        columns: Counter[Column] = Counter()
        records, problems = _promptfoo(
            text, source, None, self.system_for_provider, self.ignore_providers, columns
        )
        names = {k for c in columns for k in c[:4] if k}
        for system in systems:
            wanted = sorted(k for k, s in self.system_for_provider.items() if s == system)
            if columns and not names & set(wanted):
                problems.add(
                    f"{system} provider not found",
                    f"{source}: no provider or prompt named {' or '.join(map(repr, wanted))}; "
                    f"the file has {promptfoo_columns(columns)}",
                )
        return records, problems
