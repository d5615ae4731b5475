"""A prompt version (or a container image) as the candidate, through the release's
states on the fakes: the same package as the champion with another prompt is a new
variant, the prompt's environment reaches CreateModel, the ledger records model and
prompt versions, and a failing prompt never rejects the model package."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from release_guard.canary import plan, release
from release_guard.errors import InvalidReleaseRequest
from release_guard.events import ReleaseContext, StartRelease
from release_guard.gate.adapters import parser_for
from release_guard.gate.run import run_gate

from tests.conftest import load_event
from tests.unit.fakes import FakeEndpoints, FakeLedger, FakeWorkflow
from tests.unit.test_gate_run import (
    REPORTS,
    DynamoLedger,
    FakeRegistry,
    FakeStorage,
    files,
    weak_returns,
)
from tests.unit.test_release import ARN, DEFAULTS, ENDPOINT, EXEC_1, T0, no_s3

PROMPT_ENV = {
    "RG_PROMPT_NAME": "support-assistant",
    "RG_PROMPT_VERSION": "2",
    "RG_SYSTEM_PROMPT": "Answer briefly.",
    "RG_PROMPT_TEMPLATE": "{system_prompt}\n{input}",
    "RG_INFERENCE_PARAMS": '{"temperature":0.2}',
}
PROMPT = {
    "name": "support-assistant",
    "version": 2,
    "environment": PROMPT_ENV,
    "eval_dataset_uri": "s3://evals/support-assistant/v2.jsonl",
}
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:3.0.1"


def serving_v7() -> FakeEndpoints:
    """The champion serves package v7 from a variant named v7."""
    eps = FakeEndpoints()
    eps.add_endpoint(
        ENDPOINT,
        "churn-prod-cfg-7",
        [
            {
                "VariantName": "v7",
                "ModelName": "churn-v7",
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    eps.add_package(ARN, status="Approved", version=7, group="churn")
    return eps


def prepare(eps: FakeEndpoints, **request: Any) -> ReleaseContext:
    req = StartRelease.model_validate({"endpoint_name": ENDPOINT, **request})
    release_id = plan.release_id_for(ENDPOINT, req.model_key, "stamp", req.prompt)
    return release.prepare(req, release_id, eps, DEFAULTS, no_s3, T0)


def test_the_same_package_without_a_prompt_is_refused_as_the_champion() -> None:
    with pytest.raises(InvalidReleaseRequest, match="not already on the endpoint"):
        prepare(serving_v7(), model_package_arn=ARN)


def test_the_same_package_with_a_prompt_is_a_new_variant() -> None:
    eps = serving_v7()
    ctx = prepare(eps, model_package_arn=ARN, prompt=PROMPT)
    assert ctx.champion.name == "v7"
    assert ctx.candidate.name == "v7-support-assistant-v2"
    assert ctx.prompt is not None and ctx.prompt.environment == PROMPT_ENV
    assert ctx.release_id.startswith(f"{ENDPOINT}-v7-p2-")

    ledger = FakeLedger()
    release.acquire_lock(ctx, EXEC_1, ledger, FakeWorkflow({EXEC_1: "RUNNING"}), T0)
    summary = ledger.summaries[ctx.release_id]
    assert summary["model_package_arn"] == ARN and summary["model_package_version"] == 7
    assert summary["prompt"] == {
        "name": "support-assistant",
        "version": 2,
        "digest": ctx.prompt.digest,
        "eval_dataset_uri": "s3://evals/support-assistant/v2.jsonl",
    }

    release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    (call,) = eps.calls_named("create_model")
    assert call.args["container"] == {"ModelPackageName": ARN, "Environment": PROMPT_ENV}
    assert call.args["tags"]["release-guard:prompt"] == f"support-assistant/v2@{ctx.prompt.digest}"
    assert ledger.record(ctx.release_id, "01#DEPLOY")["prompt"]["version"] == 2

    release.finish(ctx, "rolled_back", "5XX", eps, ledger, FakeWorkflow(), T0)
    assert eps.package_metadata[ARN]["release-guard:prompt"] == "support-assistant/v2"


def test_a_container_candidate_needs_no_package() -> None:
    eps = serving_v7()
    container = {
        "image": IMAGE,
        "model_data_url": "s3://models/assistant/model.tar.gz",
        "environment": {"HF_MODEL_ID": "/opt/ml/model", "SM_NUM_GPUS": "1"},
    }
    ctx = prepare(eps, container=container, prompt=PROMPT)
    assert eps.calls_named("describe_model_package") == []
    assert ctx.model_package_arn is None and ctx.model_package_version is None
    assert ctx.candidate.name.startswith("c-") and ctx.candidate.name.endswith(
        "-support-assistant-v2"
    )
    ledger = FakeLedger()
    release.deploy_candidate(ctx, eps, ledger, DEFAULTS, T0)
    (call,) = eps.calls_named("create_model")
    assert call.args["container"] == {
        "Image": IMAGE,
        "ModelDataUrl": "s3://models/assistant/model.tar.gz",
        "Environment": {**container["environment"], **PROMPT_ENV},
    }
    assert call.args["tags"]["release-guard:image"] == IMAGE
    release.finish(ctx, "promoted", "", eps, ledger, FakeWorkflow(), T0)
    assert eps.calls_named("record_on_package") == []  # no package to record on


def test_the_prompt_eval_dataset_feeds_a_dataset_gate() -> None:
    gate = {"dataset_uri": "s3://evals/default.jsonl", "scorers": {}}
    policy = {"version": "p-1", "gate": gate}
    ctx = prepare(serving_v7(), model_package_arn=ARN, prompt=PROMPT, policy=policy)
    assert ctx.policy.gate is not None
    assert ctx.policy.gate.dataset_uri == "s3://evals/support-assistant/v2.jsonl"
    records = {
        "version": "p-1",
        "gate": {"candidate_uri": "s3://e/c.jsonl", "champion_uri": "s3://e/h.jsonl"},
    }
    ctx = prepare(serving_v7(), model_package_arn=ARN, prompt=PROMPT, policy=records)
    assert ctx.policy.gate is not None and ctx.policy.gate.dataset_uri is None


def test_a_failing_prompt_never_rejects_the_model_package() -> None:
    event = copy.deepcopy(load_event("eval_gate", "hold-on-inconclusive"))
    event["release"]["policy"]["gate"]["on_inconclusive"] = "fail"
    event["release"]["prompt"] = PROMPT
    ctx = ReleaseContext.model_validate(event["release"])
    gate = ctx.policy.gate
    assert gate is not None and gate.candidate_uri and gate.champion_uri
    storage = FakeStorage(files(ctx, *weak_returns()))
    registry = FakeRegistry()
    verdict, _ = run_gate(
        ctx,
        {"candidate": gate.candidate_uri, "champion": gate.champion_uri},
        storage,
        parser_for("records"),
        registry,
        DynamoLedger(),
        REPORTS,
        T0,
    )
    assert verdict.verdict == "fail"
    assert registry.rejected == []


def test_names_stay_valid_at_the_longest() -> None:
    import re

    from release_guard.events import NAME, RELEASE_ID, PromptRef

    endpoint = "e" * 63
    prompt = PromptRef(name="p" * 32, version=9999, environment={"RG_PROMPT_VERSION": "9999"})
    for model, version in ((ARN, 123456), ("{container}", None)):
        release_id = plan.release_id_for(endpoint, model, "stamp", prompt)
        assert re.fullmatch(RELEASE_ID, release_id), release_id
        variant = plan.candidate_variant_name(model, version, prompt)
        assert re.fullmatch(NAME, variant), variant
        assert re.fullmatch(NAME, plan.candidate_model_name(endpoint, variant, release_id))
