"""The eval runner over fake ports: ordering, repeats, TargetVariant, failures counted,
records paired by id across systems, the dataset's problems, reuse and the judge."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from release_guard.errors import InvalidReleaseRequest
from release_guard.gate import runner
from release_guard.gate.records import parse_lines
from release_guard.gate.runner import CachedJudge, EndpointJudge, JudgeError, Ports
from release_guard.gate.scorers import JudgeSpec, sha256_text

DATASET = "s3://evals/datasets/qa.jsonl"
OUT = "s3://evals/runs/r1/"
EXAMPLES = [
    {"id": "capital", "input": "Capital of France?", "target": "Paris", "category": "geo"},
    {"id": 2, "input": "2+2?", "target": ["4", "four"], "cluster_id": 7},
    {
        "id": "json",
        "input": {"inputs": "as JSON", "parameters": {"max_new_tokens": 9}},
        "target": '{"ok": 1}',
    },
]
SCORERS = {
    "scorers": [
        {"type": "normalized_match"},
        {"type": "json_valid", "name": "format_validity"},
        {"type": "latency", "max_ms": 50},
    ],
}


def jsonl(rows: list[Any]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@dataclass
class Call:
    endpoint: str
    variant: str | None
    body: bytes
    content_type: str


Answer = Callable[[Call], tuple[int, bytes, str, float]]


def tgi(text: str) -> tuple[int, bytes, str, float]:
    return 200, json.dumps([{"generated_text": text}]).encode(), "application/json", 12.5


def by_prompt(answers: dict[str, str]) -> Answer:
    def answer(call: Call) -> tuple[int, bytes, str, float]:
        prompt = json.loads(call.body)["inputs"]
        return tgi(answers.get(prompt, "?"))

    return answer


@dataclass
class FakeInvoker:
    """Answers per variant; records every call (thread-safe)."""

    answers: dict[str | None, Answer]
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(
        self, endpoint: str, variant: str | None, body: bytes, content_type: str
    ) -> tuple[int, bytes, str, float]:
        call = Call(endpoint, variant, body, content_type)
        with self.lock:
            self.calls.append(call)
        return self.answers[variant](call)


@dataclass
class FakeStore:
    objects: dict[str, str] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)

    def read_text(self, uri: str, field: str) -> str | None:
        return self.objects.get(uri)

    def write_text(self, uri: str, text: str, content_type: str) -> None:
        self.objects[uri] = text
        self.writes.append(uri)


GOOD = by_prompt({"Capital of France?": "The Paris.", "2+2?": "four", "as JSON": '{"ok": 1}'})
BAD = by_prompt({"Capital of France?": "Lyon", "2+2?": "5", "as JSON": "not json"})


def make(
    answers: dict[str | None, Answer] | None = None,
    rows: list[Any] | None = None,
    variants: list[str] | None = None,
) -> tuple[FakeInvoker, FakeStore, Ports]:
    invoker = FakeInvoker(answers or {"v2": GOOD, "champion": BAD})
    store = FakeStore({DATASET: jsonl(EXAMPLES if rows is None else rows)})
    names = ["champion", "v2"] if variants is None else variants
    ports = Ports(invoker, store, lambda endpoint: names if endpoint == "ep" else None)
    return invoker, store, ports


def request(**overrides: Any) -> runner.RunEvalRequest:
    event = {
        "endpoint_name": "ep",
        "candidate_variant": "v2",
        "champion_variant": "champion",
        "dataset_uri": DATASET,
        "output_prefix": OUT,
        "scorers": SCORERS,
        "release_id": "r1",
        **overrides,
    }
    return runner.parse_request(event)


def records(store: FakeStore, system: str) -> list[Any]:
    parsed, problems = parse_lines(store.objects[f"s3://evals/runs/r1/{system}.jsonl"], system)
    assert not problems.counts
    return parsed


# --------------------------------------------------------------------------- running


def test_runs_every_example_on_both_variants_with_repeats() -> None:
    invoker, store, ports = make()
    result = runner.execute(request(repeats=2), ports)
    assert result.examples == 3 and result.repeats == 2
    assert result.records == {"candidate": 6, "champion": 6}
    assert result.candidate_uri == "s3://evals/runs/r1/candidate.jsonl"
    assert result.champion_uri == "s3://evals/runs/r1/champion.jsonl"
    assert store.writes == [result.candidate_uri, result.champion_uri, result.manifest_uri]
    # TargetVariant: each system's requests went to its own variant, interleaved.
    assert [c.variant for c in invoker.calls] == ["v2", "champion"] * 6
    assert {c.endpoint for c in invoker.calls} == {"ep"}
    candidate, champion = records(store, "candidate"), records(store, "champion")
    assert [(r.id, r.sample_index) for r in candidate] == [
        ("capital", 0),
        ("capital", 1),
        ("2", 0),
        ("2", 1),
        ("json", 0),
        ("json", 1),
    ]
    # Records pair by (id, sample) across systems.
    assert [(r.id, r.sample_index) for r in candidate] == [(r.id, r.sample_index) for r in champion]
    assert {r.system for r in candidate} == {"candidate"}
    assert {r.model_extra["variant"] for r in candidate if r.model_extra} == {"v2"}
    first = candidate[0]
    assert first.model_output == "The Paris."
    assert first.target_output == "Paris" and first.category == "geo"
    assert first.scores == {"normalized_match": 1.0, "format_validity": 0.0, "latency": 1.0}
    assert first.latency_ms == 12.5
    assert candidate[2].cluster_id == "7" and candidate[2].scores["normalized_match"] == 1.0
    assert candidate[4].scores["format_validity"] == 1.0
    assert champion[0].scores["normalized_match"] == 0.0


def test_requests_are_built_from_the_input() -> None:
    invoker, _, ports = make()
    runner.execute(request(), ports)
    bodies = [json.loads(c.body) for c in invoker.calls if c.variant == "v2"]
    assert bodies == [
        {"inputs": "Capital of France?"},
        {"inputs": "2+2?"},
        {"inputs": "as JSON", "parameters": {"max_new_tokens": 9}},
    ]
    assert {c.content_type for c in invoker.calls} == {"application/json"}


def test_tokens_are_estimated_when_not_reported_and_priced() -> None:
    _, store, ports = make()
    priced = {**SCORERS, "usage": {"price_per_1k_output_tokens": 2.0}}
    runner.execute(request(scorers=priced), ports)
    first = records(store, "candidate")[0]
    # "Capital of France?": 18 chars / 4 = 4.5 -> 5; "The Paris.": 10 / 4 -> 3
    assert (first.input_tokens, first.output_tokens) == (5, 3)
    assert first.cost_usd == pytest.approx(3 / 1000 * 2.0)
    assert first.model_extra is not None and first.model_extra["tokens_estimated"] is True


def test_reported_usage_wins() -> None:
    def openai(call: Call) -> tuple[int, bytes, str, float]:
        body = {
            "choices": [{"message": {"content": "Paris"}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 1},
        }
        return 200, json.dumps(body).encode(), "application/json", 3.0

    _, store, ports = make({"v2": openai, "champion": openai}, rows=EXAMPLES[:1])
    runner.execute(request(), ports)
    rec = records(store, "champion")[0]
    assert (rec.model_output, rec.input_tokens, rec.output_tokens) == ("Paris", 11, 1)
    assert rec.model_extra is not None and "tokens_estimated" not in rec.model_extra


def test_failed_invocations_are_records_with_zero_scores_and_counted() -> None:
    def flaky(call: Call) -> tuple[int, bytes, str, float]:
        if json.loads(call.body)["inputs"] == "2+2?":
            return 500, b'{"error": "ModelError", "message": "boom"}', "application/json", 4.0
        return GOOD(call)

    _, store, ports = make({"v2": GOOD, "champion": flaky})
    result = runner.execute(request(repeats=3), ports)
    assert result.records == {"candidate": 9, "champion": 9}  # never dropped
    assert result.errors.champion.failed == 3
    assert result.errors.champion.by_kind == {"HTTP 500": 3}
    assert result.errors.champion.ids == ["2"]
    assert result.errors.candidate.failed == 0
    failed = [r for r in records(store, "champion") if r.id == "2"]
    assert len(failed) == 3
    for r in failed:
        assert r.scores == {"normalized_match": 0.0, "format_validity": 0.0, "latency": 0.0}
        assert r.model_extra is not None
        assert r.model_extra["error"].startswith("HTTP 500: ")
        assert r.model_extra["status"] == 500
        assert r.model_extra["elapsed_ms"] == 4.0
        assert r.model_output is None and r.latency_ms is None


def test_any_map_gives_the_same_records_in_the_same_order() -> None:
    _, serial_store, ports = make()
    runner.execute(request(repeats=4), ports)
    _, pool_store, ports = make()
    with ThreadPoolExecutor(max_workers=8) as pool:
        runner.execute(request(repeats=4), ports, pool.map)
    for name in ("candidate.jsonl", "champion.jsonl"):
        assert serial_store.objects[OUT + name] == pool_store.objects[OUT + name]


def test_per_example_scorer_options() -> None:
    rows = [
        {"id": "a", "input": "x", "scorer_options": {"regex": {"pattern": "^P"}}},
        {"id": "b", "input": "y", "scorer_options": {"regex": {"pattern": "^L"}}},
    ]
    answers = by_prompt({"x": "Paris", "y": "Paris"})
    _, store, ports = make({"v2": answers, "champion": answers}, rows=rows)
    runner.execute(request(scorers={"scorers": [{"type": "regex"}]}), ports)
    assert [r.scores["regex"] for r in records(store, "candidate")] == [1.0, 0.0]


# --------------------------------------------------------------------------- the dataset


def test_bad_dataset_lines_are_counted_and_skipped() -> None:
    rows = [
        *EXAMPLES,
        "{not json",
        "[1, 2]",
        {"input": "no id", "target": "x"},
        {"id": "capital", "input": "duplicate", "target": "x"},
        {"id": "notarget", "input": "q"},
        {"id": "typo", "input": "q", "target": "x", "taget": "x"},
        {"id": "opts", "input": "q", "target": "x", "scorer_options": {"bleu": {}}},
        {"id": "csv", "input": {"a": 1}, "target": "x", "content_type": "text/csv"},
        "",
    ]
    invoker, _, ports = make(rows=rows)
    result = runner.execute(request(), ports)
    assert result.examples == 3
    assert result.errors.dataset.skipped == 8
    assert result.errors.dataset.by_kind == {
        "duplicate id": 1,
        "invalid JSON": 2,
        "invalid input": 1,
        "invalid scorer_options": 1,
        "invalid taget": 1,
        "missing id": 1,
        "unscorable example": 1,
    }
    assert result.errors.dataset.examples["invalid JSON"][0].startswith(f"{DATASET}:4: ")
    assert "needs a target" in result.errors.dataset.examples["unscorable example"][0]
    assert len(invoker.calls) == 6


def test_no_valid_example_is_a_bad_request_before_any_call() -> None:
    invoker, store, ports = make(rows=["{bad"])
    with pytest.raises(InvalidReleaseRequest, match=r"request.dataset_uri: expected at least one"):
        runner.execute(request(), ports)
    assert invoker.calls == [] and store.writes == []
    _, _, ports = make(rows=[])
    with pytest.raises(InvalidReleaseRequest, match="empty file: 1"):
        runner.execute(request(), ports)


def test_missing_dataset_and_unknown_variants_are_named() -> None:
    invoker, store, ports = make()
    del store.objects[DATASET]
    with pytest.raises(InvalidReleaseRequest) as err:
        runner.execute(request(), ports)
    assert err.value.field == "request.dataset_uri"
    _, _, ports = make(variants=["champion"])
    with pytest.raises(InvalidReleaseRequest) as err:
        runner.execute(request(), ports)
    assert err.value.field == "request.candidate_variant"
    assert "production variant of ep (champion)" in str(err.value)
    with pytest.raises(InvalidReleaseRequest) as err:
        runner.execute(request(endpoint_name="other"), ports)
    assert err.value.field == "request.endpoint_name"
    assert invoker.calls == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"endpoint_name": "bad_name"}, "request.endpoint_name"),
        ({"champion_variant": "v2"}, "request.champion_variant"),
        ({"dataset_uri": "https://x/y.jsonl"}, "request.dataset_uri"),
        ({"output_prefix": "/tmp/out"}, "request.output_prefix"),
        ({"repeats": 0}, "request.repeats"),
        ({"scorers": {"scorers": [{"type": "nope"}]}}, "request.scorers.scorers.0"),
        ({"extra": 1}, "request.extra"),
    ],
)
def test_bad_requests_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidReleaseRequest) as err:
        request(**overrides)
    assert err.value.field == field


def test_missing_field_is_named() -> None:
    with pytest.raises(InvalidReleaseRequest) as err:
        runner.parse_request({"endpoint_name": "ep"})
    assert err.value.field == "request.candidate_variant"
    with pytest.raises(InvalidReleaseRequest, match="a JSON object"):
        runner.parse_request([])


# --------------------------------------------------------------------------- reruns


def test_a_rerun_reuses_the_results_and_a_different_run_is_refused() -> None:
    invoker, store, ports = make()
    first = runner.execute(request(), ports)
    calls = len(invoker.calls)
    again = runner.execute(request(), ports)
    assert again.reused and not first.reused
    assert again.model_copy(update={"reused": False}) == first
    assert len(invoker.calls) == calls
    with pytest.raises(InvalidReleaseRequest) as err:
        runner.execute(request(repeats=2), ports)
    assert err.value.field == "request.output_prefix"
    rerun = runner.execute(request(repeats=2, overwrite=True), ports)
    assert not rerun.reused and rerun.records == {"candidate": 6, "champion": 6}
    manifest = json.loads(store.objects[OUT + "manifest.json"])
    assert manifest["result"]["fingerprint"] == rerun.fingerprint
    assert manifest["request"]["scorers"]["scorers"][0]["type"] == "normalized_match"


# --------------------------------------------------------------------------- the judge


@dataclass
class FakeJudge:
    model: str = "fake-judge"
    seen: list[tuple[str, Any, str]] = field(default_factory=list)

    def score(self, output: str, target: Any, rubric: str) -> float:
        self.seen.append((output, target, rubric))
        if output == "?":
            raise JudgeError("no score", "cannot judge")
        return 0.75


@dataclass
class DictCache:
    data: dict[str, float] = field(default_factory=dict)

    def get(self, key: str) -> float | None:
        return self.data.get(key)

    def put(self, key: str, value: float) -> None:
        self.data[key] = value


RUBRIC = "Question: {input}\nAnswer: {output}\nExpected: {target}\nScore 0-10:"
JUDGED = {**SCORERS, "judge": {"endpoint_name": "judge-ep", "rubric": RUBRIC, "name": "quality"}}


def test_judge_scores_are_recorded_with_model_and_prompt_hash_and_cached() -> None:
    judge = FakeJudge()
    _, store, ports = make()
    ports = Ports(ports.invoker, store, ports.endpoint_variants, judge=judge)
    result = runner.execute(request(scorers=JUDGED, repeats=3), ports)
    rec = records(store, "candidate")[0]
    assert rec.scores["quality"] == 0.75
    assert rec.judge is not None
    assert (rec.judge.model, rec.judge.prompt_hash) == ("fake-judge", sha256_text(RUBRIC))
    # 3 repeats of 3 deterministic answers per system: 6 distinct (output, target)s.
    assert len(judge.seen) == 6
    assert result.judge is not None and result.judge.calls == 6 and result.judge.cache_hits == 12
    output, target, rubric = judge.seen[0]
    assert (output, target) == ("The Paris.", "Paris")
    assert rubric.startswith("Question: Capital of France?\nAnswer: {output}")
    assert result.errors.judge.failed == 0


def test_judge_failures_are_counted_and_leave_the_score_out() -> None:
    judge = FakeJudge()
    unsure = by_prompt({"2+2?": "?"})
    _, store, ports = make({"v2": GOOD, "champion": unsure})
    ports = Ports(ports.invoker, store, ports.endpoint_variants, judge=judge)
    result = runner.execute(request(scorers=JUDGED), ports)
    assert result.errors.judge.failed == 3  # every champion answer is "?"
    assert result.errors.judge.by_kind == {"no score": 3}
    rec = records(store, "champion")[0]
    assert "quality" not in rec.scores
    assert rec.model_extra is not None and "cannot judge" in rec.model_extra["details"]["quality"]


def test_failed_invocations_score_zero_on_the_judge_without_calling_it() -> None:
    judge = FakeJudge()

    def down(call: Call) -> tuple[int, bytes, str, float]:
        return 503, b"unavailable", "text/plain", 1.0

    _, store, ports = make({"v2": GOOD, "champion": down})
    ports = Ports(ports.invoker, store, ports.endpoint_variants, judge=judge)
    runner.execute(request(scorers=JUDGED), ports)
    assert len(judge.seen) == 3
    assert all(r.scores["quality"] == 0.0 for r in records(store, "champion"))


def test_endpoint_judge_through_the_invoker_and_the_store_cache() -> None:
    def judge_model(call: Call) -> tuple[int, bytes, str, float]:
        prompt = json.loads(call.body)["inputs"]
        return tgi("8 out of 10" if prompt.startswith("Rate The Paris.") else "Score: 2")

    cache = DictCache()
    spec = JudgeSpec(
        endpoint_name="judge-ep",
        rubric="Rate {output} (expected {target}) from 0 to 10.",
        scale_max=10,
        cache_uri="s3://evals/judge-cache/",
    )
    config = {**SCORERS, "judge": spec.model_dump(by_alias=True)}
    invoker, store, ports = make({"v2": GOOD, "champion": BAD, None: judge_model})
    ports = Ports(ports.invoker, store, ports.endpoint_variants, judge_cache=lambda uri: cache)
    result = runner.execute(request(scorers=config), ports)
    judge_calls = [c for c in invoker.calls if c.endpoint == "judge-ep"]
    assert len(judge_calls) == 6 and {c.variant for c in judge_calls} == {None}
    assert records(store, "candidate")[0].scores["judge"] == pytest.approx(0.8)
    assert records(store, "champion")[0].scores["judge"] == pytest.approx(0.2)
    judged = records(store, "candidate")[0].judge
    assert judged is not None and judged.model == "judge-ep"
    assert result.judge is not None and result.judge.calls == 6
    assert len(cache.data) == 6
    # A new run (new process: empty memory) finds every score in the store cache.
    invoker2, store2, ports2 = make({"v2": GOOD, "champion": BAD, None: judge_model})
    ports2 = Ports(ports2.invoker, store2, ports2.endpoint_variants, judge_cache=lambda uri: cache)
    again = runner.execute(request(scorers=config), ports2)
    assert [c for c in invoker2.calls if c.endpoint == "judge-ep"] == []
    assert again.judge is not None and again.judge.cache_hits == 6 and again.judge.calls == 0


def test_endpoint_judge_errors() -> None:
    spec = JudgeSpec(endpoint_name="j", rubric="{output}")

    def answer_with(status: int, text: str) -> EndpointJudge:
        def fn(call: Call) -> tuple[int, bytes, str, float]:
            return status, json.dumps([{"generated_text": text}]).encode(), "", 1.0

        return EndpointJudge(FakeInvoker({None: fn}), spec)

    assert answer_with(200, '{"score": 0.4}').score("o", None, "{output}") == 0.4
    assert answer_with(200, "1.7").score("o", None, "{output}") == 1.0  # clipped
    with pytest.raises(JudgeError, match="no score"):
        answer_with(200, "excellent").score("o", None, "{output}")
    with pytest.raises(JudgeError, match="HTTP 500"):
        answer_with(500, "x").score("o", None, "{output}")


def test_cache_key_covers_model_rubric_target_and_output() -> None:
    judge = CachedJudge(FakeJudge())
    base = judge.key("out", "t", "r")
    assert base == judge.key("out", "t", "r")
    assert len({base, judge.key("out2", "t", "r"), judge.key("out", "t2", "r")}) == 3
    assert base != judge.key("out", "t", "r2")
    assert base != CachedJudge(FakeJudge(model="other")).key("out", "t", "r")


def test_render_is_one_pass_and_leaves_other_braces() -> None:
    text = runner.render('{"a": {output}} {target} {x}', output="{target}", target="T")
    assert text == '{"a": {target}} T {x}'


def test_error_messages_are_one_short_line() -> None:
    body = b'{"error": "ModelError", "message": "CUDA out of\\nmemory"}'
    assert runner.error_message(body) == "ModelError: CUDA out of memory"
    assert runner.error_message(b'{"message": "bad input"}') == "bad input"
    assert runner.error_message(b"  upstream\n timeout ") == "upstream timeout"
    assert len(runner.error_message(b"x" * 2000)) == 500


def test_a_judge_score_no_float_holds_is_not_finite_rather_than_an_error() -> None:
    # {"score": <400 digits>} is valid JSON; the caller refuses a non-finite score.
    assert runner.judge_number('{"score": 1' + "0" * 400 + "}") == float("inf")
    assert runner.judge_number('{"score": 0.75}') == 0.75
