"""Adapters: promptfoo, fmeval, DeepEval and JMESPath-mapped files -> EvalRecords.

The sample files under tests/fixtures/eval are real tool outputs (see the README there);
the malformed ones are derived from them by make_malformed.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from release_guard.gate.adapters import (
    detect_format,
    from_deepeval,
    from_fmeval,
    from_mapping,
    from_promptfoo,
    parser_for,
)
from release_guard.gate.records import EvalRecord, Problems, parse_lines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval"
PROMPTFOO_SYSTEMS: dict[str, Any] = {"champion-v1": "champion", "candidate-v2": "candidate"}
LM_EVAL = {
    "id": "join('/', [doc_hash, filter])",
    "model_input": "arguments.gen_args_0.arg_0",
    "model_output": "resps[0][0]",
    "target_output": "target",
    "category": "to_string(doc.level)",
    "scores.exact_match": "exact_match",
}
INSPECT = {
    "rows": "samples",
    "id": "id",
    "sample_index": "epoch",
    "model_input": "input",
    "model_output": "output.completion",
    "target_output": "target",
    "category": "metadata.category",
    "scores.accuracy": "scores.match.value == 'C'",
    "input_tokens": "output.usage.input_tokens",
    "output_tokens": "output.usage.output_tokens",
}


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def keyed(records: list[EvalRecord]) -> dict[tuple[str, str, int], EvalRecord]:
    return {(r.system, r.id, r.sample_index): r for r in records}


def pairs(records: list[EvalRecord], system: str) -> set[tuple[str, int]]:
    return {(r.id, r.sample_index) for r in records if r.system == system}


def only(problems: Problems, kind: str) -> list[str]:
    assert problems.counts[kind] == len(problems.examples[kind])
    return problems.examples[kind]


# ---------------------------------------------------------------- promptfoo


def test_promptfoo_files_pair_by_id_var_and_fold_repeats_into_samples() -> None:
    champion, p1 = from_promptfoo(read("promptfoo/champion.json"), "champion.json", "champion")
    candidate, p2 = from_promptfoo(read("promptfoo/candidate.json"), "candidate.json", "candidate")
    assert not p1.counts and not p2.counts  # a failed assertion is a score, not a problem
    expected = {(q, s) for q in ("q1", "q2", "q3", "q4") for s in (0, 1)}  # --repeat 2
    assert pairs(champion, "champion") == pairs(candidate, "candidate") == expected

    q1 = keyed(champion)[("champion", "q1", 0)]
    assert q1.model_input == "Answer briefly: What is the capital of France?"
    assert q1.model_output == "Paris" and q1.target_output == "Paris"
    assert (q1.category, q1.cluster_id) == ("geography", "c-geo")
    assert q1.scores == {
        "pass": 1.0,
        "score": 0.975,
        "accuracy": 1.0,
        "format_validity": 1.0,
        "relevance": 0.9,
        "assert.not-contains": 1.0,
    }
    assert (q1.latency_ms, q1.input_tokens, q1.output_tokens) == (420.0, 8, 1)
    assert q1.cost_usd == pytest.approx(3.9e-05)

    q2 = keyed(candidate)[("candidate", "q2", 1)]
    assert q2.model_output == "5"
    assert (q2.scores["pass"], q2.scores["accuracy"], q2.scores["relevance"]) == (0, 0, 0.2)
    assert q2.latency_ms == 330.0  # an assertion failure still has the call's latency

    # Both systems were graded by the same llm-rubric judge with the same rubric.
    judges = {r.judge for r in champion + candidate}
    assert len(judges) == 1
    judge = judges.pop()
    assert judge is not None and judge.model == "file://grader.js"


def test_promptfoo_one_run_comparing_two_providers_is_split_by_label() -> None:
    records, problems = from_promptfoo(
        read("promptfoo/both.json"), "both.json", system_for_provider=PROMPTFOO_SYSTEMS
    )
    assert not problems.counts
    ids = {(q, 0) for q in ("q1", "q2", "q3", "q4")}
    assert pairs(records, "champion") == pairs(records, "candidate") == ids
    by = keyed(records)
    assert by[("champion", "q3", 0)].latency_ms == 910.0
    assert by[("candidate", "q3", 0)].latency_ms == 700.0
    assert by[("candidate", "q2", 0)].scores["accuracy"] == 0.0

    # The JSON Lines export of the same run gives the same records.
    lines, line_problems = from_promptfoo(
        read("promptfoo/both.jsonl"), "both.jsonl", system_for_provider=PROMPTFOO_SYSTEMS
    )
    assert not line_problems.counts
    assert keyed(lines) == by


def test_promptfoo_mapping_keys_can_be_ids_and_conflicts_are_counted() -> None:
    # Both providers share the id file://provider.js: mapping it AND a label conflicts.
    mapping: dict[str, Any] = {"file://provider.js": "candidate", "champion-v1": "champion"}
    records, problems = from_promptfoo(
        read("promptfoo/both.json"), "both.json", system_for_provider=mapping
    )
    assert {r.system for r in records} == {"candidate"}
    assert len(records) == 4
    examples = only(problems, "ambiguous system")
    assert len(examples) == 4
    assert examples[0].startswith("both.json: $.results.results[0].provider: ")

    ignored, quiet = from_promptfoo(
        read("promptfoo/both.json"),
        "both.json",
        system_for_provider={"candidate-v2": "candidate"},
        ignore_providers={"champion-v1"},
    )
    assert not quiet.counts and {r.system for r in ignored} == {"candidate"}


def test_promptfoo_unmapped_and_mixed_columns_are_problems_not_silent() -> None:
    _, unmapped = from_promptfoo(
        read("promptfoo/both.json"),
        "both.json",
        system_for_provider={"candidate-v2": "candidate"},
    )
    assert unmapped.counts["unmapped provider"] == 4

    records, mixed = from_promptfoo(read("promptfoo/both.json"), "both.json", "candidate")
    assert len(records) == 8
    [example] = only(mixed, "several promptfoo columns")
    assert example == (
        "both.json: 2 provider/prompt columns in a file read as one system: "
        "'champion-v1' (4 rows), 'candidate-v2' (4 rows)"
    )


def test_promptfoo_provider_error_is_a_failed_record_and_a_counted_problem() -> None:
    records, problems = from_promptfoo(
        read("promptfoo/candidate-errors.json"), "errors.json", "candidate"
    )
    [example] = only(problems, "error result")
    assert example.startswith("errors.json: $.results.results[2]: ")
    assert "504 Gateway Timeout" in example
    q3 = keyed(records)[("candidate", "q3", 0)]
    # Like the eval runner's failed invocations: 0 on every metric the test has.
    assert q3.scores == {
        "pass": 0.0,
        "score": 0.0,
        "accuracy": 0.0,
        "format_validity": 0.0,
        "relevance": 0.0,
        "assert.not-contains": 0.0,
    }
    assert q3.latency_ms is None and q3.cost_usd is None  # not a response time
    assert "504" in getattr(q3, "error", "")
    assert len(records) == 4


def test_promptfoo_without_an_id_var_uses_test_index_and_groups_repeats() -> None:
    def strip_ids(name: str) -> str:
        doc = json.loads(read(name))
        for row in doc["results"]["results"]:
            row["vars"].pop("id")
            row["testCase"]["vars"].pop("id")
        return json.dumps(doc)

    single, problems = from_promptfoo(
        strip_ids("promptfoo/both.json"), "both.json", system_for_provider=PROMPTFOO_SYSTEMS
    )
    assert not problems.counts
    assert pairs(single, "champion") == {(str(i), 0) for i in range(4)}

    repeated, problems = from_promptfoo(
        strip_ids("promptfoo/champion.json"), "champion.json", "champion"
    )
    assert not problems.counts  # testIdx 0,1 are repeats of test 1: id "0", samples 0 and 1
    assert pairs(repeated, "champion") == {(str(i), s) for i in (0, 2, 4, 6) for s in (0, 1)}
    assert keyed(repeated)[("champion", "4", 1)].model_output == "Use `git stash`."


def test_promptfoo_judge_comes_from_the_config_and_changes_with_the_rubric() -> None:
    doc = json.loads(read("promptfoo/both.json"))
    row = doc["results"]["results"][0]
    rubric = row["testCase"]["assert"][2]
    del rubric["provider"]
    [plain], _ = from_promptfoo(json.dumps(row), "r.jsonl", "champion")
    assert plain.judge is None  # promptfoo's default grader is not in the file

    row["testCase"]["options"] = {"provider": {"id": "bedrock:claude-judge"}}
    row["testCase"]["assert"] = [{"type": "assert-set", "assert": [rubric]}]
    [nested], _ = from_promptfoo(json.dumps(row), "r.jsonl", "champion")
    assert nested.judge is not None and nested.judge.model == "bedrock:claude-judge"

    rubric["value"] = "The answer is short."
    [changed], _ = from_promptfoo(json.dumps(row), "r.jsonl", "champion")
    assert changed.judge is not None and changed.judge.model == nested.judge.model
    assert changed.judge.prompt_hash != nested.judge.prompt_hash


def test_promptfoo_bad_rows_are_each_counted_with_their_json_path() -> None:
    records, problems = from_promptfoo(
        read("promptfoo/bad-rows.json"), "bad.json", system_for_provider=PROMPTFOO_SYSTEMS
    )
    rows = "bad.json: $.results.results"
    assert only(problems, "non-numeric score") == [f"{rows}[1].namedScores: accuracy: 'high'"]
    assert only(problems, "missing id")[0].startswith(f"{rows}[2]: ")
    assert only(problems, "unmapped provider")[0].startswith(f"{rows}[3].provider: ")
    assert only(problems, "invalid row") == [f"{rows}[4]: not an object"]
    assert only(problems, "invalid latency_ms")[0].startswith(f"{rows}[5]: latency_ms: ")
    assert len(records) == 4  # rows 0, 1 (without the bad score), 6 and 7
    assert "accuracy" not in keyed(records)[("candidate", "q1", 0)].scores


def test_promptfoo_truncated_file_is_one_invalid_json_with_line_and_column() -> None:
    records, problems = from_promptfoo(read("promptfoo/truncated.json"), "t.json", "champion")
    [example] = only(problems, "invalid JSON")
    line = read("promptfoo/truncated.json").count("\n") + 1
    assert example.startswith(f"t.json:{line}:")
    assert records == []


# ---------------------------------------------------------------- fmeval


def test_fmeval_rows_pair_by_content_whatever_their_order() -> None:
    champion, p1 = from_fmeval(read("fmeval/champion.jsonl"), "champion.jsonl", "champion")
    candidate, p2 = from_fmeval(read("fmeval/candidate.jsonl"), "candidate.jsonl", "candidate")
    assert not p1.counts and not p2.counts
    assert len(champion) == 5
    assert pairs(champion, "champion") == pairs(candidate, "candidate")
    assert [r.model_input for r in champion] == [r.model_input for r in reversed(candidate)]

    champ = {r.model_input: r for r in champion}
    cand = {r.model_input: r for r in candidate}
    mars = "Which planet is known as the Red Planet?"
    assert champ[mars].target_output == "Mars<OR>planet Mars"
    assert champ[mars].category == "science"
    wall = "In which year did the Berlin Wall fall?"
    assert champ[wall].scores["exact_match_score"] == 0.0
    assert cand[wall].scores["exact_match_score"] == 1.0
    assert set(cand[wall].scores) == {
        "f1_score",
        "exact_match_score",
        "quasi_exact_match_score",
        "precision_over_words",
        "recall_over_words",
        "bertscore",
    }


def test_fmeval_failed_score_is_counted_and_left_out() -> None:
    records, problems = from_fmeval(
        read("fmeval/candidate-score-error.jsonl"), "e.jsonl", "candidate"
    )
    [metric] = only(problems, "metric error")
    assert metric == "e.jsonl:2: $.scores[5]: bertscore: 'bertscore helper model timed out'"
    assert only(problems, "error result")[0].startswith("e.jsonl:2: $.error: ")
    assert "bertscore" not in records[1].scores and records[1].scores["f1_score"] == 1.0


def test_fmeval_malformed_lines_are_counted_by_line() -> None:
    records, problems = from_fmeval(read("fmeval/malformed.jsonl"), "m.jsonl", "champion")
    assert [e.split(": ")[0] for e in only(problems, "invalid JSON")] == ["m.jsonl:2", "m.jsonl:3"]
    assert only(problems, "missing scores")[0].startswith("m.jsonl:4: $.scores: ")
    assert only(problems, "non-numeric score") == ["m.jsonl:6: $.scores[0]: f1_score: '0.5'"]
    assert only(problems, "invalid score entry")[0].startswith("m.jsonl:7: $.scores[1]: ")
    assert only(problems, "missing id")[0].startswith("m.jsonl:8: $: none of model_input")
    assert len(records) == 3  # lines 1, 6 and 7, each without its bad score


def test_fmeval_identical_rows_are_numbered_as_samples() -> None:
    line = read("fmeval/champion.jsonl").splitlines()[0]
    records, problems = from_fmeval(f"{line}\n{line}\n", "dup.jsonl", "champion")
    assert not problems.counts
    assert [(r.id == records[0].id, r.sample_index) for r in records] == [(True, 0), (True, 1)]


# ---------------------------------------------------------------- DeepEval


def test_deepeval_runs_pair_by_test_case_name() -> None:
    champion, p1 = from_deepeval(read("deepeval/champion.json"), "champion.json", "champion")
    candidate, p2 = from_deepeval(read("deepeval/candidate.json"), "candidate.json", "candidate")
    assert not p1.counts and not p2.counts
    ids = {(f"qa-00{i}", 0) for i in range(1, 5)}
    assert pairs(champion, "champion") == pairs(candidate, "candidate") == ids

    qa2 = keyed(candidate)[("candidate", "qa-002", 0)]
    assert qa2.model_input == "What is 2 + 2?"
    assert (qa2.model_output, qa2.target_output) == ("5", "4")
    assert qa2.scores == {"Exact Match": 0.0, "Helpfulness [GEval]": 0.3, "pass": 0.0}
    assert (qa2.category, qa2.cluster_id) == ("math", "c-arith")
    assert qa2.latency_ms == pytest.approx(500.0)  # completionTime is in seconds
    assert (qa2.input_tokens, qa2.output_tokens) == (13, 1)
    assert qa2.cost_usd == pytest.approx(2e-05)
    judges = {r.judge for r in champion + candidate}
    assert len(judges) == 1
    judge = judges.pop()
    assert judge is not None and judge.model == "gpt-4.1-mini"


def test_deepeval_latest_test_run_file_reads_like_the_saved_run() -> None:
    wrapped, problems = from_deepeval(read("deepeval/latest_test_run.json"), "l.json", "candidate")
    saved, _ = from_deepeval(read("deepeval/candidate.json"), "c.json", "candidate")
    assert not problems.counts
    assert keyed(wrapped) == keyed(saved)


def test_deepeval_failed_judge_call_is_counted_and_its_score_left_out() -> None:
    records, problems = from_deepeval(
        read("deepeval/candidate-metric-error.json"), "e", "candidate"
    )
    [example] = only(problems, "metric error")
    assert example.startswith("e: $.testCases[2].metricsData[1]: Helpfulness [GEval]: ")
    assert "429" in example
    qa3 = keyed(records)[("candidate", "qa-003", 0)]
    assert qa3.scores == {"Exact Match": 0.0, "pass": 0.0}


def test_deepeval_malformed_cases_are_counted_by_path() -> None:
    records, problems = from_deepeval(read("deepeval/malformed.json"), "m.json", "champion")
    assert only(problems, "non-numeric score") == [
        "m.json: $.testCases[1].metricsData[0]: Exact Match: 'high'"
    ]
    assert only(problems, "missing id")[0].startswith("m.json: $.testCases[2]: ")
    assert only(problems, "invalid latency_ms")[0].startswith("m.json: $.testCases[3]: ")
    assert only(problems, "unsupported test case") == [
        "m.json: $.conversationalTestCases[0]: conversational test cases"
    ]
    assert [r.id for r in records] == ["qa-001", "qa-002"]


def test_deepeval_before_1_0_is_named_as_unsupported() -> None:
    old = {"testCases": [{"name": "t", "input": "i", "metricsMetadata": [{"metric": "m"}]}]}
    _, problems = from_deepeval(json.dumps(old), "old.json", "champion")
    assert "before 1.0 (metricsMetadata)" in only(problems, "wrong format")[0]


# ---------------------------------------------------------------- JMESPath mapping


def test_mapping_reads_lm_eval_samples_jsonl() -> None:
    champion, p1 = from_mapping(
        read("mapping/lm-eval-champion.jsonl"), "c.jsonl", "champion", LM_EVAL
    )
    candidate, p2 = from_mapping(
        read("mapping/lm-eval-candidate.jsonl"), "d.jsonl", "candidate", LM_EVAL
    )
    assert not p1.counts and not p2.counts
    assert len(champion) == 6  # 3 docs x 2 filters, the filter is part of the id
    assert pairs(champion, "champion") == pairs(candidate, "candidate")
    strict = [r for r in candidate if r.id.endswith("/strict-match")]
    assert [r.scores["exact_match"] for r in strict] == [1.0, 1.0, 1.0]
    first = strict[0]
    assert first.model_input.startswith("Question: Tom has 3 apples")
    assert (first.model_output, first.target_output, first.category) == (
        "The answer is 7.",
        "7",
        "1",
    )


def test_mapping_reads_an_inspect_log_with_a_rows_expression() -> None:
    champion, p1 = from_mapping(
        read("mapping/inspect-champion.json"), "c.json", "champion", INSPECT, fmt="json"
    )
    candidate, p2 = from_mapping(
        read("mapping/inspect-candidate.json"), "d.json", "candidate", INSPECT, fmt="json"
    )
    assert not p1.counts and not p2.counts
    ids = {(q, epoch) for q in ("q1", "q2", "q3") for epoch in (1, 2)}
    assert pairs(champion, "champion") == pairs(candidate, "candidate") == ids
    assert keyed(champion)[("champion", "q3", 2)].scores == {"accuracy": 0.0}  # "I" -> 0
    q2 = keyed(candidate)[("candidate", "q2", 1)]
    assert (q2.scores, q2.model_output, q2.category) == ({"accuracy": 0.0}, "5", "math")
    assert (q2.input_tokens, q2.output_tokens) == (9, 1)


def test_mapping_bad_rows_are_counted_by_line() -> None:
    mapping = {"id": "doc_hash", "scores.exact_match": "exact_match"}
    records, problems = from_mapping(
        read("mapping/lm-eval-malformed.jsonl"), "m", "champion", mapping
    )
    assert [e.split(": ")[0] for e in only(problems, "invalid JSON")] == ["m:2"]
    assert only(problems, "non-numeric score") == ["m:3: $: exact_match: 'yes'"]
    assert only(problems, "missing id") == ["m:4: $: id = 'doc_hash' gave nothing"]
    assert len(records) == 2


def test_mapping_expression_errors_on_a_row_are_counted() -> None:
    text = '{"a": 1}\n{"a": "x"}\n{"a": ""}\n{"a": 1.5}\n'
    records, problems = from_mapping(text, "f", "champion", {"id": "to_string(abs(a))"})
    assert [r.id for r in records] == ["1", "1.5"]
    assert only(problems, "mapping error")[0].startswith("f:2: $: id = 'to_string(abs(a))': ")
    assert only(problems, "mapping error")[1].startswith("f:3: $: ")

    _, plain = from_mapping(text, "f", "champion", {"id": "a"})
    assert only(plain, "missing id") == ["f:3: $: id = 'a' gave nothing"]
    assert only(plain, "invalid id") == ["f:4: $: id: 1.5"]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"id": "a[", "scores.x": "b"}, "mapping['id'] = 'a[': "),
        ({"id": "a", "latency": "b"}, "mapping['latency']: not a mappable field"),
        ({"id": "a", "system": "b"}, "mapping['system']: not a mappable field"),
        ({"id": "a", "rows": "b"}, "mapping['rows']: not a mappable field"),  # jsonl: no rows
        ({"model_output": "a"}, "mapping has no 'id' expression"),
        ({"id": ""}, "mapping['id']: a JMESPath expression"),
    ],
)
def test_mapping_mistakes_are_named_and_nothing_is_read(
    mapping: dict[str, str], message: str
) -> None:
    records, problems = from_mapping('{"a": 1}\n', "f.jsonl", "champion", mapping)
    assert records == []
    assert any(message in e for e in only(problems, "invalid mapping")), problems.examples


def test_mapping_json_rows_that_are_not_a_list_are_a_wrong_format() -> None:
    text = read("mapping/inspect-champion.json")
    _, problems = from_mapping(text, "i.json", "champion", {**INSPECT, "rows": "eval"}, fmt="json")
    [example] = only(problems, "wrong format")
    assert example.startswith("i.json: expected a list of rows at 'eval'")
    _, lines = from_mapping(text, "i.json", "champion", {"id": "id"})  # fmt jsonl
    assert "expected JSON Lines" in only(lines, "wrong format")[0]


def test_mapping_booleans_are_scores_and_whole_score_objects_are_read() -> None:
    text = '{"k": 7, "ok": true, "m": {"f1": 0.5, "em": false}, "j": "gpt-x"}\n'
    mapping = {"id": "k", "scores": "m", "scores.ok": "ok", "judge.model": "j"}
    [record], problems = from_mapping(text, "f", "candidate", mapping)
    assert not problems.counts
    assert (record.id, record.scores) == ("7", {"f1": 0.5, "em": 0.0, "ok": 1.0})
    assert record.judge is not None and record.judge.model == "gpt-x"


# ---------------------------------------------------------------- across adapters


WRONG = [
    (from_fmeval, "deepeval/champion.json", "a DeepEval test run"),
    (from_fmeval, "promptfoo/both.json", "a promptfoo results file"),
    (from_fmeval, "promptfoo/both.jsonl", "a promptfoo results file"),
    (from_promptfoo, "fmeval/champion.jsonl", "fmeval output records"),
    (from_promptfoo, "deepeval/champion.json", "a DeepEval test run"),
    (from_promptfoo, "mapping/inspect-champion.json", "a JSON object with keys"),
    (from_deepeval, "promptfoo/both.json", "a promptfoo results file"),
    (from_deepeval, "promptfoo/both.jsonl", "a promptfoo results file"),
    (from_deepeval, "fmeval/champion.jsonl", "fmeval output records"),
    (from_deepeval, "mapping/lm-eval-champion.jsonl", "JSON Lines whose first row has keys"),
]


@pytest.mark.parametrize(("adapter", "name", "found"), WRONG)
def test_a_file_of_another_tool_is_one_clear_problem(adapter: Any, name: str, found: str) -> None:
    records, problems = adapter(read(name), name, "champion")
    assert records == []
    assert dict(problems.counts) == {"wrong format": 1}
    assert f"found {found}" in problems.examples["wrong format"][0]


def test_release_guard_records_are_recognised_as_such() -> None:
    line = json.dumps({"id": "a", "system": "champion", "scores": {"x": 1}})
    _, problems = from_deepeval(line, "r.jsonl", "champion")
    assert "found release-guard eval records" in only(problems, "wrong format")[0]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("promptfoo/both.json", "promptfoo"),
        ("promptfoo/both.jsonl", "promptfoo"),
        ("fmeval/champion.jsonl", "fmeval"),
        ("deepeval/champion.json", "deepeval"),
        ("deepeval/latest_test_run.json", "deepeval"),
        ("mapping/inspect-champion.json", None),
    ],
)
def test_detect_format(name: str, kind: str | None) -> None:
    assert detect_format(read(name)) == kind


GARBAGE = [
    "",
    "   \n",
    "null",
    "[]",
    "{}",
    "0",
    '"x"',
    "1e999",
    "\x00\x01",
    "{" * 5000,
    "[" * 100000,
]


@pytest.mark.parametrize("text", GARBAGE, ids=range(len(GARBAGE)))
def test_no_input_makes_an_adapter_raise(text: str) -> None:
    for records, problems in (
        from_promptfoo(text, "g", "champion"),
        from_fmeval(text, "g", "champion"),
        from_deepeval(text, "g", "champion"),
        from_mapping(text, "g", "champion", {"id": "id"}),
        from_mapping(text, "g", "champion", {"id": "id", "rows": "rows"}, fmt="json"),
    ):
        assert records == [] or all(isinstance(r, EvalRecord) for r in records)
        assert text.strip() in ("{}", "[]") or problems.counts  # never silently nothing


def test_every_sample_file_goes_through_every_adapter_without_raising() -> None:
    for path in sorted(FIXTURES.rglob("*.json*")):
        text = path.read_text()
        for adapter in (from_promptfoo, from_fmeval, from_deepeval):
            records, problems = adapter(text, path.name, "candidate")
            assert records or problems.counts, (adapter.__name__, path.name)


def test_promptfoo_needs_exactly_one_way_to_name_the_system() -> None:
    with pytest.raises(ValueError):
        from_promptfoo("{}", "f")
    with pytest.raises(ValueError):
        from_promptfoo("{}", "f", "champion", system_for_provider=PROMPTFOO_SYSTEMS)


# ---------------------------------------------------------------- the gate's reader


def test_parser_for_reads_one_file_per_system_for_the_gate() -> None:
    read_deepeval = parser_for("deepeval")
    records, problems = read_deepeval(read("deepeval/champion.json"), "c.json", "champion")
    assert not problems.counts and {r.system for r in records} == {"champion"}

    records, problems = parser_for("fmeval")(read("fmeval/candidate.jsonl"), "f", "candidate")
    assert len(records) == 5 and {r.system for r in records} == {"candidate"}

    mapped = parser_for("records", mapping=INSPECT, mapping_fmt="json")
    records, _ = mapped(read("mapping/inspect-candidate.json"), "i.json", "candidate")
    assert len(records) == 6

    _, problems = read_deepeval(read("deepeval/champion.json"), "c.json", "baseline")
    assert only(problems, "invalid system") == ["c.json: 'baseline'"]

    own = "\n".join(
        json.dumps({"id": "a", "system": system, "scores": {"x": 1}})
        for system in ("candidate", "champion")
    )
    records, problems = parser_for("records")(own, "r.jsonl", "candidate")
    assert [r.system for r in records] == ["candidate"]
    assert only(problems, "record of the other system") == ["r.jsonl: 1"]


# ---------------------------------------------------------------- fmeval written to S3


def _fmeval_nine() -> list[dict[str, Any]]:
    """Nine distinct fmeval records: the sample file's five, and four more like them."""
    rows = [json.loads(line) for line in read("fmeval/champion.jsonl").splitlines()]
    extra = []
    for i, row in enumerate(rows[:4]):
        more = copy.deepcopy(row)
        more["model_input"] = f"{row['model_input']} (variant {i})"
        extra.append(more)
    return rows + extra


@pytest.mark.parametrize("between", ["", "\n"], ids=["S3SaveStrategy", "FileSaveStrategy"])
def test_fmeval_batches_joined_without_a_newline_lose_no_record(between: str) -> None:
    # fmeval's S3SaveStrategy uploads each batch as a multipart part, its records joined
    # by "\n" and the parts by nothing; FileSaveStrategy writes "\n" between batches.
    rows = _fmeval_nine()
    parts = [rows[0:4], rows[4:7], rows[7:9]]
    text = between.join("\n".join(json.dumps(r) for r in part) for part in parts)
    assert text.count("}{") == (2 if between == "" else 0)
    records, problems = from_fmeval(text, "s3.jsonl", "champion")
    assert not problems.counts
    assert len(records) == 9 and len({r.id for r in records}) == 9
    assert [r.model_input for r in records] == [r["model_input"] for r in rows]
    lines, _ = from_fmeval("\n".join(json.dumps(r) for r in rows), "f.jsonl", "champion")
    assert records == lines
    assert detect_format(text) == "fmeval"


def test_a_broken_record_between_parts_is_counted_and_the_next_line_read() -> None:
    rows = [json.dumps(r) for r in _fmeval_nine()]
    text = rows[0] + rows[1][:40] + "\n" + rows[2] + rows[3] + "\n" + rows[4]
    records, problems = from_fmeval(text, "s3.jsonl", "champion")
    # Line 1: the first record, then a cut one (counted); line 2: two records; line 3: one.
    assert only(problems, "invalid JSON")[0].startswith("s3.jsonl:1: ")
    assert [r.model_input for r in records] == [
        json.loads(rows[i])["model_input"] for i in (0, 2, 3, 4)
    ]


def test_reading_concatenated_records_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear by construction, checked by counting, not timing: every record is decoded
    once, in place in the file's own string (no copy of the rest, which would make n
    records cost n^2), at increasing offsets."""
    from release_guard.gate import adapters

    calls: list[tuple[int, int]] = []
    real = adapters._DECODER

    class Counting:
        def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
            calls.append((id(s), idx))
            return real.raw_decode(s, idx)

    monkeypatch.setattr(adapters, "_DECODER", Counting())
    text = json.dumps(_fmeval_nine()[0]) * 3000  # one line, 3000 records
    records, problems = from_fmeval(text, "big.jsonl", "champion")
    assert len(records) == 3000 and not problems.counts
    # One look at the first value (what the file is), then one read per record.
    assert len(calls) == 3001 and {c[0] for c in calls[1:]} == {id(text)}
    offsets = [idx for _, idx in calls[1:]]
    assert offsets == sorted(set(offsets)) and offsets[0] == 0


# ---------------------------------------------------------------- promptfoo --repeat JSONL


def _as_jsonl(name: str, *, strip_ids: bool = False) -> str:
    """promptfoo's `-o results.jsonl` export of the same run: one results row a line
    (both.jsonl is exactly both.json's rows), which does not record --repeat."""
    doc = json.loads(read(name))
    rows = doc["results"]["results"]
    if strip_ids:
        for row in rows:
            row["vars"].pop("id")
            row["testCase"]["vars"].pop("id")
    return "\n".join(json.dumps(row) for row in rows) + "\n"


@pytest.mark.parametrize("strip_ids", [False, True], ids=["id var", "no id var"])
def test_promptfoo_jsonl_of_a_repeated_run_keeps_the_repeats_apart(strip_ids: bool) -> None:
    doc = json.loads(read("promptfoo/champion.json"))
    assert doc["runtimeOptions"]["repeat"] == 2
    if strip_ids:
        for row in doc["results"]["results"]:
            row["vars"].pop("id")
            row["testCase"]["vars"].pop("id")
    from_json, p1 = from_promptfoo(json.dumps(doc), "champion.json", "champion")
    lines, p2 = from_promptfoo(
        _as_jsonl("promptfoo/champion.json", strip_ids=strip_ids), "champion.jsonl", "champion"
    )
    assert not p1.counts and not p2.counts
    assert keyed(lines) == keyed(from_json)
    assert len(lines) == 8 and len(keyed(lines)) == 8  # 4 tests x 2 repeats, no duplicate
    assert {r.sample_index for r in lines} == {0, 1}


def test_promptfoo_jsonl_without_repeats_is_left_as_it_is() -> None:
    lines, problems = from_promptfoo(
        read("promptfoo/both.jsonl"), "both.jsonl", system_for_provider=PROMPTFOO_SYSTEMS
    )
    assert not problems.counts and {r.sample_index for r in lines} == {0}
    # One id var on two different tests is a duplicate, not a repeat: the gate flags it.
    rows = [json.loads(line) for line in read("promptfoo/both.jsonl").splitlines()]
    twin = copy.deepcopy(rows[0])
    twin["testIdx"] = 9
    twin["vars"]["question"] = twin["testCase"]["vars"]["question"] = "Capital of Spain?"
    text = "\n".join(json.dumps(r) for r in [*rows, twin])
    records, _ = from_promptfoo(text, "dup.jsonl", system_for_provider=PROMPTFOO_SYSTEMS)
    q1 = [r for r in records if r.system == "champion" and r.id == "q1"]
    assert [r.sample_index for r in q1] == [0, 0]


# ---------------------------------------------------------------- numbers out of range

HUGE = int("9" * 400)  # valid JSON; float() of it overflows


def test_a_huge_latency_or_cost_is_refused_naming_the_field_and_the_row() -> None:
    doc = json.loads(read("promptfoo/both.json"))
    rows = doc["results"]["results"]
    rows[0]["latencyMs"] = HUGE
    rows[1]["cost"] = 1e308 * 10  # inf: json writes Infinity, which json reads back
    rows[2]["tokenUsage"]["completion"] = rows[2]["response"]["tokenUsage"]["completion"] = HUGE
    rows[3]["namedScores"]["accuracy"] = HUGE
    records, problems = from_promptfoo(
        json.dumps(doc), "r.json", system_for_provider=PROMPTFOO_SYSTEMS
    )
    at = "r.json: $.results.results"
    assert only(problems, "invalid latency_ms")[0].startswith(f"{at}[0]: latency_ms: ")
    assert only(problems, "invalid cost_usd")[0].startswith(f"{at}[1]: cost_usd: ")
    assert only(problems, "invalid output_tokens")[0].startswith(f"{at}[2]: output_tokens: ")
    assert only(problems, "non-numeric score")[0].startswith(f"{at}[3].namedScores: accuracy: ")
    assert len(records) == 5  # rows 0-2 refused; row 3 kept without the bad score


@pytest.mark.parametrize("value", [HUGE, "1e999", "-1e999", "NaN"])
def test_huge_and_non_finite_numbers_never_raise_in_any_adapter(value: Any) -> None:
    number = str(value)
    fm = json.loads(read("fmeval/champion.jsonl").splitlines()[0])
    fm["scores"][0]["value"] = "<number>"
    fm_text = json.dumps(fm).replace('"<number>"', number)
    _, problems = from_fmeval(fm_text, "f.jsonl", "champion")
    assert only(problems, "non-numeric score")[0].startswith("f.jsonl:1: $.scores[0]: ")

    de = json.loads(read("deepeval/champion.json"))
    de["testCases"][0]["completionTime"] = "<number>"
    de_text = json.dumps(de).replace('"<number>"', number)
    records, problems = from_deepeval(de_text, "d.json", "champion")
    assert only(problems, "invalid latency_ms")[0].startswith("d.json: $.testCases[0]: ")
    assert len(records) == 3

    line = f'{{"k": "a", "ms": {number}, "s": {number}}}\n'
    records, problems = from_mapping(
        line, "m.jsonl", "champion", {"id": "k", "latency_ms": "ms", "scores.x": "s"}
    )
    assert records == [] or "x" not in records[0].scores
    assert problems.counts

    own = f'{{"id": "a", "system": "champion", "latency_ms": {number}}}\n'
    records, problems = parse_lines(own, "r.jsonl")
    assert records == [] and only(problems, "invalid latency_ms")[0].startswith("r.jsonl:1: ")


def test_an_integer_longer_than_python_reads_is_invalid_json_not_an_error() -> None:
    digits = "1" * 5000  # json.loads raises ValueError (int_max_str_digits), not JSONDecodeError
    for text in (f'{{"id": {digits}}}\n', f'{{"results": {{"results": [{digits}]}}}}'):
        for records, problems in (
            from_promptfoo(text, "g", "champion"),
            from_fmeval(text, "g", "champion"),
            from_deepeval(text, "g", "champion"),
            from_mapping(text, "g", "champion", {"id": "id"}),
        ):
            assert records == [] and problems.counts
