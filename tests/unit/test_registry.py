"""What release-guard writes on a model package is always what UpdateModelPackage
accepts (the oracle: botocore's shapes in tests/unit/sagemaker_shapes.py), whatever the
reason says; the registry gets a readable summary, the release id and the report."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_guard import registry

from tests.unit.sagemaker_shapes import description_problem, metadata_problems, shape

RELEASE_ID = "churn-prod-v7-0123456789ab"
REPORT = "s3://release-guard-bucket-8wrauqucruco/reports/churn-prod-v7-0123456789ab/release.html"
OUTCOMES = ["promoted", "rolled_back", "rollback_unverified", "rejected", "failed"]

# Any character (surrogates, controls and astral ones too), and often the ones reasons
# really carry that SageMaker refuses.
ANY_CHAR = st.characters(exclude_categories=())
REASON_CHARS = st.sampled_from(list("()%;~,[]<>≤≥±×&\n\r\t\u2028\x85 .:-")) | ANY_CHAR
REASONS = st.text(REASON_CHARS, max_size=1500)
ALLOWED = st.sampled_from(list("abcXYZ019_.:/=+-@ éß漢٣")) | st.characters(
    categories=("L", "N"), max_codepoint=0xFFFF
)
SETTINGS = settings(max_examples=300, deadline=None)


def test_the_oracle_refuses_what_release_guard_wrote_before() -> None:
    # Finish Release's reason of a 5XX rollback, written as it was: refused.
    assert metadata_problems({"release-guard:reason": "5XX rate 20.00%"})
    assert metadata_problems({"release-guard:reason": "ratio 1.82x (median); 9 of 9 [p95]"})
    assert metadata_problems({"k": "x" * 257})
    assert metadata_problems({f"k{i}": "v" for i in range(51)})
    assert metadata_problems({"k": ""})
    assert description_problem("line one\nline two")
    assert description_problem("x" * 1025)
    assert not metadata_problems({"release-guard:baseline": "s3://b/baselines/g/2/ab12.json"})
    assert shape("CustomerMetadataMap")["max"] == registry.MAX_ENTRIES


@SETTINGS
@given(reason=REASONS, outcome=st.sampled_from(OUTCOMES))
def test_any_reason_yields_metadata_sagemaker_accepts(reason: str, outcome: str) -> None:
    meta = registry.package_metadata(RELEASE_ID, outcome, reason, REPORT)
    assert metadata_problems(meta) == []
    assert meta["release-guard:release"] == RELEASE_ID
    assert meta["release-guard:outcome"] == outcome
    assert meta["release-guard:report"] == REPORT
    assert meta["release-guard:summary"].startswith(f"release-guard: {outcome.replace('_', ' ')}")


@SETTINGS
@given(
    properties=st.dictionaries(
        st.text(REASON_CHARS, max_size=200), st.text(REASON_CHARS, max_size=400), max_size=60
    )
)
def test_any_properties_become_properties_sagemaker_accepts(properties: dict[str, str]) -> None:
    meta = registry.customer_metadata(properties)
    if meta:  # an empty map is no call at all (record_on_package needs one entry)
        assert metadata_problems(meta) == []
    assert registry.customer_metadata(meta) == meta


@SETTINGS
@given(
    properties=st.dictionaries(
        st.text(ALLOWED, min_size=1, max_size=128),
        st.text(ALLOWED, min_size=1, max_size=256),
        min_size=1,
        max_size=50,
    )
)
def test_valid_properties_are_written_as_they_are(properties: dict[str, str]) -> None:
    assert metadata_problems(properties) == []
    assert registry.customer_metadata(properties) == properties


@SETTINGS
@given(text=REASONS | st.text(ANY_CHAR, min_size=1000, max_size=3000))
def test_any_text_yields_an_approval_description_sagemaker_accepts(text: str) -> None:
    assert description_problem(registry.approval_description(text)) is None


def test_the_summary_reads_as_the_reason_does() -> None:
    reason = (
        "5xx_rate <= 5.00% absolute: conclusively over: candidate 12.1% of 950 vs champion "
        "0.2% (ratio ~60x); above in [9 of 9] periods"
    )
    meta = registry.package_metadata(RELEASE_ID, "rolled_back", reason, REPORT)
    assert meta["release-guard:summary"] == (
        "release-guard: rolled back: 5xx_rate at most 5.00 percent absolute: conclusively "
        "over: candidate 12.1 percent of 950 vs champion 0.2 percent ratio about 60x: above "
        "in 9 of 9 periods"
    )
    assert registry.summary("promoted", "") == "release-guard: promoted"


def test_a_long_reason_is_cut_at_a_word_and_marked() -> None:
    summary = registry.package_metadata(RELEASE_ID, "failed", "word " * 200)[
        "release-guard:summary"
    ]
    assert len(summary) <= 256 and summary.endswith("word...")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/reports/a (copy)/release.html",  # a character SageMaker refuses
        "s3://bucket/" + "k" * 250,  # over 256 characters
    ],
)
def test_an_address_sagemaker_would_refuse_is_left_out_not_altered(uri: str) -> None:
    meta = registry.package_metadata(RELEASE_ID, "promoted", "", uri)
    assert "release-guard:report" not in meta
    assert metadata_problems(meta) == []


def test_extra_properties_keep_their_valid_values() -> None:
    md = "s3://bucket/reports/r-1/eval-gate.md"
    meta = registry.package_metadata(
        "r-1",
        "rejected",
        "eval gate failed: accuracy [returns] (n=150)",
        md,
        extra={"release-guard:gate": "fail", "release-guard:gate-report": md},
    )
    assert meta["release-guard:gate"] == "fail"
    assert meta["release-guard:gate-report"] == md
    assert meta["release-guard:summary"] == (
        "release-guard: rejected: eval gate failed: accuracy returns n=150"
    )
