"""Run Eval Gate as a workflow state (gate/run.py) on fake ports: fatal record problems
name the file and the line; the reports, the ledger entry and the registry rejection
happen once. The sample events of events/eval_gate/ double as fixtures."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from release_guard.aws.ledger import _to_ddb
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import ReleaseContext
from release_guard.gate.adapters import parser_for
from release_guard.gate.gate import GateVerdict
from release_guard.gate.records import EvalRecord
from release_guard.gate.run import load, run_gate
from release_guard.policy import GatePolicy
from release_guard_cli import evaldata

from tests.conftest import EVENTS, load_event
from tests.unit.sagemaker_shapes import description_problem, metadata_problems

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
REPORTS = "s3://release-guard-bucket-8wrauqucruco/reports"


class FakeStorage:
    """S3 objects by URI; a missing one is the caller's bad input, as aws/evals.py says."""

    def __init__(self, files: dict[str, str] | None = None) -> None:
        self.files = dict(files or {})
        self.writes: list[tuple[str, str]] = []

    def read_text(self, uri: str, field: str) -> str:
        if uri not in self.files:
            raise InvalidReleaseRequest(field, "a readable S3 object", f"{uri}: NoSuchKey")
        return self.files[uri]

    def write_text(self, uri: str, text: str, content_type: str) -> None:
        self.files[uri] = text
        self.writes.append((uri, content_type))


class FakeRegistry:
    def __init__(self) -> None:
        self.rejected: list[tuple[str, str, dict[str, str]]] = []

    def reject_package(self, arn: str, reason: str, properties: dict[str, str]) -> None:
        # What UpdateModelPackage refuses with a ValidationException (botocore's shapes).
        problems = metadata_problems(properties)
        problem = description_problem(reason)
        assert not problems and problem is None, (problems, problem)
        self.rejected.append((arn, reason, properties))


class DynamoLedger:
    """record_once as aws/ledger.py does it: a conditional put of the item converted by
    _to_ddb and serialised by boto3 (which rejects Python floats, so NaN and inf too)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls = 0

    def record_once(
        self, release_id: str, key: str, item: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        self.calls += 1
        converted = _to_ddb(item)
        TypeSerializer().serialize(converted)  # what Table.put_item does first
        if (release_id, key) in self.items:
            return False, self.items[(release_id, key)]
        self.items[(release_id, key)] = converted
        return True, item


def context(**gate: Any) -> ReleaseContext:
    """The fixture release (events/eval_gate/hold-on-inconclusive.json), gate changed."""
    event = copy.deepcopy(load_event("eval_gate", "hold-on-inconclusive"))
    event["release"]["policy"]["gate"].update(gate)
    return ReleaseContext.model_validate(event["release"])


def gate_of(ctx: ReleaseContext) -> GatePolicy:
    assert ctx.policy.gate is not None
    return ctx.policy.gate


def uris(ctx: ReleaseContext) -> dict[str, str]:
    assert ctx.policy.gate and ctx.policy.gate.candidate_uri and ctx.policy.gate.champion_uri
    return {"candidate": ctx.policy.gate.candidate_uri, "champion": ctx.policy.gate.champion_uri}


def files(ctx: ReleaseContext, candidate: str, champion: str) -> dict[str, str]:
    u = uris(ctx)
    return {u["candidate"]: candidate, u["champion"]: champion}


CAND = evaldata.jsonl(evaldata.records("candidate", n=40))
CHAMP = evaldata.jsonl(evaldata.records("champion", n=40))
RECORDS = parser_for("records")


def insert(text: str, at: int, line: str) -> str:
    """``line`` as line number ``at`` (1-based) of ``text``."""
    lines = text.splitlines(keepends=True)
    return "".join([*lines[: at - 1], line + "\n", *lines[at - 1 :]])


# --- load: fatal problems name the file and the line ------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ('{"id": "ex-9", "system": "champion", "scores": {"accuracy": 1}', "invalid JSON"),
        ("[1, 2, 3]", "invalid JSON"),
        ('{"system": "champion", "scores": {"accuracy": 1}}', "missing id"),
        ('{"id": "ex-9", "scores": {"accuracy": 1}}', "missing system"),
        ('{"id": "ex-9", "system": "baseline", "scores": {}}', "invalid system"),
    ],
)
def test_a_fatal_line_names_the_field_the_file_and_the_line(line: str, kind: str) -> None:
    ctx = context()
    text = insert(CHAMP, 7, line)
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage(files(ctx, CAND, text)), RECORDS)
    champion = uris(ctx)["champion"]
    assert err.value.field == "gate.champion_uri"
    assert f"{kind} at {champion}:7" in str(err.value)


def test_the_first_fatal_line_is_reported_and_the_candidate_is_read_first() -> None:
    ctx = context()
    cand = insert(insert(CAND, 3, "not json"), 10, "{}")
    champ = insert(CHAMP, 2, "not json either")
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage(files(ctx, cand, champ)), RECORDS)
    assert err.value.field == "gate.candidate_uri"
    assert f"invalid JSON at {uris(ctx)['candidate']}:3: Invalid JSON" in str(err.value)


def test_another_tools_output_is_fatal_whichever_way_round() -> None:
    ctx = context()
    fmeval = "\n".join(
        json.dumps(
            {
                "model_input": f"q{i}",
                "model_output": "a",
                "scores": [{"name": "accuracy", "value": 1.0}],
            }
        )
        for i in range(5)
    )
    storage = FakeStorage(files(ctx, CAND, fmeval))
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), storage, RECORDS)
    assert err.value.field == "gate.champion_uri"
    assert f"missing id at {uris(ctx)['champion']}:1" in str(err.value)
    # Our records read as fmeval output: the file is named with what it looks like.
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage(files(ctx, CAND, CHAMP)), parser_for("fmeval"))
    assert err.value.field == "gate.candidate_uri"
    assert (
        f"wrong format at {uris(ctx)['candidate']}: expected fmeval output records (JSON Lines), "
        "found release-guard eval records"
    ) in str(err.value)
    # A promptfoo results document (pretty-printed JSON) as records: line 1 is not a record.
    promptfoo = json.dumps({"evalId": "e-1", "results": {"version": 3, "results": []}}, indent=2)
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage(files(ctx, promptfoo, CHAMP)), RECORDS)
    assert f"invalid JSON at {uris(ctx)['candidate']}:1" in str(err.value)


def test_an_invalid_mapping_is_fatal() -> None:
    ctx = context()
    parser = parser_for("records", mapping={"id": "example.[uid", "scores.accuracy": "ok"})
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage(files(ctx, CAND, CHAMP)), parser)
    assert err.value.field == "gate.candidate_uri"
    assert "invalid mapping" in str(err.value) and "example.[uid" in str(err.value)


def test_soft_problems_are_counted_not_raised() -> None:
    ctx = context()
    champ = insert(
        insert(CHAMP, 4, '{"id": "ex-9", "system": "champion", "scores": {"accuracy": "yes"}}'),
        9,
        '{"id": "ex-8", "system": "candidate", "scores": {"accuracy": 1}}',
    )
    cand, champion, problems = load(
        gate_of(ctx),
        uris(ctx),
        FakeStorage(files(ctx, CAND, champ)),
        RECORDS,
    )
    assert (len(cand), len(champion)) == (80, 80)
    assert problems.counts == {"non-numeric score": 1, "record of the other system": 1}
    assert problems.examples["non-numeric score"][0].startswith(f"{uris(ctx)['champion']}:4: ")


def test_an_empty_file_is_a_counted_problem() -> None:
    ctx = context()
    _, champion, problems = load(
        gate_of(ctx),
        uris(ctx),
        FakeStorage(files(ctx, CAND, "")),
        RECORDS,
    )
    assert champion == [] and problems.counts == {"empty file": 1}


# --- run_gate ---------------------------------------------------------------------------


def gate_run(
    ctx: ReleaseContext, storage: FakeStorage, registry: FakeRegistry, ledger: DynamoLedger
) -> tuple[GateVerdict, dict[str, Any]]:
    return run_gate(ctx, uris(ctx), storage, RECORDS, registry, ledger, REPORTS, NOW)


def weak_returns() -> tuple[str, str]:
    return (
        evaldata.jsonl(evaldata.records("candidate", accuracy={"returns": 0.72})),
        evaldata.jsonl(evaldata.records("champion")),
    )


def test_a_failed_gate_writes_both_reports_and_rejects_the_package_once() -> None:
    ctx = context(on_inconclusive="fail")
    storage = FakeStorage(files(ctx, *weak_returns()))
    registry, ledger = FakeRegistry(), DynamoLedger()
    verdict, out = gate_run(ctx, storage, registry, ledger)

    assert verdict.verdict == "fail"
    base = f"{REPORTS}/{ctx.release_id}/eval-gate"
    assert storage.writes == [
        (f"{base}.json", "application/json"),
        (f"{base}.md", "text/markdown"),
    ]
    assert GateVerdict.model_validate_json(storage.files[f"{base}.json"]) == verdict
    md = storage.files[f"{base}.md"]
    assert md.startswith(f"# Eval gate: {ctx.release_id} (v2 vs champion)\n")
    assert "**Verdict: FAIL**" in md and "| accuracy | returns | non-inferiority |" in md
    assert out == {
        "verdict": "fail",
        "reason": verdict.reason,
        "pairs": 600,
        "report_uri": f"{base}.json",
        "markdown_uri": f"{base}.md",
        "on_inconclusive": "fail",
    }

    entry = ledger.items[(ctx.release_id, "00#GATE")]
    assert entry["kind"] == "gate" and entry["verdict"] == "fail"
    assert entry["at"] == NOW.isoformat() and entry["policy_version"] == ctx.policy.version
    assert entry["markdown_uri"] == f"{base}.md" and len(entry["rows"]) == len(verdict.rows)
    # What the data resolve travels with the verdict, for the release report.
    assert entry["warnings"] == verdict.warnings
    assert [r["metric"] for r in entry["resolution"]] == [r.metric for r in verdict.resolution]

    ((arn, reason, properties),) = registry.rejected
    assert arn == ctx.model_package_arn
    assert reason == f"release-guard eval gate failed: {verdict.reason}"
    assert "accuracy [returns]" in reason  # ApprovalDescription takes brackets
    assert properties == {
        "release-guard:release": ctx.release_id,
        "release-guard:outcome": "rejected",
        "release-guard:summary": properties["release-guard:summary"],
        "release-guard:report": f"{base}.md",
        "release-guard:gate": "fail",
        "release-guard:gate-report": f"{base}.md",
    }
    summary = properties["release-guard:summary"]
    # The slice's fail survives Holm's correction across the table; the ALL row's
    # smaller regression (a quarter of it) does not.
    assert summary.startswith(
        "release-guard: rejected: eval gate failed: accuracy returns non-inferiority"
    )
    assert len(summary) <= 256
    assert summary.endswith("...") == (len(f"release-guard: rejected: {reason}") > 256)

    # A redelivery of the same step (Lambda retry) decides the same, rejects nothing more.
    again, out_again = gate_run(ctx, storage, registry, ledger)
    assert again.verdict == "fail" and out_again == out
    assert len(registry.rejected) == 1
    assert ledger.calls == 2 and len(ledger.items) == 1


def test_a_rejection_fits_sagemaker_whatever_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reason over 1,024 characters, with line breaks and the characters metadata
    refuses: the registry gets what UpdateModelPackage accepts (FakeRegistry checks),
    the ledger the whole reason."""
    from release_guard.gate import run as gate_module

    ctx = context(on_inconclusive="fail")
    storage = FakeStorage(files(ctx, *weak_returns()))
    real = gate_module.evaluate
    reason = "accuracy [returns] (n=150): -5.2%;\n" * 60

    def evaluate(*args: Any) -> GateVerdict:
        return real(*args).model_copy(update={"reason": reason})

    monkeypatch.setattr(gate_module, "evaluate", evaluate)
    registry, ledger = FakeRegistry(), DynamoLedger()
    gate_run(ctx, storage, registry, ledger)
    ((_, description, properties),) = registry.rejected
    assert len(description) <= 1024 and "\n" not in description
    assert description.startswith("release-guard eval gate failed: accuracy [returns] (n=150)")
    assert properties["release-guard:summary"].startswith(
        "release-guard: rejected: eval gate failed: accuracy returns n=150: -5.2 percent:"
    )
    assert ledger.items[(ctx.release_id, "00#GATE")]["reason"] == reason


@pytest.mark.parametrize(
    ("gate", "data", "verdict"),
    [
        ({}, "same", "inconclusive"),
        ({"on_inconclusive": "fail"}, "same", "inconclusive"),
        ({"reject_package_on_fail": False}, "weak", "fail"),
        (
            {"metrics": [{"metric": "relevance", "floor": 0.8}], "slices": False},
            "same",
            "pass",
        ),
    ],
)
def test_only_a_fail_rejects_the_package(gate: dict[str, Any], data: str, verdict: str) -> None:
    ctx = context(**gate)
    texts = weak_returns() if data == "weak" else (CAND, CHAMP)
    storage = FakeStorage(files(ctx, *texts))
    registry, ledger = FakeRegistry(), DynamoLedger()
    v, out = gate_run(ctx, storage, registry, ledger)
    assert (v.verdict, out["verdict"]) == (verdict, verdict)
    assert out["on_inconclusive"] == gate_of(ctx).on_inconclusive
    assert registry.rejected == []
    assert (ctx.release_id, "00#GATE") in ledger.items
    assert len(storage.writes) == 2


def test_bad_records_change_nothing() -> None:
    ctx = context()
    storage = FakeStorage(files(ctx, CAND, insert(CHAMP, 5, "{oops")))
    registry, ledger = FakeRegistry(), DynamoLedger()
    with pytest.raises(InvalidReleaseRequest) as err:
        gate_run(ctx, storage, registry, ledger)
    assert f"{uris(ctx)['champion']}:5" in str(err.value)
    assert (storage.writes, registry.rejected, ledger.items) == ([], [], {})


def test_a_missing_object_names_its_field() -> None:
    ctx = context()
    storage = FakeStorage({uris(ctx)["candidate"]: CAND})
    with pytest.raises(InvalidReleaseRequest) as err:
        gate_run(ctx, storage, FakeRegistry(), DynamoLedger())
    assert err.value.field == "gate.champion_uri"


def test_no_gate_policy_is_an_invalid_request() -> None:
    event = copy.deepcopy(load_event("eval_gate", "hold-on-inconclusive"))
    event["release"]["policy"]["gate"] = None
    ctx = ReleaseContext.model_validate(event["release"])
    with pytest.raises(InvalidReleaseRequest) as err:
        run_gate(ctx, {}, FakeStorage(), RECORDS, FakeRegistry(), DynamoLedger(), REPORTS, NOW)
    assert err.value.field == "policy.gate"


# --- the sample events ------------------------------------------------------------------


def _harness_line(r: EvalRecord) -> str:
    """The shape events/eval_gate/jmespath-mapping.json maps from."""
    return json.dumps(
        {
            "example": {
                "uid": r.id,
                "topic": r.category,
                "conversation": r.cluster_id,
                "repeat": r.sample_index,
            },
            "grades": {"correct": r.scores["accuracy"] == 1.0, "safe": r.scores["safety"]},
            "timing": {"total_ms": r.latency_ms},
        }
    )


@pytest.mark.parametrize(
    "path", sorted((EVENTS / "eval_gate").glob("*.json")), ids=lambda p: p.stem
)
def test_sample_events_run_on_records_at_their_uris(path: Any) -> None:
    ctx = ReleaseContext.model_validate(json.loads(path.read_text())["release"])
    gate = gate_of(ctx)
    if gate.format != "records":
        pytest.skip(f"records of the {gate.format} format are not generated here")
    cand = evaldata.records("candidate", n=200, repeats=1)
    champ = evaldata.records("champion", n=200, repeats=1)
    if gate.mapping:
        texts = ("\n".join(map(_harness_line, cand)), "\n".join(map(_harness_line, champ)))
    else:
        texts = (evaldata.jsonl(cand), evaldata.jsonl(champ))
    parser = parser_for(gate.format, mapping=gate.mapping)
    storage = FakeStorage(files(ctx, *texts))
    verdict, out = run_gate(
        ctx, uris(ctx), storage, parser, FakeRegistry(), DynamoLedger(), REPORTS, NOW
    )
    assert verdict.pairs == 200 and verdict.problems == {}
    assert out["on_inconclusive"] == gate.on_inconclusive
    assert {r.metric.split()[0] for r in verdict.rows} == {m.metric for m in gate.metrics}


# --- known bug --------------------------------------------------------------------------


def test_a_row_with_an_unbounded_interval_is_still_recorded() -> None:
    ctx = context(
        metrics=[{"metric": "accuracy", "margin": 0.05}],
        on_inconclusive="fail",
        slices_must_pass=True,  # the unbounded slice row holds the verdict
    )

    # One long conversation in the 'returns' category: no between-cluster variation.
    def one_conversation(rs: list[EvalRecord]) -> str:
        return evaldata.jsonl(
            [
                r.model_copy(update={"cluster_id": "conv-returns"})
                if r.category == "returns"
                else r
                for r in rs
            ]
        )

    cand = one_conversation(evaldata.records("candidate", n=400))
    champ = one_conversation(evaldata.records("champion", n=400))
    storage = FakeStorage(files(ctx, cand, champ))
    ledger = DynamoLedger()
    verdict, _ = gate_run(ctx, storage, FakeRegistry(), ledger)
    assert (ctx.release_id, "00#GATE") in ledger.items
    assert verdict.verdict == "inconclusive"


# --- one promptfoo run comparing both systems (gate.promptfoo) -------------------------

FIXTURES = EVENTS.parent / "tests" / "fixtures" / "eval"
TWO = (FIXTURES / "promptfoo" / "two-providers.json").read_text()
CANDIDATE_MODEL = "bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0"
CHAMPION_MODEL = "bedrock:us.anthropic.claude-3-5-haiku-20241022-v1:0"
RESULTS = "s3://demo-release-policies/evals/v2/promptfoo-results.json"
PROMPTFOO_RULES = [
    {"metric": "format_validity", "floor": 0.5},
    {"metric": "accuracy", "margin": 0.3},
]


def promptfoo_context(**promptfoo: Any) -> ReleaseContext:
    gate: dict[str, Any] = {
        "format": "promptfoo",
        "candidate_uri": RESULTS,
        "champion_uri": RESULTS,
        "metrics": PROMPTFOO_RULES,
        "slices": False,
    }
    if promptfoo:
        gate["promptfoo"] = promptfoo
    return context(**gate)


def test_a_promptfoo_run_of_both_providers_feeds_the_deployed_gate() -> None:
    from release_guard.gate.run import parser_of

    ctx = promptfoo_context(candidate_provider=CANDIDATE_MODEL, champion_provider=CHAMPION_MODEL)
    storage = FakeStorage({RESULTS: TWO})
    reads: list[str] = []
    read = storage.read_text

    def counted(uri: str, field: str) -> str:
        reads.append(uri)
        return read(uri, field)

    storage.read_text = counted  # type: ignore[method-assign]
    registry, ledger = FakeRegistry(), DynamoLedger()
    verdict, out = run_gate(
        ctx, uris(ctx), storage, parser_of(gate_of(ctx)), registry, ledger, REPORTS, NOW
    )
    assert reads == [RESULTS]  # one file, read once: its problems counted once
    assert verdict.pairs == 12 and verdict.records == 24 and verdict.problems == {}
    accuracy = one_row(verdict, "accuracy")
    # The candidate answers "5" to "2 + 2" in the 3 tests built on q2: 9/12 vs 12/12.
    assert (accuracy.candidate, accuracy.champion) == (0.75, 1.0)
    assert accuracy.effect == pytest.approx(-0.25)
    assert out["pairs"] == 12 and (ctx.release_id, "00#GATE") in ledger.items


def one_row(verdict: GateVerdict, metric: str) -> Any:
    (row,) = [r for r in verdict.rows if r.metric == metric and r.rule != "data"]
    return row


def test_a_promptfoo_run_of_two_providers_without_gate_promptfoo_names_what_to_set() -> None:
    from release_guard.gate.run import parser_of

    ctx = promptfoo_context()
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage({RESULTS: TWO}), parser_of(gate_of(ctx)))
    assert err.value.field == "gate.promptfoo"
    message = str(err.value)
    assert "gate.promptfoo.candidate_provider and gate.promptfoo.champion_provider" in message
    assert f"'{CANDIDATE_MODEL}' (12 rows), '{CHAMPION_MODEL}' (12 rows)" in message
    assert "duplicate id" not in message


@pytest.mark.parametrize("system", ["candidate", "champion"])
def test_a_provider_the_file_lacks_is_named_with_the_providers_it_has(system: str) -> None:
    from release_guard.gate.run import parser_of

    names = {"candidate_provider": CANDIDATE_MODEL, "champion_provider": CHAMPION_MODEL}
    names[f"{system}_provider"] = "bedrock:claude-haiku-4-5"  # not the file's id
    ctx = promptfoo_context(**names)
    with pytest.raises(InvalidReleaseRequest) as err:
        load(gate_of(ctx), uris(ctx), FakeStorage({RESULTS: TWO}), parser_of(gate_of(ctx)))
    assert err.value.field == f"gate.promptfoo.{system}_provider"
    assert "no provider or prompt named 'bedrock:claude-haiku-4-5'" in str(err.value)
    assert f"the file has '{CANDIDATE_MODEL}' (12 rows)" in str(err.value)


def test_promptfoo_files_of_one_provider_each_are_read_per_system() -> None:
    from release_guard.gate.run import parser_of

    doc = json.loads(TWO)
    rows = doc["results"]["results"]
    halves = {}
    for system, model in (("candidate", CANDIDATE_MODEL), ("champion", CHAMPION_MODEL)):
        half = copy.deepcopy(doc)
        half["results"]["results"] = [r for r in rows if r["provider"]["id"] == model]
        halves[system] = json.dumps(half)
    ctx = context(
        format="promptfoo",
        promptfoo={"candidate_provider": CANDIDATE_MODEL, "champion_provider": CHAMPION_MODEL},
        metrics=PROMPTFOO_RULES,
    )
    cand, champ, problems = load(
        gate_of(ctx), uris(ctx), FakeStorage(files(ctx, *halves.values())), parser_of(gate_of(ctx))
    )
    assert (len(cand), len(champ), problems.counts) == (12, 12, {})
    # The champion's file as the candidate's: its records are the other system's.
    with pytest.raises(InvalidReleaseRequest) as err:
        load(
            gate_of(ctx),
            uris(ctx),
            FakeStorage(files(ctx, halves["champion"], halves["champion"])),
            parser_of(gate_of(ctx)),
        )
    assert err.value.field == "gate.promptfoo.candidate_provider"


def test_the_eval_gate_function_reads_with_the_policys_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """functions/eval_gate wires gate.promptfoo into the reader it gives run_gate."""
    import importlib.util

    from release_guard_cli.emulator.lambda_gaps import LambdaContext

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location(
        "rg_fn_eval_gate_test", ROOT / "functions" / "eval_gate" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen: dict[str, Any] = {}

    def fake_run_gate(ctx: Any, uris_: Any, storage: Any, parser: Any, *rest: Any) -> Any:
        seen["uris"] = uris_
        seen["records"] = parser.read_both(TWO, RESULTS)
        verdict = GateVerdict(
            verdict="pass",
            reason="r",
            rows=[],
            problems={},
            problem_examples={},
            pairs=12,
            records=24,
            policy_alpha=0.05,
        )
        return verdict, {"verdict": "pass"}

    class Settings:
        reports_bucket = "reports-bucket"

    monkeypatch.setattr(module, "run_gate", fake_run_gate)
    monkeypatch.setattr(module, "settings", lambda: Settings())
    # The template gives the namespace in the function's environment.
    monkeypatch.setattr(module.metrics.provider, "namespace", "ReleaseGuard/Test")
    event = copy.deepcopy(load_event("eval_gate", "hold-on-inconclusive"))
    event["release"]["policy"]["gate"].update(
        format="promptfoo",
        candidate_uri=RESULTS,
        champion_uri=RESULTS,
        promptfoo={"candidate_provider": CANDIDATE_MODEL, "champion_provider": CHAMPION_MODEL},
    )
    context_ = LambdaContext(
        function_name="release-guard-EvalGateFunction",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:eval-gate",
    )
    assert module.handler(event, context_) == {"verdict": "pass"}
    records, problems = seen["records"]
    assert seen["uris"] == {"candidate": RESULTS, "champion": RESULTS}
    assert not problems.counts
    assert sorted({r.system for r in records}) == ["candidate", "champion"]
