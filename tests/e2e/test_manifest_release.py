"""Manifest releases end to end: a git checkout with release manifests and prompt
versions, `release-guard manifest release --changed-from HEAD~1 --wait` run against the
emulated stack after each commit. A changed manifest starts exactly one release, with
its model and prompt versions in the ledger; an unchanged one starts none; a prompt
version whose container environment makes the model fail is rolled back by the judge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from release_guard_cli import git_demo, manifestcmd
from release_guard_cli.emulator.account import HEALTHY

from tests.conftest import ENDPOINT
from tests.e2e.support import TEST_POLICY, assert_finished, assert_only, register, traffic

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics")]

INITIATOR = "codepipeline/release-guard-pipeline"
PROMPT = """\
name: support-assistant
version: {version}
description: {description}
system_prompt: You are the support assistant of an online shop.
template: "{{system_prompt}}\\nQuestion: {{input}}\\nAnswer:"
parameters:
  temperature: 0.2
  max_new_tokens: 128
eval:
  dataset: s3://demo-evals/support-assistant/v{version}.jsonl
"""


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated(policy=TEST_POLICY) as env, env.release_on_approval(False), traffic():
        yield env


@pytest.fixture(scope="module")
def state(env: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A checkout describing what serves today (the champion's package, no prompt),
    plus an unrelated endpoint's manifest; one commit."""
    root = tmp_path_factory.mktemp("checkout")
    (root / "policies").mkdir()
    shutil.copy(TEST_POLICY, root / "policies" / "test.json")
    manifest(root, ENDPOINT, env.fx.champion_package)
    manifest(root, "other-endpoint", env.fx.champion_package)
    prompt(root, 1, "first prompt")
    git(root, "init", "-q", "-b", "main")
    commit(root, "what serves today")
    return {"root": root}


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def manifest(root: Path, endpoint: str, package: str, prompt_version: int | None = None) -> None:
    git_demo.write_manifest(root, endpoint, package, prompt_version, policy="test")


def prompt(root: Path, version: int, description: str, extra: str = "") -> None:
    write(
        root,
        f"prompts/support-assistant/v{version}.yaml",
        PROMPT.format(version=version, description=description) + extra,
    )


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Grace", "-c", "user.email=grace@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def release(env: Any, root: Path) -> tuple[int, list[str], list[dict[str, Any]]]:
    """`manifest release --changed-from HEAD~1 --wait`: (exit code, output, new executions)."""
    before = {e["executionArn"] for e in env.executions()}
    lines: list[str] = []
    with env.operator():  # as the pipeline's Release stage, with the OperatorPolicy
        code = manifestcmd.release_changed(
            root, "HEAD~1", lambda: env.info, wait=True, timeout=180, out=lines.append
        )
    new = [e for e in env.executions() if e["executionArn"] not in before]
    return code, lines, new


def model_version(endpoint: str = ENDPOINT) -> str:
    resp = boto3.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=b"0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"
    )
    return str(json.loads(resp["Body"].read())["model_version"])


def test_a_changed_manifest_starts_one_release_with_its_prompt_version(
    env: Any, state: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    root: Path = state["root"]
    monkeypatch.setenv("CODEBUILD_INITIATOR", INITIATOR)
    package, version = register(env, HEALTHY, approved=True)
    manifest(root, ENDPOINT, package, prompt_version=1)
    commit(root, "package v2 with prompt v1")

    code, out, new = release(env, root)
    assert code == 0, "\n".join(out)
    assert len(new) == 1, out
    release_id = new[0]["name"]
    variant = f"{version}-support-assistant-v1"
    assert_only(env, variant)
    ledger = assert_finished(env, release_id, "promoted")
    meta = ledger["META"]
    assert (meta["trigger"], meta["requested_by"]) == ("pipeline", INITIATOR)
    assert meta["model_package_arn"] == package
    assert meta["model_package_version"] == int(version[1:])
    assert meta["prompt"]["name"] == "support-assistant" and meta["prompt"]["version"] == 1
    assert meta["policy_version"] == json.loads(TEST_POLICY.read_text())["version"]
    assert ledger["01#DEPLOY"]["prompt"]["version"] == 1
    # The prompt's environment reached the model server that now serves.
    assert model_version().endswith("+support-assistant/v1")
    state.update(variant=variant, first=release_id)

    # A retried pipeline run for the same commit finds its release instead of a second.
    code, out, new = release(env, root)
    assert (code, new) == (0, []), out
    assert any(f"duplicate {release_id}" in line for line in out), out


def test_an_unchanged_manifest_starts_nothing(env: Any, state: dict[str, Any]) -> None:
    root: Path = state["root"]
    prompt(
        root,
        2,
        "longer answers (regresses)",
        extra='environment:\n  RG_EMU_ERROR_RATE: "0.12"\n  RG_EMU_LATENCY_MS: "60"\n',
    )
    write(root, "README.md", "Manifests for the support assistant.\n")
    commit(root, "draft prompt v2; no manifest uses it yet")

    code, out, new = release(env, root)
    assert (code, new) == (0, []), out
    assert out == [
        "prompts/support-assistant/v2.yaml: no manifest names this prompt version; "
        "nothing to release",
        "no manifest or referenced prompt version changed since HEAD~1: nothing to release",
    ]
    assert_only(env, state["variant"])


def test_a_bad_prompt_version_is_a_new_variant_and_is_rolled_back(
    env: Any, state: dict[str, Any]
) -> None:
    root: Path = state["root"]
    text = (root / "releases" / f"{ENDPOINT}.yaml").read_text()
    (root / "releases" / f"{ENDPOINT}.yaml").write_text(text.replace("version: 1", "version: 2"))
    commit(root, "prompt v2")

    code, out, new = release(env, root)
    assert code == 1, out
    assert len(new) == 1, out
    release_id = new[0]["name"]
    assert any("FAILED (rolled_back" in line for line in out), out
    ledger = assert_finished(env, release_id, "rolled_back")
    meta = ledger["META"]
    assert meta["prompt"]["version"] == 2 and meta["champion"] == state["variant"]
    candidate = meta["candidate"]
    assert candidate.endswith("-support-assistant-v2") and candidate != state["variant"]
    judged = [item for key, item in ledger.items() if "#JUDGE#" in key]
    assert judged and judged[-1]["verdict"]["action"] == "rollback"
    # Rolled back and verified: prompt v1's variant alone serves, as before.
    assert_only(env, state["variant"])
    assert model_version().endswith("+support-assistant/v1")
