"""Release manifests and prompt versions: the repository's examples validate, every
mistake is named by file, line and field, a prompt version maps onto container
environment, framework containers resolve through the sagemaker SDK (faked here), and
the git diff decides which manifests a pipeline run releases."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from pydantic import ValidationError
from release_guard.canary import plan
from release_guard.events import StartRelease
from release_guard.manifest import (
    FrameworkContainer,
    PromptFile,
    ReleaseManifest,
    instance_type_problem,
    real_time_instance_types,
    start_request,
)
from release_guard_cli import manifestcmd, manifests
from release_guard_cli.emulator import model_server
from release_guard_cli.emulator.sagemaker_gaps import REAL_TIME_TYPES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/demo-models/2"

PROMPT_V1 = """\
name: support-assistant
version: 1
system_prompt: You are the support assistant of an online shop.
template: "{system_prompt}\\n\\nQuestion: {input}\\nAnswer:"
parameters:
  temperature: 0.7
  max_new_tokens: 512
eval:
  dataset: s3://evals/support-assistant/v1.jsonl
"""

MANIFEST = """\
endpoint: demo-endpoint
model:
  package: {package}
prompt:
  name: support-assistant
  version: {version}
instance:
  type: ml.g5.2xlarge
  count: 1
policy: demo
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def checkout(tmp_path: Path, manifest: str | None = None, prompt: str = PROMPT_V1) -> Path:
    """A checkout with the demo policy, prompt v1 and a manifest naming them."""
    (tmp_path / "policies").mkdir()
    shutil.copy(ROOT / "policies" / "demo.json", tmp_path / "policies" / "demo.json")
    write(tmp_path, "prompts/support-assistant/v1.yaml", prompt)
    write(
        tmp_path,
        "releases/demo-endpoint.yaml",
        manifest or MANIFEST.format(package=PACKAGE, version=1),
    )
    return tmp_path


def problems(root: Path) -> list[str]:
    return [str(p) for p in manifests.load_catalog(root).problems]


# --- The repository's own examples --------------------------------------------------------


def test_the_repository_manifests_and_prompts_validate() -> None:
    catalog = manifests.load_catalog(ROOT)
    assert catalog.problems == []
    assert "releases/demo-endpoint.yaml" in catalog.manifests
    assert {("support-assistant", 1), ("support-assistant", 2)} <= set(catalog.prompts)
    manifest = catalog.manifests["releases/demo-endpoint.yaml"]
    assert manifest.prompt is not None and manifest.policy is not None
    prompt = catalog.prompt_for(manifest)
    assert prompt is not None and prompt.eval.dataset.startswith("s3://")
    # and it makes a request StartRelease accepts
    request = start_request(manifest, prompt, policy=catalog.policies[manifest.policy])
    StartRelease.model_validate(request.model_dump(mode="json"))


def test_validate_command_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert manifestcmd.validate(ROOT, []) == 0
    assert capsys.readouterr().out.startswith("ok: ")


# --- Instance types --------------------------------------------------------------------------


def test_every_allowed_instance_type_is_one_sagemaker_hosts_in_real_time() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    offered = set(model.shape_for("ProductionVariantInstanceType").enum)
    allowed = real_time_instance_types()
    assert set(allowed) <= offered, sorted(set(allowed) - offered)
    for gpu in ("ml.g5.2xlarge", "ml.g6.12xlarge", "ml.g6e.xlarge", "ml.p4d.24xlarge"):
        assert gpu in allowed
    assert "ml.p5.48xlarge" in allowed and "ml.inf2.xlarge" in allowed
    # and the emulated account accepts every one of them
    assert all(REAL_TIME_TYPES.match(t) for t in allowed)


@pytest.mark.parametrize(
    ("instance_type", "says"),
    [
        ("ml.g5.3xlarge", "ml.g5 comes in xlarge, 2xlarge"),
        ("ml.t3.medium", "family 't3' is not one of"),  # not a real-time hosting type
        ("ml.x9.large", "family 'x9'"),
        ("g5.2xlarge", "not an instance type like ml.g5.2xlarge"),
    ],
)
def test_an_instance_type_off_the_allow_list_says_why(instance_type: str, says: str) -> None:
    problem = instance_type_problem(instance_type)
    assert problem is not None and says in problem


# --- Schemas and their error messages ----------------------------------------------------------


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    root = checkout(
        tmp_path,
        """\
        endpoint: demo-endpoint
        model:
          package: arn:aws:sagemaker:us-east-1:123456789012:model-package/demo-models/2
        prompt:
          name: support-assistant
          version: 4
        instance:
          type: ml.g5.3xlarge
          colour: blue
        policy: fastest
        """,
    )
    found = problems(root)
    assert found == [
        "releases/demo-endpoint.yaml:6: prompt.version: prompts/support-assistant/v4.yaml "
        "does not exist (versions of support-assistant: v1)",
        "releases/demo-endpoint.yaml:8: instance.type: ml.g5.3xlarge is not offered for "
        "real-time endpoints: ml.g5 comes in xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, "
        "16xlarge, 24xlarge, 48xlarge",
        "releases/demo-endpoint.yaml:9: instance.colour: unknown field (not in the schema: "
        "docs/manifests.md)",
        "releases/demo-endpoint.yaml:10: policy: no policy policies/fastest.json (policies: demo)",
    ]


def test_a_missing_field_and_a_model_given_twice(tmp_path: Path) -> None:
    root = checkout(
        tmp_path,
        """\
        endpoint: demo-endpoint
        model:
          package: arn:aws:sagemaker:us-east-1:123456789012:model-package/demo-models/2
          image: 763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:3.0.1
        """,
    )
    found = problems(root)
    assert (
        "releases/demo-endpoint.yaml:2: model: exactly one of package, image or container "
        "(got package and image)" in found
    )
    assert "releases/demo-endpoint.yaml:1: instance: required field is missing" in found


def test_the_manifest_is_named_after_its_endpoint(tmp_path: Path) -> None:
    root = checkout(tmp_path, MANIFEST.format(package=PACKAGE, version=1))
    (root / "releases" / "demo-endpoint.yaml").rename(root / "releases" / "prod.yaml")
    assert problems(root) == [
        "releases/prod.yaml:1: endpoint: must be 'prod': the file is releases/<endpoint>.yaml "
        "(got 'demo-endpoint')"
    ]


def test_yaml_syntax_errors_and_duplicate_keys_have_lines(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    write(root, "releases/a.yaml", "endpoint: a\nmodel: [1, 2\n")
    write(root, "releases/b.yaml", "endpoint: b\nendpoint: b\n")
    found = problems(root)
    assert any(p.startswith("releases/a.yaml:3: not valid YAML: expected ','") for p in found)
    assert "releases/b.yaml:2: endpoint: duplicate key (keep one)" in found


def test_prompt_file_errors(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    write(
        root,
        "prompts/support-assistant/v2.yaml",
        """\
        name: support-assistant
        version: 3
        template: "Q: {question}"
        parameters: {temperature: 3, tempreature: 0.2}
        eval: {dataset: "https://example.com/v2.jsonl"}
        environment: {RG_PROMPT_VERSION: "9", FLAG: true}
        """,
    )
    found = [p for p in problems(root) if p.startswith("prompts/")]
    assert found == [
        "prompts/support-assistant/v2.yaml:2: version: must be 2, as in the file name "
        "v2.yaml (got 3)",
        "prompts/support-assistant/v2.yaml:3: template: unknown placeholder {question}: use "
        "{input}, {system_prompt} or {context}",
        "prompts/support-assistant/v2.yaml:4: parameters.temperature: Input should be less "
        "than or equal to 2, got 3",
        "prompts/support-assistant/v2.yaml:4: parameters.tempreature: unknown field (not in "
        "the schema: docs/manifests.md)",
        "prompts/support-assistant/v2.yaml:5: eval.dataset: String should match pattern "
        "'^s3://[^/]+/.+$', got 'https://example.com/v2.jsonl'",
        "prompts/support-assistant/v2.yaml:6: environment: FLAG: quote the value ('true'): "
        "values are text",
    ]


def test_a_prompt_too_long_for_a_container_variable_is_refused(tmp_path: Path) -> None:
    long_prompt = "Be helpful. " * 100  # 1,200 bytes
    with pytest.raises(ValidationError) as info:
        PromptFile.model_validate(
            {
                "name": "support-assistant",
                "version": 1,
                "system_prompt": long_prompt,
                "template": "{input}",
                "eval": {"dataset": "s3://evals/v1.jsonl"},
            }
        )
    error = info.value.errors()[0]
    assert error["loc"] == ("system_prompt",)
    assert "RG_SYSTEM_PROMPT" in error["msg"] and "1024 bytes" in error["msg"]


def test_a_manifest_naming_an_invalid_prompt_points_at_it(tmp_path: Path) -> None:
    root = checkout(tmp_path, prompt=PROMPT_V1.replace("{input}", "{query}"))
    found = problems(root)
    assert (
        "releases/demo-endpoint.yaml:4: prompt: prompts/support-assistant/v1.yaml has errors "
        "(release-guard manifest validate prompts/support-assistant/v1.yaml)" in found
    )
    assert any(p.startswith("prompts/support-assistant/v1.yaml:4: template:") for p in found)


def test_validate_narrowed_to_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = checkout(tmp_path)
    write(root, "releases/broken.yaml", "endpoint: broken\n")
    assert manifestcmd.validate(root, [root / "releases" / "demo-endpoint.yaml"]) == 0
    assert manifestcmd.validate(root, [root / "releases" / "broken.yaml"]) == 1
    out = capsys.readouterr().out
    assert "releases/broken.yaml:1: model: required field is missing" in out
    assert manifestcmd.validate(root, [root / "releases" / "nope.yaml"]) == 1


# --- Prompt versions as container environment ------------------------------------------------


def test_a_prompt_version_maps_onto_container_environment() -> None:
    prompt = PromptFile.model_validate(
        {
            "name": "support-assistant",
            "version": 2,
            "system_prompt": "Answer briefly.",
            "template": "{system_prompt}\n{context}\n{input}",
            "parameters": {"temperature": 0.2, "max_new_tokens": 256, "stop": ["</s>"]},
            "eval": {"dataset": "s3://evals/v2.jsonl"},
            "environment": {"MAX_INPUT_TOKENS": 3072},
        }
    )
    assert prompt.container_environment() == {
        "RG_PROMPT_NAME": "support-assistant",
        "RG_PROMPT_VERSION": "2",
        "RG_SYSTEM_PROMPT": "Answer briefly.",
        "RG_PROMPT_TEMPLATE": "{system_prompt}\n{context}\n{input}",
        "RG_INFERENCE_PARAMS": '{"max_new_tokens":256,"stop":["</s>"],"temperature":0.2}',
        "MAX_INPUT_TOKENS": "3072",
    }
    ref = prompt.ref()
    assert (ref.label, ref.eval_dataset_uri) == ("support-assistant/v2", "s3://evals/v2.jsonl")
    edited = prompt.model_copy(update={"system_prompt": "Answer in one sentence."})
    assert edited.ref().digest != ref.digest


def test_start_request_from_a_manifest() -> None:
    manifest = ReleaseManifest.model_validate(
        {
            "endpoint": "demo-endpoint",
            "model": {"package": PACKAGE},
            "prompt": {"name": "support-assistant", "version": 1},
            "instance": {"type": "ml.g5.2xlarge", "count": 2},
        }
    )
    prompt = PromptFile.model_validate(
        {
            "name": "support-assistant",
            "version": 1,
            "template": "{input}",
            "eval": {"dataset": "s3://evals/v1.jsonl"},
        }
    )
    request = start_request(manifest, prompt, requested_by="ci", release_id="r-1")
    assert request.model_package_arn == PACKAGE and request.container is None
    assert (request.instance_type, request.instance_count) == ("ml.g5.2xlarge", 2)
    assert request.trigger == "pipeline" and request.requested_by == "ci"
    assert request.prompt is not None and request.prompt.environment["RG_PROMPT_VERSION"] == "1"
    assert request.policy is None  # the stack's policy


def test_start_release_takes_a_package_or_a_container_not_both() -> None:
    base = {"endpoint_name": "demo-endpoint"}
    with pytest.raises(ValidationError, match="exactly one of them"):
        StartRelease.model_validate(base)
    container = {"image": "1.dkr.ecr.us-east-1.amazonaws.com/tgi:3", "environment": {"A": "1"}}
    with pytest.raises(ValidationError, match="exactly one of them"):
        StartRelease.model_validate({**base, "model_package_arn": PACKAGE, "container": container})
    request = StartRelease.model_validate({**base, "container": container})
    assert request.model_key.startswith("{") and "tgi:3" in request.model_key
    too_big = {"image": "x", "environment": {f"V{i}": "x" * 1000 for i in range(40)}}
    with pytest.raises(ValidationError, match="32768"):
        StartRelease.model_validate({**base, "container": too_big})


# --- Serving containers by framework (a fake sagemaker SDK) --------------------------------------


@pytest.fixture
def fake_sdk(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def llm(backend: str, region: str | None = None, version: str | None = None) -> str:
        calls.append(("llm", {"backend": backend, "region": region, "version": version}))
        return f"763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-tgi:{version}"

    def retrieve(framework: str, **kwargs: Any) -> str:
        calls.append(("retrieve", {"framework": framework, **kwargs}))
        if kwargs.get("version") == "0.0.0":
            raise ValueError("Unsupported djl-lmi version: 0.0.0")
        return f"763104351884.dkr.ecr.{kwargs['region']}.amazonaws.com/djl-inference:lmi"

    sagemaker = types.ModuleType("sagemaker")
    image_uris = types.ModuleType("sagemaker.image_uris")
    image_uris.retrieve = retrieve  # type: ignore[attr-defined]
    huggingface = types.ModuleType("sagemaker.huggingface")
    huggingface.get_huggingface_llm_image_uri = llm  # type: ignore[attr-defined]
    sagemaker.image_uris = image_uris  # type: ignore[attr-defined]
    sagemaker.huggingface = huggingface  # type: ignore[attr-defined]
    for name, module in (
        ("sagemaker", sagemaker),
        ("sagemaker.image_uris", image_uris),
        ("sagemaker.huggingface", huggingface),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_tgi_resolves_through_the_llm_image_lookup(fake_sdk: list) -> None:
    tgi = FrameworkContainer(framework="huggingface-llm", version="3.0.1")
    uri = manifests.resolve_image(tgi, "eu-west-1", "ml.g5.2xlarge")
    assert uri == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-tgi:3.0.1"
    assert fake_sdk == [
        ("llm", {"backend": "huggingface", "region": "eu-west-1", "version": "3.0.1"})
    ]


def test_lmi_resolves_through_image_uris_retrieve(fake_sdk: list) -> None:
    lmi = FrameworkContainer(framework="djl-lmi", version="0.30.0")
    uri = manifests.resolve_image(lmi, "us-east-1", "ml.g6.12xlarge")
    assert uri.endswith("/djl-inference:lmi")
    assert fake_sdk == [
        (
            "retrieve",
            {
                "framework": "djl-lmi",
                "region": "us-east-1",
                "version": "0.30.0",
                "image_scope": "inference",
                "instance_type": "ml.g6.12xlarge",
            },
        )
    ]
    with pytest.raises(ValueError, match=r"no djl-lmi 0\.0\.0 image in us-east-1"):
        manifests.resolve_image(
            FrameworkContainer(framework="djl-lmi", version="0.0.0"), "us-east-1", "ml.g5.xlarge"
        )


def test_without_the_sdk_the_cli_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sagemaker", None)  # import sagemaker -> ImportError
    tgi = FrameworkContainer(framework="huggingface-llm", version="3.0.1")
    with pytest.raises(ValueError) as info:
        manifests.resolve_image(tgi, "us-east-1", "ml.g5.2xlarge")
    assert "pip install 'release-guard[sagemaker]'" in str(info.value)
    assert "model.image" in str(info.value)


def test_a_yaml_number_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="quote the version"):
        FrameworkContainer.model_validate({"framework": "huggingface-llm", "version": 2.0})


# --- From a git diff to StartRelease requests ----------------------------------------------------


def sh(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def repo(tmp_path: Path) -> Path:
    root = checkout(tmp_path)
    write(
        root,
        "releases/other-endpoint.yaml",
        "endpoint: other-endpoint\nmodel:\n  package: "
        + PACKAGE.replace("/2", "/1")
        + "\ninstance:\n  type: ml.m5.large\n",
    )
    sh(root, "init", "-q", "-b", "main")
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "initial")
    return root


def commit(root: Path, message: str) -> None:
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", message)


def test_a_changed_manifest_is_released_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    root = repo(tmp_path)
    manifest = root / "releases" / "demo-endpoint.yaml"
    manifest.write_text(manifest.read_text().replace("count: 1", "count: 2"))
    commit(root, "two instances")
    planned, notes = manifests.plan_releases(root, "HEAD~1", who="ci")
    assert [(p.manifest, p.reason) for p in planned] == [
        ("releases/demo-endpoint.yaml", "manifest changed")
    ]
    request = planned[0].request
    assert request.instance_count == 2 and request.trigger == "pipeline"
    assert request.requested_by == "ci"
    assert request.policy == json.loads((ROOT / "policies" / "demo.json").read_text())
    head = sh(root, "rev-parse", "HEAD").strip()
    assert request.release_id == plan.release_id_for(
        "demo-endpoint", PACKAGE, f"git:{head}", request.prompt
    )
    assert request.candidate_variant is None  # the default: v2-support-assistant-v1
    assert notes == []


def test_a_prompt_change_releases_the_manifests_that_name_it(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root, "prompts/support-assistant/v2.yaml", PROMPT_V1.replace("version: 1", "version: 2"))
    write(root, "prompts/faq/v1.yaml", PROMPT_V1.replace("support-assistant", "faq"))
    commit(root, "prompt v2, not used yet")
    planned, notes = manifests.plan_releases(root, "HEAD~1", who="ci")
    assert planned == []
    assert notes == [
        "prompts/faq/v1.yaml: no manifest names this prompt version; nothing to release",
        "prompts/support-assistant/v2.yaml: no manifest names this prompt version; "
        "nothing to release",
    ]
    manifest = root / "releases" / "demo-endpoint.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1", "version: 2"))
    commit(root, "use prompt v2")
    planned, _ = manifests.plan_releases(root, "HEAD~1", who="ci")
    assert [p.manifest for p in planned] == ["releases/demo-endpoint.yaml"]
    assert planned[0].request.prompt is not None
    assert planned[0].request.prompt.label == "support-assistant/v2"
    # Both commits at once: the prompt and the manifest changed.
    planned, _ = manifests.plan_releases(root, "HEAD~2", who="ci")
    assert planned[0].reason == ("manifest changed; prompt prompts/support-assistant/v2.yaml added")


def test_a_prompt_version_edited_in_place_gets_a_variant_of_its_own(tmp_path: Path) -> None:
    root = repo(tmp_path)
    v1 = root / "prompts" / "support-assistant" / "v1.yaml"
    v1.write_text(v1.read_text().replace("temperature: 0.7", "temperature: 0.3"))
    commit(root, "edit v1 in place")
    planned, _ = manifests.plan_releases(root, "HEAD~1", who="ci")
    assert planned[0].reason == "prompt prompts/support-assistant/v1.yaml changed"
    request = planned[0].request
    assert request.prompt is not None
    assert request.candidate_variant == f"v2-support-assistant-v1-{request.prompt.digest[:6]}"


def test_nothing_starts_when_any_manifest_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repo(tmp_path)
    manifest = root / "releases" / "demo-endpoint.yaml"
    manifest.write_text(manifest.read_text().replace("ml.g5.2xlarge", "ml.g5.3xlarge"))
    commit(root, "a type SageMaker does not offer")

    def no_stack() -> Any:
        raise AssertionError("nothing may be started")

    assert manifestcmd.release_changed(root, "HEAD~1", no_stack, who="ci") == 2
    out = capsys.readouterr().out
    assert "releases/demo-endpoint.yaml:8: instance.type: ml.g5.3xlarge" in out
    assert "nothing released" in out


def test_an_unknown_ref_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    assert manifestcmd.release_changed(root, "HEAD~5", None, dry_run=True, who="ci") == 2
    assert "no such commit" in capsys.readouterr().out


def test_dry_run_prints_the_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path)
    manifest = root / "releases" / "demo-endpoint.yaml"
    manifest.write_text(manifest.read_text() + "variant: assistant-b\n")
    commit(root, "name the variant")
    assert manifestcmd.release_changed(root, "HEAD~1", None, dry_run=True, who="ci") == 0
    out = capsys.readouterr().out
    assert out.startswith("releases/demo-endpoint.yaml: manifest changed\n")
    request = json.loads(out.split("\n", 1)[1])
    assert request["candidate_variant"] == "assistant-b"
    assert request["prompt"]["environment"]["RG_PROMPT_NAME"] == "support-assistant"


def test_requested_by_is_the_codebuild_initiator_or_the_author(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path)
    monkeypatch.delenv("CODEBUILD_INITIATOR", raising=False)
    assert manifests.requested_by(root) == "Ada <ada@example.com>"
    monkeypatch.setenv("CODEBUILD_INITIATOR", "codepipeline/release-guard")
    assert manifests.requested_by(root) == "codepipeline/release-guard"


# --- The emulated model server shows the prompt version -----------------------------------------


def test_the_emulated_model_echoes_the_prompt_version() -> None:
    env = {"RG_EMU_MODEL_VERSION": "v2", "RG_PROMPT_NAME": "support-assistant"}
    assert model_server.version_label(env) == "v2"
    assert model_server.version_label({**env, "RG_PROMPT_VERSION": "3"}) == (
        "v2+support-assistant/v3"
    )


def test_the_pipeline_sample_event_is_what_the_repository_manifest_asks_for() -> None:
    """events/start_release/pipeline-prompt.json (the stack's policy in place of the
    manifest's, so a policy tweak does not touch the event) stays in step."""
    catalog = manifests.load_catalog(ROOT)
    manifest = catalog.manifests["releases/demo-endpoint.yaml"]
    request = start_request(
        manifest,
        catalog.prompt_for(manifest),
        requested_by="codepipeline/release-guard-pipeline",
    )
    event = json.loads((ROOT / "events" / "start_release" / "pipeline-prompt.json").read_text())
    assert event == request.model_dump(mode="json", exclude_none=True)


def test_the_subcommands_parse_and_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="release-guard")
    manifestcmd.add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["manifest", "validate", "--root", str(ROOT)])
    assert args.fn(args) == 0
    root = repo(tmp_path)
    args = parser.parse_args(
        ["manifest", "release", "--changed-from", "HEAD", "--dry-run", "--root", str(root)]
    )
    assert args.fn(args) == 0
    assert "nothing to release" in capsys.readouterr().out


def test_files_out_of_place_are_reported_not_ignored(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    write(root, "releases/other.yml", "endpoint: other\n")
    write(root, "prompts/support-assistant/latest.yaml", PROMPT_V1)
    write(root, "prompts/support-assistant/v3.yml", PROMPT_V1)
    write(root, "prompts/README.md", "How to write a prompt version.\n")
    write(root, "prompts/support-assistant/notes.md", "Why v2 exists.\n")
    assert problems(root) == [
        "prompts/support-assistant/latest.yaml: prompt files are prompts/<name>/v<N>.yaml",
        "prompts/support-assistant/v3.yml: prompt files are prompts/<name>/v<N>.yaml",
        "releases/other.yml: manifests are releases/<endpoint>.yaml",
    ]


def test_release_status_shows_model_and_prompt_versions() -> None:
    from release_guard_cli import timeline

    meta = {
        "model_package_arn": PACKAGE,
        "model_package_version": 2,
        "prompt": {"name": "support-assistant", "version": 2, "digest": "3fa9c2d1e0b4"},
    }
    assert timeline.versions_line(meta) == (
        f"model package {PACKAGE} (version 2); prompt support-assistant v2 (3fa9c2d1e0b4)"
    )
    image = {"image": "1.dkr.ecr.us-east-1.amazonaws.com/tgi:3", "prompt": None}
    assert timeline.versions_line(image) == (
        "image 1.dkr.ecr.us-east-1.amazonaws.com/tgi:3; no prompt version"
    )
    deploy = {
        "kind": "deploy",
        "variants": [{"VariantName": "v2-support-assistant-v2", "InstanceType": "ml.g5.2xlarge"}],
        "prompt": {"name": "support-assistant", "version": 2},
    }
    [line] = timeline.describe(deploy, None, {})
    assert (
        "deploy    v2-support-assistant-v2 (prompt support-assistant v2) on ml.g5.2xlarge" in line
    )


# --- Hostile YAML: every problem is a file:line: field: message, in linear time (issue 12) ---


def billion_laughs(levels: int = 9) -> str:
    """Each level a list of nine aliases of the one before: 9**levels strings from a few
    hundred bytes, in any walk of the tree that follows aliases."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = ["a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def one_problem(tmp_path: Path, text: str, rel: str = "releases/demo-endpoint.yaml") -> str:
    """The one problem a checkout (made in ``tmp_path`` unless it is one) has with ``text``
    as its file ``rel``."""
    root = tmp_path if (tmp_path / "policies").is_dir() else checkout(tmp_path)
    (root / rel).write_text(text, encoding="utf-8")
    [found] = [p for p in problems(root) if p.startswith(rel)]
    return found


def test_a_recursive_alias_is_refused_at_its_anchor(tmp_path: Path) -> None:
    assert one_problem(tmp_path, "endpoint: demo-endpoint\nx: &a [*a]\n") == (
        "releases/demo-endpoint.yaml:2: x: anchor &a: anchors and aliases are not allowed "
        "(write the value out)"
    )


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    bomb = billion_laughs()
    assert len(bomb) < 400  # the fuzzer's was 374 bytes, 9**9 strings once expanded
    assert one_problem(tmp_path, bomb) == (
        "releases/demo-endpoint.yaml:1: a: anchor &a: anchors and aliases are not allowed "
        "(write the value out)"
    )
    # An alias of a value written out, in an otherwise valid manifest: refused too.
    text = MANIFEST.format(package=PACKAGE, version=1) + "description: *model\n"
    text = text.replace("model:\n", "model: &model\n")
    assert one_problem(tmp_path, text) == (
        "releases/demo-endpoint.yaml:2: model: anchor &model: anchors and aliases are not "
        "allowed (write the value out)"
    )


def test_an_alias_without_its_anchor_is_refused_as_an_alias(tmp_path: Path) -> None:
    text = MANIFEST.format(package=PACKAGE, version=1) + "description: *nowhere\n"
    assert one_problem(tmp_path, text) == (
        "releases/demo-endpoint.yaml:11: description: alias *nowhere: anchors and aliases "
        "are not allowed (write the value out)"
    )


@pytest.mark.parametrize("depth", [manifests.MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_refused_at_the_limit(tmp_path: Path, depth: int) -> None:
    text = "endpoint: demo-endpoint\ndescription: " + "[" * depth + "]" * depth + "\n"
    found = one_problem(tmp_path, text)
    assert found.startswith("releases/demo-endpoint.yaml:2: description[0][0]")
    assert found.endswith(
        f": nested more than {manifests.MAX_DEPTH} levels deep (a manifest needs 3)"
    )


def test_nesting_up_to_the_limit_loads(tmp_path: Path) -> None:
    depth = manifests.MAX_DEPTH - 1  # and the document's own mapping
    text = "endpoint: demo-endpoint\ndescription: " + "[" * depth + "]" * depth + "\n"
    doc, found = manifests.parse_yaml(text, "x.yaml")
    assert found == [] and doc is not None


def test_block_nesting_counts_too(tmp_path: Path) -> None:
    text = "endpoint: demo-endpoint\nmodel:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(manifests.MAX_DEPTH)
    )
    found = one_problem(tmp_path, text)
    # the document is the first level, model's mapping the second: k30's holds k31
    assert found.startswith(f"releases/demo-endpoint.yaml:{manifests.MAX_DEPTH + 2}: model.k0.k1")
    assert "nested more than" in found


@pytest.mark.parametrize(
    ("char", "line"), [("\u0094", 3), ("\x00", 1), ("\x1b", 2), ("\x7f", 3), ("\ufffe", 3)]
)
def test_a_control_character_is_a_problem_with_its_line(
    tmp_path: Path, char: str, line: int
) -> None:
    lines = ["endpoint: demo-endpoint", "model:", "  package: x"]
    lines[line - 1] += char
    found = one_problem(tmp_path, "\n".join(lines) + "\n")
    code = f"{ord(char):04X}"
    assert found == (
        f"releases/demo-endpoint.yaml:{line}: not valid YAML: character U+{code} is not "
        f"allowed (control characters are refused; in a double-quoted string write "
        f"\\u{code.lower()})"
    )


def test_lines_count_every_yaml_line_break(tmp_path: Path) -> None:
    # PyYAML counts \r, \r\n, NEL and the Unicode separators as line breaks: so does the
    # message of a character PyYAML's reader refuses before any line is counted.
    text = "endpoint: demo-endpoint\r\nmodel:\rdescription: x\u2028y\x85z \u0094\n"
    assert one_problem(tmp_path, text).startswith("releases/demo-endpoint.yaml:5: not valid")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (
            "!!int 2",
            "tag tag:yaml.org,2002:int: tags are not allowed (quote a value to make it text)",
        ),
        ("!custom 2", "tag !custom: tags are not allowed (quote a value to make it text)"),
        (
            "0x_",
            "'0x_' is not a valid int (invalid literal for int() with base 16: ''; quote it "
            "if it is text)",
        ),
        (
            "2024-13-45",
            "'2024-13-45' is not a valid timestamp (month must be in 1..12; quote it if it "
            "is text)",
        ),
        ("9" * 5000, "a number of 5000 characters (at most 64; quote it if it is text)"),
        ("1" + ":5" * 100, "a number of 201 characters (at most 64; quote it if it is text)"),
        ('"a\\ud800b"', "\\ud800 is half of a surrogate pair, not a character"),
    ],
    ids=["tag", "local-tag", "hex", "date", "digits", "sexagesimal", "surrogate"],
)
def test_values_pyyaml_cannot_construct_are_problems(tmp_path: Path, value: str, says: str) -> None:
    text = MANIFEST.format(package=PACKAGE, version=1).replace("count: 1", f"count: {value}")
    assert one_problem(tmp_path, text) == f"releases/demo-endpoint.yaml:9: instance.count: {says}"


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    text = "endpoint: demo-endpoint\n" + "# padding\n" * (manifests.MAX_FILE_BYTES // 10)
    size = len(text.encode())
    assert one_problem(tmp_path, text) == (
        f"releases/demo-endpoint.yaml: {size} bytes: at most {manifests.MAX_FILE_BYTES} in a file"
    )


def test_a_long_value_is_quoted_clipped(tmp_path: Path) -> None:
    text = MANIFEST.format(package=PACKAGE, version=1).replace("demo\n", "x" * 5000 + "\n")
    found = one_problem(tmp_path, text)
    assert found.startswith("releases/demo-endpoint.yaml:10: policy: String should match")
    assert found.endswith(", got '" + "x" * 76 + "...")  # 80 characters of its repr


def test_a_hostile_prompt_file_is_a_problem_too(tmp_path: Path) -> None:
    root = checkout(tmp_path, prompt=PROMPT_V1.replace("version: 1", "version: &v 1"))
    assert (
        "prompts/support-assistant/v1.yaml:2: version: anchor &v: anchors and aliases are "
        "not allowed (write the value out)" in problems(root)
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" * 100_000 + "]" * 100_000, "policies/demo.json is nested too deeply to be a policy"),
        ('{"version": ' + "1" * 5000 + "}", "policies/demo.json is not JSON this reads: "),
        (
            '{"version": "1"\u0094}',
            "policies/demo.json is not JSON: Expecting ',' delimiter at line 1",
        ),
        ("[1]", "policies/demo.json is not a valid policy: policy: expected a JSON object"),
    ],
    ids=["deep", "huge-int", "control", "array"],
)
def test_a_hostile_policy_file_is_a_problem(tmp_path: Path, text: str, says: str) -> None:
    root = checkout(tmp_path)
    (root / "policies" / "demo.json").write_text(text, encoding="utf-8")
    assert one_problem(tmp_path, MANIFEST.format(package=PACKAGE, version=1)).startswith(
        f"releases/demo-endpoint.yaml:10: policy: {says}"
    )


def test_validate_and_release_print_the_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repo(tmp_path)
    (root / "releases" / "demo-endpoint.yaml").write_text(billion_laughs())
    assert manifestcmd.validate(root, []) == 1
    out = capsys.readouterr().out
    assert "releases/demo-endpoint.yaml:1: a: anchor &a: anchors and aliases" in out
    assert "1 problem(s); nothing is valid to release" in out
    commit(root, "a bomb")

    def no_stack() -> Any:
        raise AssertionError("nothing may be started")

    assert manifestcmd.release_changed(root, "HEAD~1", no_stack, who="ci") == 2
    out = capsys.readouterr().out
    assert "releases/demo-endpoint.yaml:1: a: anchor &a" in out and "nothing released" in out


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{input:d}", "placeholders take no conversion or format spec: write {input} alone"),
        ("{input!x}", "placeholders take no conversion or format spec: write {input} alone"),
        ("{input:>999999999}", "placeholders take no conversion or format spec"),
        ("{input} {context:{input}}", "write {context} alone"),
    ],
)
def test_a_template_is_placeholders_only(template: str, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        PromptFile.model_validate(
            {"name": "a", "version": 1, "template": template, "eval": {"dataset": "s3://e/v"}}
        )
    assert says in info.value.errors()[0]["msg"]


def test_inference_parameters_are_finite(tmp_path: Path) -> None:
    # RG_INFERENCE_PARAMS is JSON, which has no infinity
    text = PROMPT_V1.replace(
        "max_new_tokens: 512", "max_new_tokens: 512\n  repetition_penalty: .inf"
    )
    root = checkout(tmp_path, prompt=text)
    assert (
        "prompts/support-assistant/v1.yaml:8: parameters.repetition_penalty: Input should be "
        "a finite number, got inf" in problems(root)
    )


def test_a_path_the_system_refuses_is_no_such_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert manifestcmd.validate(ROOT, [Path("r" * 5000 + ".yaml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("r" * 197 + "...: no such file\n")
    assert "1 problem(s)" in out
