"""Deterministic scorers, output extraction, token/cost accounting and the JSON Schema
subset, on fixed inputs."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import ValidationError
from release_guard.gate import scorers as sc
from release_guard.gate.scorers import Observation, ScorerConfig


def spec(data: dict[str, Any]) -> sc.ScorerBase:
    config = ScorerConfig.model_validate({"scorers": [data]})
    return config.scorers[0]


def score(data: dict[str, Any], output: str, target: Any = None, **obs: Any) -> float:
    return spec(data).score(Observation(output=output, target=target, **obs)).value


# --------------------------------------------------------------------------- matching


def test_exact_match_strips_by_default_and_is_case_sensitive() -> None:
    assert score({"type": "exact_match"}, "  Paris\n", "Paris") == 1.0
    assert score({"type": "exact_match"}, "paris", "Paris") == 0.0
    assert score({"type": "exact_match", "case_sensitive": False}, "paris", "Paris") == 1.0
    assert score({"type": "exact_match", "strip": False}, " Paris", "Paris") == 0.0
    assert score({"type": "exact_match"}, "Lyon", ["Paris", "Lyon"]) == 1.0


def test_normalized_match_ignores_case_punctuation_articles_and_spacing() -> None:
    s = {"type": "normalized_match"}
    assert score(s, "The  Eiffel Tower!", "eiffel tower") == 1.0
    assert score(s, "an apple, a pear", "apple pear") == 1.0
    assert score(s, "«Paris»", "paris") == 1.0  # Unicode punctuation
    assert score(s, "theatre", "atre") == 0.0  # articles are whole words only
    assert score(s, "Paris, France", "Paris") == 0.0
    assert sc.normalize("  The Cat's   HAT. ") == "cat s hat"


def test_contains_any_or_all_of_the_targets() -> None:
    out = "The capital is Paris; Lyon is second."
    assert score({"type": "contains"}, out, ["paris", "berlin"]) == 1.0
    assert score({"type": "contains", "mode": "all"}, out, ["paris", "berlin"]) == 0.0
    assert score({"type": "contains", "mode": "all"}, out, ["Paris", "Lyon"]) == 1.0
    assert score({"type": "contains", "case_sensitive": True}, out, "paris") == 0.0
    result = spec({"type": "contains", "mode": "all"}).score(
        Observation(output=out, target=["Paris", "Berlin"])
    )
    assert result.detail is not None and "Berlin" in result.detail


def test_regex_search_fullmatch_and_flags() -> None:
    assert score({"type": "regex", "pattern": r"\d{3}"}, "code 123 ok") == 1.0
    assert score({"type": "regex", "pattern": r"\d{3}", "match": "fullmatch"}, "code 123") == 0.0
    assert score({"type": "regex", "pattern": r"\d{3}", "match": "fullmatch"}, "123") == 1.0
    assert score({"type": "regex", "pattern": "^yes$"}, "YES") == 0.0
    assert score({"type": "regex", "pattern": "^yes$", "flags": ["IGNORECASE"]}, "YES") == 1.0
    assert score({"type": "regex", "pattern": "^b$", "flags": ["MULTILINE"]}, "a\nb") == 1.0


def test_regex_pattern_is_checked_when_the_config_loads() -> None:
    with pytest.raises(ValidationError, match="invalid regular expression"):
        spec({"type": "regex", "pattern": "(unclosed"})
    # A pattern may come per example instead; without one the scorer cannot score.
    bare = spec({"type": "regex"})
    assert bare.missing(None) == "scorer 'regex' needs a pattern"
    assert bare.with_options({"pattern": "ok"}).score(Observation(output="ok")).value == 1.0


def test_scorers_that_need_a_target_say_so() -> None:
    for kind in ("exact_match", "normalized_match", "contains"):
        assert spec({"type": kind}).missing(None) is not None
        assert spec({"type": kind}).missing([]) is not None
        assert spec({"type": kind}).missing("x") is None
    assert spec({"type": "json_valid"}).missing(None) is None


def test_per_example_options_cannot_change_type_or_name() -> None:
    with pytest.raises(ValueError, match="cannot change name"):
        spec({"type": "contains"}).with_options({"name": "other"})
    with pytest.raises(ValidationError):
        spec({"type": "contains"}).with_options({"mode": "some"})


# --------------------------------------------------------------------------- JSON


def test_json_valid_with_and_without_code_fences() -> None:
    assert score({"type": "json_valid"}, '{"a": 1}') == 1.0
    assert score({"type": "json_valid"}, '```json\n{"a": 1}\n```') == 1.0
    assert score({"type": "json_valid", "strip_code_fence": False}, '```json\n{"a": 1}\n```') == 0.0
    assert score({"type": "json_valid"}, "{'a': 1}") == 0.0
    result = spec({"type": "json_valid"}).score(Observation(output="{oops"))
    assert result.detail is not None and result.detail.startswith("not JSON")


PERSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "person",
    "type": "object",
    "required": ["name", "age"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^[A-Z]"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "role": {"enum": ["admin", "user", 1]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": ["string", "null"]},
    },
}


@pytest.mark.parametrize(
    ("instance", "error"),
    [
        ({"name": "Ada", "age": 36}, None),
        ({"name": "Ada", "age": 36.0, "note": None, "tags": ["x"], "role": "user"}, None),
        ({"name": "Ada", "age": 36, "role": 1.0}, None),  # 1.0 == 1 in JSON
        ({"name": "Ada"}, "$: missing required property 'age'"),
        ({"name": "Ada", "age": 36, "x": 1}, "$: additional property 'x' is not allowed"),
        ({"name": "Ada", "age": "36"}, "$.age: expected integer, got string"),
        ({"name": "Ada", "age": 36.5}, "$.age: expected integer, got number"),
        ({"name": "Ada", "age": True}, "$.age: expected integer, got boolean"),
        ({"name": "Ada", "age": -1}, "$.age: -1 is less than the minimum 0"),
        ({"name": "Ada", "age": 151}, "$.age: 151 is greater than the maximum 150"),
        ({"name": "", "age": 1}, "$.name: shorter than 1 characters"),
        ({"name": "Adaaaaaaaaa", "age": 1}, "$.name: longer than 10 characters"),
        ({"name": "ada", "age": 1}, "$.name: does not match pattern '^[A-Z]'"),
        ({"name": "Ada", "age": 1, "role": "root"}, '$.role: "root" is not one of the enum'),
        ({"name": "Ada", "age": 1, "role": True}, "$.role: true is not one of the enum"),
        ({"name": "Ada", "age": 1, "tags": ["a", 2]}, "$.tags[1]: expected string, got integer"),
        ({"name": "Ada", "age": 1, "note": 3}, "$.note: expected string or null, got integer"),
        ([], "$: expected object, got array"),
    ],
)
def test_json_schema_subset(instance: Any, error: str | None) -> None:
    errors = sc.schema_errors(instance, PERSON)
    if error is None:
        assert errors == []
    else:
        assert any(e.startswith(error) for e in errors), errors


def test_json_schema_boolean_and_schema_valued_additional_properties() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "number"}}
    assert sc.schema_errors({"a": 1, "b": 2.5}, schema) == []
    assert sc.schema_errors({"a": "x"}, schema) == ["$.a: expected number, got string"]
    assert sc.schema_errors({"a": 1}, {"properties": {"a": False}}) == [
        "$.a: no value is allowed here"
    ]
    assert sc.schema_errors(1, True) == []


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"oneOf": [{"type": "string"}]}, "#/oneOf: unsupported JSON Schema keyword"),
        ({"properties": {"a": {"$ref": "#/x"}}}, "#/properties/a/$ref: unsupported"),
        ({"type": "text"}, "#/type: one of object"),
        ({"items": [{"type": "string"}]}, "#/items: one schema (the tuple form"),
        ({"required": "a"}, "#/required: a list of property names"),
        ({"minLength": -1}, "#/minLength: a non-negative integer"),
        ({"maximum": "9"}, "#/maximum: a number"),
        ({"maximum": 10**400}, "#/maximum: a number"),  # no float holds it: no OverflowError
        ({"pattern": "("}, "#/pattern: invalid regular expression"),
        ({"enum": []}, "#/enum: a non-empty list"),
        ([], "#: a schema is an object or a boolean"),
    ],
)
def test_json_schema_outside_the_subset_is_rejected_when_the_config_loads(
    schema: Any, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("$", r"\$")):
        sc.check_schema(schema)
    with pytest.raises(ValidationError):
        spec({"type": "json_schema", "schema": schema})


def test_json_schema_scorer_parses_the_output_first() -> None:
    s = {"type": "json_schema", "schema": PERSON}
    assert score(s, '```json\n{"name": "Ada", "age": 36}\n```') == 1.0
    assert score(s, '{"name": "Ada"}') == 0.0
    result = spec(s).score(Observation(output="not json"))
    assert result.value == 0.0 and result.detail is not None and "not JSON" in result.detail


# --------------------------------------------------------------------------- limits


def test_length_in_chars_and_words() -> None:
    assert score({"type": "length", "max_chars": 5}, "hello") == 1.0
    assert score({"type": "length", "max_chars": 4}, "hello") == 0.0
    assert score({"type": "length", "min_words": 2, "max_words": 3}, "one two three") == 1.0
    assert score({"type": "length", "min_words": 2}, "one") == 0.0
    with pytest.raises(ValidationError, match="at least one"):
        spec({"type": "length"})
    with pytest.raises(ValidationError, match="minimum is above"):
        spec({"type": "length", "min_chars": 5, "max_chars": 1})


def test_latency_tokens_and_cost_limits() -> None:
    assert score({"type": "latency", "max_ms": 100}, "x", latency_ms=99.5) == 1.0
    assert score({"type": "latency", "max_ms": 100}, "x", latency_ms=100.5) == 0.0
    assert score({"type": "latency", "max_ms": 100}, "x") == 0.0
    tokens = {"type": "tokens", "max_output_tokens": 10, "max_total_tokens": 30}
    assert score(tokens, "x", input_tokens=20, output_tokens=10) == 1.0
    assert score(tokens, "x", input_tokens=21, output_tokens=10) == 0.0
    assert score(tokens, "x", input_tokens=1, output_tokens=11) == 0.0
    assert score(tokens, "x") == 0.0  # unknown counts never pass
    priced = {"usage": {"price_per_1k_output_tokens": 0.01}}
    config = ScorerConfig.model_validate({**priced, "scorers": [{"type": "cost", "max_usd": 0.1}]})
    assert config.scorers[0].score(Observation(output="x", cost_usd=0.1)).value == 1.0
    assert config.scorers[0].score(Observation(output="x", cost_usd=0.2)).value == 0.0


def test_cost_scorer_needs_a_price() -> None:
    with pytest.raises(ValidationError, match=r"needs usage\.price"):
        ScorerConfig.model_validate({"scorers": [{"type": "cost", "max_usd": 1}]})


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ([{"generated_text": "tgi list"}], "tgi list"),
        ({"generated_text": "tgi object"}, "tgi object"),
        ({"choices": [{"message": {"role": "assistant", "content": "chat"}}]}, "chat"),
        ({"choices": [{"text": "completion"}]}, "completion"),
        ("a JSON string", "a JSON string"),
        ({"predictions": [{"score": 0.5}]}, '{"predictions": [{"score": 0.5}]}'),
    ],
)
def test_output_text_from_common_response_shapes(body: Any, text: str) -> None:
    extracted = sc.extract_output(json.dumps(body).encode())
    assert extracted.text == text
    assert extracted.problem is None


def test_plain_text_and_jmespath_override() -> None:
    assert sc.extract_output(b"plain answer\n").text == "plain answer\n"
    body = json.dumps({"outputs": [{"answer": "deep"}], "n": 3}).encode()
    assert sc.extract_output(body, "outputs[0].answer").text == "deep"
    assert sc.extract_output(body, "n").text == "3"
    missing = sc.extract_output(body, "nothing.here")
    assert missing.text == "" and missing.problem is not None
    assert sc.extract_output(b"not json", "a").problem is not None
    with pytest.raises(ValidationError, match="invalid JMESPath"):
        ScorerConfig.model_validate({"output_path": "[[["})


def test_reported_usage_openai_and_tgi() -> None:
    openai = {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}
    assert sc.reported_usage(openai) == (12, 5)
    assert sc.reported_usage({"usage": {"input_tokens": 3, "output_tokens": 4}}) == (3, 4)
    tgi = [{"generated_text": "x", "details": {"generated_tokens": 7, "prefill": [{}, {}]}}]
    assert sc.reported_usage(tgi) == (2, 7)
    assert sc.reported_usage({"details": {"generated_tokens": 7, "prefill": []}}) == (None, 7)
    assert sc.reported_usage({"usage": {"prompt_tokens": True}}) == (None, None)
    assert sc.reported_usage("text") == (None, None)


def test_a_token_count_no_float_can_price_is_not_a_count() -> None:
    # A 400-digit count is valid JSON; tokens / 1000 * price would raise OverflowError.
    huge = {"usage": {"prompt_tokens": 10**400, "completion_tokens": 2**53 + 1}}
    assert sc.reported_usage(huge) == (None, None)
    assert sc.reported_usage({"usage": {"prompt_tokens": 2**53, "completion_tokens": 1}}) == (
        2**53,
        1,
    )


def test_token_estimate_formula() -> None:
    assert sc.estimate_tokens("") == 0
    # 11 chars / 4 = 2.75; 2 words * 1.3 = 2.6 -> ceil(2.75) = 3
    assert sc.estimate_tokens("hello world") == 3
    # long single word: chars dominate; many short words: words dominate
    assert sc.estimate_tokens("x" * 40) == 10
    assert sc.estimate_tokens("a b c d e f g h i j") == math.ceil(10 * 1.3)
    assert sc.estimate_tokens("abcdefgh", chars_per_token=2, tokens_per_word=1) == 4


def test_usage_prefers_reported_counts_and_prices_per_1k() -> None:
    spec_ = sc.UsageSpec(price_per_1k_input_tokens=0.5, price_per_1k_output_tokens=1.5)
    reported = sc.usage_of(
        {"usage": {"prompt_tokens": 1000, "completion_tokens": 2000}}, "", "", spec_
    )
    assert (reported.input_tokens, reported.output_tokens, reported.estimated) == (
        1000,
        2000,
        False,
    )
    assert reported.cost_usd == pytest.approx(0.5 + 3.0)
    estimated = sc.usage_of(None, "hello world", "x" * 40, spec_)
    assert (estimated.input_tokens, estimated.output_tokens, estimated.estimated) == (3, 10, True)
    assert sc.usage_of(None, "a", "b", sc.UsageSpec()).cost_usd is None  # no price, no cost
    off = sc.usage_of(None, "a", "b", sc.UsageSpec(estimate=False))
    assert (off.input_tokens, off.output_tokens) == (None, None)


# --------------------------------------------------------------------------- requests


def test_request_bodies() -> None:
    tgi = sc.RequestSpec(parameters={"max_new_tokens": 8})
    assert json.loads(sc.build_request("hi", None, tgi)) == {
        "inputs": "hi",
        "parameters": {"max_new_tokens": 8},
    }
    assert json.loads(sc.build_request("hi", None, sc.RequestSpec())) == {"inputs": "hi"}
    chat = sc.RequestSpec(prompt_format="openai_chat", parameters={"temperature": 0})
    assert json.loads(sc.build_request("hi", None, chat)) == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
    }
    assert sc.build_request("raw", None, sc.RequestSpec(prompt_format="raw")) == b"raw"
    assert sc.build_request("plain", "text/plain", sc.RequestSpec()) == b"plain"
    payload = {"inputs": "x", "parameters": {"do_sample": False}}
    assert json.loads(sc.build_request(payload, None, sc.RequestSpec())) == payload
    assert sc.build_request([1, 2.5], "text/csv", sc.RequestSpec()) == b"1,2.5\n"
    assert sc.build_request([[1, 2], [3, 4]], "text/csv", sc.RequestSpec()) == b"1,2\n3,4\n"
    with pytest.raises(ValueError, match="text/csv"):
        sc.build_request({"a": 1}, "text/csv", sc.RequestSpec())
    with pytest.raises(ValueError, match="must be a string"):
        sc.build_request({"a": 1}, "text/plain", sc.RequestSpec())


def test_prompt_text_for_the_estimate() -> None:
    assert sc.prompt_text("p") == "p"
    assert sc.prompt_text({"inputs": "q", "parameters": {}}) == "q"
    assert sc.prompt_text({"messages": [{"content": "a"}, {"content": "b"}]}) == "a\nb"
    assert sc.prompt_text([1, 2]) == "[1, 2]"


# --------------------------------------------------------------------------- the config


def test_config_is_strict() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ScorerConfig.model_validate({"scorer": []})
    with pytest.raises(ValidationError):
        ScorerConfig.model_validate({"scorers": [{"type": "bleu"}]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        ScorerConfig.model_validate({"scorers": [{"type": "exact_match", "fuzzy": True}]})
    with pytest.raises(ValidationError, match="repeated: exact_match"):
        ScorerConfig.model_validate({"scorers": [{"type": "exact_match"}, {"type": "exact_match"}]})
    two = ScorerConfig.model_validate(
        {"scorers": [{"type": "exact_match"}, {"type": "exact_match", "name": "em_ci"}]}
    )
    assert [s.metric for s in two.scorers] == ["exact_match", "em_ci"]


def test_judge_spec() -> None:
    judge = sc.JudgeSpec(endpoint_name="judge-ep", rubric="Rate {output} against {target}")
    assert judge.label == "judge-ep"
    assert judge.prompt_hash == sc.sha256_text("Rate {output} against {target}")
    assert sc.JudgeSpec(endpoint_name="j", variant="v1", rubric="{output}").label == "j/v1"
    with pytest.raises(ValidationError, match="must contain"):
        sc.JudgeSpec(endpoint_name="j", rubric="no placeholder")
    with pytest.raises(ValidationError, match="repeated: judge"):
        ScorerConfig.model_validate(
            {
                "scorers": [{"type": "json_valid", "name": "judge"}],
                "judge": {"endpoint_name": "j", "rubric": "{output}"},
            }
        )


def test_fingerprint_changes_with_any_option() -> None:
    a = ScorerConfig.model_validate({"scorers": [{"type": "contains"}]})
    b = ScorerConfig.model_validate({"scorers": [{"type": "contains", "mode": "all"}]})
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == ScorerConfig.model_validate(a.model_dump(by_alias=True)).fingerprint()
