"""Prompt versions (``prompts/<name>/v<N>.yaml``, release_guard/manifest.py PromptFile)
on any input: a version validates or is Problems / pydantic's ValidationError naming the
field, never another exception; and a version that validates keeps its promises to the
serving container: an environment SageMaker accepts, strict JSON parameters, a template
that formats with any request text (issue 12).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from release_guard.events import PromptRef, environment_problem
from release_guard.manifest import PROMPT_ENV, TEMPLATE_FIELDS, InferenceParameters, PromptFile
from release_guard_cli import manifests

from tests.property.test_events_props import ODD_NUMBERS, json_values, mutated
from tests.property.test_manifest_props import PROBLEM, any_text, dump, yamlish

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "prompts").glob("*/v*.yaml"))
SHOWN = "releases/demo-endpoint.yaml"  # what PROBLEM matches; the name is not checked here

# Template text: the placeholders and what can go wrong around them (conversions,
# format specs, nesting, unbalanced and doubled braces, attribute and index access).
TEMPLATE_PIECES = st.sampled_from(
    [
        "{input}", "{system_prompt}", "{context}", "{", "}", "{{", "}}", "{input!r}",
        "{input!x}", "{input:d}", "{input:>9999999}", "{input:{context}}", "{input[0]}",
        "{input.x}", "{0}", "{}", "{question}", "!", ":", "[", "]", "\n", " ", "Q: ",
    ]
)  # fmt: skip
templates = st.lists(TEMPLATE_PIECES | st.text(max_size=3), max_size=12).map("".join)
request_text = st.text(max_size=50) | st.sampled_from(["{input}", "{", "%s", "\x00"])


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def keeps_its_promises(prompt: PromptFile, values: tuple[str, str, str]) -> None:
    """What a valid version promises the serving container (docs/manifests.md)."""
    env = prompt.container_environment()
    assert environment_problem(env) is None  # CreateModel takes it
    assert set(PROMPT_ENV) - {"RG_SYSTEM_PROMPT", "RG_INFERENCE_PARAMS"} <= set(env)
    if "RG_INFERENCE_PARAMS" in env:
        _strict_json(env["RG_INFERENCE_PARAMS"])  # no NaN, no Infinity
    ref = prompt.ref()
    assert PromptRef.model_validate(ref.model_dump(mode="json")) == ref
    assert len(ref.digest) == 12
    # The serving code's own call, with any text a request brings
    formatted = prompt.template.format(**dict(zip(TEMPLATE_FIELDS, values, strict=True)))
    assert values[TEMPLATE_FIELDS.index("input")] in formatted


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
@given(seed=st.data(), values=st.tuples(request_text, request_text, request_text))
def test_mutated_prompt_versions_validate_or_are_problems(
    path: Path, seed: st.DataObject, values: tuple[str, str, str]
) -> None:
    """Contract: the repository's prompt versions with fields dropped, added or of the
    wrong type (10**400, NaN, infinities, negative, empty, very long) load as a
    PromptFile that keeps its promises, or as Problems ``file:line: field: message``;
    never an exception."""
    data = seed.draw(mutated(yaml.safe_load(path.read_text())))
    doc, problems = manifests.parse_yaml(dump(data), SHOWN)
    assert all(PROBLEM.match(str(p)) for p in problems)
    if doc is None:
        return
    prompt, schema = manifests.validate_doc(doc, PromptFile)
    assert all(PROBLEM.match(str(p)) for p in schema)
    if prompt is not None:
        keeps_its_promises(prompt, values)


@given(template=templates, values=st.tuples(request_text, request_text, request_text))
def test_a_template_that_validates_formats_with_any_request(
    template: str, values: tuple[str, str, str]
) -> None:
    """Contract of PromptFile.template: a template is refused (ValidationError, the
    field named) or formats with any input, system prompt and context text, as the
    serving code calls str.format; never a KeyError or ValueError there, and never
    output larger than the template and the texts (no padding specs)."""
    data = {"name": "p", "version": 1, "template": template, "eval": {"dataset": "s3://e/v"}}
    try:
        prompt = PromptFile.model_validate(data)
    except ValidationError as err:
        assert err.errors()[0]["loc"] == ("template",)
        return
    keeps_its_promises(prompt, values)
    formatted = prompt.template.format(**dict(zip(TEMPLATE_FIELDS, values, strict=True)))
    # each placeholder is replaced by its text, nothing more: at most one per character
    assert len(formatted) <= len(template) * (1 + max(len(v) for v in values))


@given(data=json_values)
def test_any_value_is_a_prompt_version_or_validation_errors(data: Any) -> None:
    """Contract of PromptFile.model_validate: any JSON value is a version (keeping its
    promises) or pydantic's ValidationError; never another exception."""
    try:
        prompt = PromptFile.model_validate(data)
    except ValidationError:
        return
    keeps_its_promises(prompt, ("i", "s", "c"))


@given(
    parameters=st.dictionaries(
        st.sampled_from(sorted(InferenceParameters.model_fields)),
        st.floats() | st.integers() | ODD_NUMBERS | st.booleans() | st.lists(st.text()),
    )
)
def test_generation_parameters_are_strict_json(parameters: dict[str, Any]) -> None:
    """Contract of InferenceParameters: any numbers (NaN, infinities, 10**400) are
    refused with ValidationError or become RG_INFERENCE_PARAMS, which is strict JSON."""
    data = {"name": "p", "version": 1, "template": "{input}", "eval": {"dataset": "s3://e/v"}}
    try:
        prompt = PromptFile.model_validate({**data, "parameters": parameters})
    except ValidationError:
        return
    keeps_its_promises(prompt, ("i", "s", "c"))


@settings(max_examples=40)  # each example is a checkout on disk
@given(
    version=st.integers(0, 10**60) | st.just(10**240),
    text=st.sampled_from([p.read_text() for p in SAMPLES]) | any_text | yamlish,
)
def test_prompt_files_of_any_name_and_text_are_checked(version: int, text: str) -> None:
    """Contract of the catalog's prompt check: ``prompts/<name>/v<N>.yaml`` for any N
    (up to 240 digits, a file name's limit) and any content is a prompt version or
    Problems naming the file; never an exception (the version in the name is compared
    with the file's)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "policies", root / "policies")
        folder = root / "prompts" / "support-assistant"
        folder.mkdir(parents=True)
        (folder / f"v{version}.yaml").write_text(text, encoding="utf-8", errors="replace")
        catalog = manifests.load_catalog(root)
        shown = f"prompts/support-assistant/v{version}.yaml"
        assert all(str(p).startswith(shown) for p in catalog.problems), catalog.problems
        assert bool(catalog.prompts) != bool(catalog.problems)
