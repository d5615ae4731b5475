"""Every payload a handler parses (release_guard/events.py), whatever JSON it is: the
only error is InvalidReleaseRequest, naming the field and what was expected, and a
refused request changes nothing (issue 12).

Inputs: arbitrary JSON values, and the repository's own events/ files mutated (keys
dropped or added, values of the wrong type, 10**400, NaN, infinities, negatives, empty
and very long strings, lone surrogates), as Lambda's JSON decoder can hand them over.

Also the generic strategies the other property tests use (json_values, mutated).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from release_guard.canary.start import Stack, start
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import (
    START_EVENTS,
    ApprovalDecision,
    BaselineRequest,
    CanaryState,
    DeployResult,
    DriftCheckRequest,
    ModelPackageStateChange,
    ReconcileResult,
    ReleaseContext,
    StartRelease,
    StepRef,
    Verdict,
    event_object,
    event_text,
    json_kind,
    parse,
)

from tests.unit.fakes import FakeEndpoints, FakeLedger
from tests.unit.test_release import DEFAULTS, T0
from tests.unit.test_start import CHAMPION, ENDPOINT, GROUP, PACKAGE, STACK, FakeStarter

ROOT = Path(__file__).resolve().parents[2]

# --- Strategies ---------------------------------------------------------------------------

# What a JSON decoder can produce beyond the usual: Python's accepts NaN and Infinity,
# integers of up to 4,300 digits, and \ud800 escapes (lone surrogates).
ODD_NUMBERS = st.sampled_from(
    [10**400, -(10**400), 2**63, -1, 0, -0.0, float("nan"), float("inf"), float("-inf"), 1e308]
)
ODD_TEXT = st.sampled_from(["", " ", "\x00", "\u0094", "\ud800", "\n", "{input}", "-", "s3://"])
LONG_TEXT = st.integers(1000, 5000).map(lambda n: "x" * n)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    ODD_NUMBERS,
    st.text(max_size=20),
    ODD_TEXT,
    LONG_TEXT,
)
json_values = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def positions(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``data``: () is the document itself."""
    out = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(positions(value, (*path, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out.extend(positions(value, (*path, i)))
    return out


def at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, sample: Any, max_mutations: int = 4) -> Any:
    """``sample`` with one to ``max_mutations`` changes, each at any depth: a key or an
    item dropped, a value replaced (by any JSON value), wrapped in a list or an object,
    an unknown key added."""
    data = copy.deepcopy(sample)
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(positions(data)))
        op = draw(st.sampled_from(["drop", "replace", "replace", "wrap", "add"]))
        if not path:  # the document itself
            if op == "replace":
                data = draw(json_values)
            elif op == "wrap":
                data = [data]
            continue
        parent, last = at(data, path[:-1]), path[-1]
        if op == "drop":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(json_values)
        elif op == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"value": parent[last]}]))
        elif isinstance(parent[last], dict):
            parent[last][draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return data


def load(path: Path) -> Any:
    return json.loads(path.read_text())


# --- Parsing payloads ---------------------------------------------------------------------

MODELS: list[type[BaseModel]] = [
    StartRelease,
    ModelPackageStateChange,
    ReleaseContext,
    DeployResult,
    CanaryState,
    StepRef,
    ReconcileResult,
    Verdict,
    ApprovalDecision,
    DriftCheckRequest,
    BaselineRequest,
]

# Which part of each events/ folder's payload its handler parses, and as what.
PARSED: dict[str, list[tuple[tuple[str, ...], type[BaseModel]]]] = {
    "acquire_lock": [(("release",), ReleaseContext)],
    "build_baseline": [((), BaselineRequest)],
    "check_endpoint": [(("release",), ReleaseContext), (("deploy",), DeployResult)],
    "deploy_candidate": [(("release",), ReleaseContext)],
    "drift_check": [((), DriftCheckRequest)],
    "eval_gate": [(("release",), ReleaseContext)],
    "finish_release": [(("state", "release"), ReleaseContext)],
    "judge_canary": [(("release",), ReleaseContext), (("canary",), CanaryState)],
    "prepare_release": [(("request",), StartRelease)],
    "promote": [(("release",), ReleaseContext), (("promotion",), ReconcileResult)],
    "request_approval": [(("release",), ReleaseContext)],
    "roll_back": [(("state", "release"), ReleaseContext), (("state", "rollback"), ReconcileResult)],
    "shift_traffic": [(("release",), ReleaseContext), (("step",), StepRef)],
}


def _one_per_part() -> list[tuple[Path, tuple[str, ...], type[BaseModel]]]:
    """One file per part and model: the workflow events carry the same release context,
    taken from Run Eval Gate's, whose policy has a gate."""
    first: dict[tuple[tuple[str, ...], type[BaseModel]], str] = {}
    for folder in ("eval_gate", *PARSED):
        for part, model in PARSED[folder]:
            first.setdefault((part, model), folder)
    return [
        (sorted((ROOT / "events" / folder).glob("*.json"))[0], part, model)
        for (part, model), folder in first.items()
    ]


SAMPLES = _one_per_part()


def _parse_or_refuse(model: type[BaseModel], data: Any, field: str) -> None:
    try:
        parse(model, data, field)
    except InvalidReleaseRequest as err:
        assert str(err).startswith(field), str(err)  # it names the field


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@given(data=json_values)
def test_any_json_parses_or_is_invalid_release_request(model: type[BaseModel], data: Any) -> None:
    """Contract of events.parse: any JSON value is the model, or InvalidReleaseRequest
    whose message starts with the field; never any other exception (TypeError,
    ValueError, RecursionError). Linear time: pydantic walks the input once, and
    nothing here expands it."""
    _parse_or_refuse(model, data, "event")


@pytest.mark.parametrize(
    ("path", "part", "model"),
    SAMPLES,
    ids=[f"{p.parent.name}/{p.stem}:{m.__name__}" for p, _, m in SAMPLES],
)
@given(seed=st.data())
def test_mutated_sample_events_parse_or_are_refused(
    path: Path, part: tuple[str, ...], model: type[BaseModel], seed: st.DataObject
) -> None:
    """Contract: the events/ files, mutated anywhere, parse as their handler parses them
    or raise InvalidReleaseRequest naming the field; nothing else."""
    event = seed.draw(mutated(load(path)))
    value: Any = event
    for key in part:  # as the handler reads it: event.get("release"), state.get(...)
        value = value.get(key) if isinstance(value, dict) else None
    _parse_or_refuse(model, value, ".".join(part) or "event")


@given(event=json_values, key=st.sampled_from(["execution_arn", "token", "release_id", "x"]))
def test_event_object_and_event_text_refuse_only_as_documented(event: Any, key: str) -> None:
    """Contract of event_object / event_text: the payload itself (an object), its text
    field, or InvalidReleaseRequest naming what was expected and the JSON kind it got."""
    try:
        obj = event_object(event, "a thing")
    except InvalidReleaseRequest as err:
        assert not isinstance(event, dict)
        assert str(err) == f"event: expected a thing, got {json_kind(event)!r}"
        return
    try:
        assert event_text(obj, key, "text") == obj[key]
    except InvalidReleaseRequest as err:
        assert not (isinstance(obj.get(key), str) and obj.get(key))
        assert str(err).startswith(f"{key}: expected text")


@given(value=json_values)
def test_json_kind_names_every_json_value(value: Any) -> None:
    """Contract: json_kind is total on JSON values and says what JSON calls them."""
    assert json_kind(value) in ("null", "boolean", "number", "string", "array", "object")


# --- StartRelease end to end on fakes --------------------------------------------------------

START_SAMPLES = sorted((ROOT / "events" / "start_release").glob("*.json"))


class StrictStarter(FakeStarter):
    """Step Functions takes the input as JSON text: no NaN, no Infinity."""

    def start_execution(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        json.dumps(payload, allow_nan=False)
        return super().start_execution(state_machine_arn, name, payload)


def start_on_fakes(event: Any) -> tuple[Any, StrictStarter, FakeEndpoints, FakeLedger]:
    eps, ledger, workflow = FakeEndpoints(), FakeLedger(), StrictStarter()
    eps.add_endpoint(ENDPOINT, "demo-endpoint-cfg-1", [CHAMPION])
    eps.add_package(PACKAGE, version=2, group=GROUP)
    stack = Stack(STACK.state_machine_arn, STACK.endpoint_name, STACK.model_package_group)
    try:  # what functions/start_release/app.py does with the payload
        result: Any = start(
            event_object(event, START_EVENTS), stack, eps, ledger, workflow, DEFAULTS, T0
        )
    except InvalidReleaseRequest as err:
        result = err
    return result, workflow, eps, ledger


def _changed_nothing(workflow: StrictStarter, eps: FakeEndpoints, ledger: FakeLedger) -> None:
    assert workflow.started == []
    assert all(c.name.startswith(("describe", "list", "get")) for c in eps.calls), eps.calls
    assert ledger.locks == {} and ledger.summaries == {} and ledger.records == {}


@given(event=json_values)
def test_start_release_takes_any_json(event: Any) -> None:
    """Contract of StartRelease (handler and canary/start.py): any JSON payload is a
    StartResult or InvalidReleaseRequest, and a refused one changed nothing."""
    result, workflow, eps, ledger = start_on_fakes(event)
    if isinstance(result, InvalidReleaseRequest):
        _changed_nothing(workflow, eps, ledger)


@pytest.mark.parametrize("path", START_SAMPLES, ids=lambda p: p.stem)
@given(seed=st.data())
def test_start_release_takes_mutated_requests_and_events(path: Path, seed: st.DataObject) -> None:
    """Contract: the start_release events (requests and registry events), mutated, are
    a StartResult or InvalidReleaseRequest; refused ones changed nothing, started ones
    started one execution with JSON Step Functions accepts."""
    result, workflow, eps, ledger = start_on_fakes(seed.draw(mutated(load(path))))
    if isinstance(result, InvalidReleaseRequest):
        _changed_nothing(workflow, eps, ledger)
    elif result.status == "started":
        assert len(workflow.started) == 1
