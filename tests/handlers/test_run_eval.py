"""Run Eval in the emulated account: the real handler (loaded from functions/run_eval,
called in-process with a Lambda context), the real adapters, SageMaker InvokeEndpoint
routed by TargetVariant to the emulated model servers, records read back from S3.

The endpoint serves three variants: ``champion`` (package v1 of the fixture), ``v2`` (a
healthy candidate whose outputs carry model_version "v2") and ``broken`` (every request
answers 500, which SageMaker turns into a ModelError).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from release_guard.errors import InvalidReleaseRequest
from release_guard_cli import evalcmd
from release_guard_cli.emulator import fixture, iam
from release_guard_cli.emulator.account import ACCOUNT_ID, REGION
from release_guard_cli.emulator.lambda_gaps import LambdaContext

from tests.conftest import ENDPOINT, GROUP, ROOT, load_event

DATASET: list[dict[str, Any]] = [
    {"id": "q1", "input": "What does the canary do?", "target": "canary", "category": "release"},
    {
        "id": "q2",
        "input": {"inputs": "Explain rollback", "parameters": {"max_new_tokens": 5}},
        "target": ["rollback", "champion"],
        "category": "release",
    },
    {"id": "q3", "input": "Summarise drift checks", "target": "drift", "cluster_id": "c1"},
    {
        "id": "n1",
        "input": [0.5, 1.0, -0.2],
        "content_type": "text/csv",
        "target": "score",
        "category": "tabular",
    },
]
FAST = {"RG_EMU_LATENCY_MS": "0", "RG_EMU_ERROR_RATE": "0"}

# Powertools' observability module silences this at import; pytest resets filters per test.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "rg_fn_run_eval_test", ROOT / "functions" / "run_eval" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def env(emulated: Any) -> Iterator[Any]:
    # Releases here start from the CLI (ReleaseOnApproval=false): registering an
    # Approved package would otherwise start one from the registry, as in AWS.
    with emulated() as env, env.release_on_approval(False):
        sm = boto3.client("sagemaker")
        packages = {
            "v2": env.account.register_package(GROUP, {**FAST, "RG_EMU_MODEL_VERSION": "v2"}),
            "broken": env.account.register_package(
                GROUP, {"RG_EMU_ERROR_RATE": "1", "RG_EMU_LATENCY_MS": "0"}
            ),
        }
        variants = [
            {
                "VariantName": "champion",
                "ModelName": f"{ENDPOINT}-champion",
                "InstanceType": "ml.g5.2xlarge",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ]
        for name, arn in packages.items():
            sm.create_model(
                ModelName=f"{ENDPOINT}-eval-{name}",
                Containers=[{"ModelPackageName": arn}],
                ExecutionRoleArn=env.account.role_arn,
            )
            variants.append(
                {
                    "VariantName": name,
                    "ModelName": f"{ENDPOINT}-eval-{name}",
                    "InstanceType": "ml.g5.2xlarge",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 0.0,
                }
            )
        sm.create_endpoint_config(
            EndpointConfigName=f"{ENDPOINT}-eval", ProductionVariants=variants
        )
        sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-eval")
        env.settled()
        assert env.weights() == {"champion": 1.0, "v2": 0.0, "broken": 0.0}
        boto3.client("s3").put_object(
            Bucket=env.info.bucket,
            Key="evals/datasets/demo-qa.jsonl",
            Body="".join(json.dumps(row) + "\n" for row in DATASET).encode(),
        )
        env.app = _module()
        yield env


def event(env: Any, run: str, **overrides: Any) -> dict[str, Any]:
    """events/run_eval/text-generation.json, pointed at the stack's bucket."""
    base = copy.deepcopy(load_event("run_eval", "text-generation"))
    base["dataset_uri"] = f"s3://{env.info.bucket}/evals/datasets/demo-qa.jsonl"
    base["output_prefix"] = f"s3://{env.info.bucket}/evals/runs/{run}/"
    base.update(overrides)
    return base


def handle(env: Any, payload: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(
        function_name="release-guard-RunEvalFunction",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:"
        "release-guard-RunEvalFunction",
    )
    # As Lambda would run it: with the function's execution role.
    role = env.lam.get_function(FunctionName=env.functions["RunEvalFunction"])
    with iam.acting_as(role["Configuration"]["Role"]):
        result: dict[str, Any] = env.app.handler(payload, context)
    return result


def read_records(uri: str) -> list[dict[str, Any]]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    text = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_records_land_in_s3_for_both_variants(env: Any) -> None:
    result = handle(env, event(env, "text"))
    bucket = env.info.bucket
    assert result["candidate_uri"] == f"s3://{bucket}/evals/runs/text/candidate.jsonl"
    assert result["champion_uri"] == f"s3://{bucket}/evals/runs/text/champion.jsonl"
    assert result["examples"] == 4 and result["repeats"] == 2
    assert result["records"] == {"candidate": 8, "champion": 8}
    assert result["errors"]["candidate"]["failed"] == 0
    assert result["errors"]["dataset"]["skipped"] == 0
    assert result["release_id"] == "demo-endpoint-v2-1f3993006dcf"
    candidate = read_records(result["candidate_uri"])
    champion = read_records(result["champion_uri"])
    # One record per example and repeat, in dataset order, paired by id across systems.
    expected = [(row["id"], i) for row in DATASET for i in range(2)]
    assert [(r["id"], r["sample_index"]) for r in candidate] == expected
    assert [(r["id"], r["sample_index"]) for r in champion] == expected
    assert {r["variant"] for r in candidate} == {"v2"}
    assert {r["variant"] for r in champion} == {"champion"}
    # Champion failures (its 0.2 % injected error rate) are records, and counted.
    failed = [r for r in champion if "error" in r]
    assert len(failed) == result["errors"]["champion"]["failed"]
    by_id = {(r["id"], r["sample_index"]): r for r in candidate}
    text = by_id[("q1", 0)]
    assert text["model_output"] and text["status"] == 200
    assert text["category"] == "release" and text["target_output"] == "canary"
    assert set(text["scores"]) == {
        "contains",
        "normalized_match",
        "brevity",
        "format_validity",
        "latency",
    }
    assert text["scores"]["brevity"] == 1.0 and text["scores"]["format_validity"] == 0.0
    assert text["tokens_estimated"] is True and text["cost_usd"] > 0
    assert text["latency_ms"] > 0
    # The same prompt gives the same text on both variants (the emulated model is
    # deterministic in its prompt); repeats agree too.
    assert by_id[("q1", 1)]["model_output"] == text["model_output"]
    ok_champion = {(r["id"], r["sample_index"]): r for r in champion if "error" not in r}
    if ("q1", 0) in ok_champion:
        assert ok_champion[("q1", 0)]["model_output"] == text["model_output"]
    # The CSV example reached the numeric model and passed the JSON schema.
    numeric = by_id[("n1", 0)]
    assert json.loads(numeric["model_output"])["model_version"] == "v2"
    assert numeric["scores"]["format_validity"] == 1.0


def test_target_variant_is_honoured(env: Any) -> None:
    payload = event(env, "routing", repeats=3)
    payload["scorers"] = {
        "output_path": "[0].model_version || model_version",
        "scorers": [{"type": "exact_match"}],
    }
    result = handle(env, payload)
    candidate = read_records(result["candidate_uri"])
    champion = read_records(result["champion_uri"])
    assert {r["model_output"] for r in candidate} == {"v2"}
    assert {r["model_output"] for r in champion if "error" not in r} == {"unversioned"}
    # The weights (champion 1.0, v2 0.0) were not what routed these requests.
    assert len(candidate) == 12


def test_model_errors_are_failed_examples_counted_per_variant(env: Any) -> None:
    result = handle(env, event(env, "broken", candidate_variant="broken"))
    assert result["records"] == {"candidate": 8, "champion": 8}
    assert result["errors"]["candidate"]["failed"] == 8
    assert result["errors"]["candidate"]["by_kind"] == {"HTTP 500": 8}
    assert result["errors"]["candidate"]["ids"] == ["q1", "q2", "q3", "n1"]
    for record in read_records(result["candidate_uri"]):
        assert record["status"] == 500 and "latency_ms" not in record
        assert record["error"].startswith("HTTP 500: ")
        assert "injected model error" in record["error"]
        assert set(record["scores"].values()) == {0.0}


def test_a_rerun_reuses_the_results(env: Any) -> None:
    first = handle(env, event(env, "rerun", repeats=1))
    again = handle(env, event(env, "rerun", repeats=1))
    assert again["reused"] is True and first["reused"] is False
    assert {k: v for k, v in again.items() if k != "reused"} == {
        k: v for k, v in first.items() if k != "reused"
    }
    with pytest.raises(InvalidReleaseRequest) as err:
        handle(env, event(env, "rerun", repeats=2))
    assert err.value.field == "request.output_prefix"


def test_bad_input_names_the_field_before_any_invocation(env: Any) -> None:
    same = load_event("run_eval", "same-variant")
    with pytest.raises(InvalidReleaseRequest) as err:
        handle(env, same)
    assert err.value.field == "request.champion_variant"
    with pytest.raises(InvalidReleaseRequest) as err:
        handle(env, event(env, "missing-variant", candidate_variant="v9"))
    assert err.value.field == "request.candidate_variant"
    assert "champion" in str(err.value) and "v9" in str(err.value)
    missing = event(env, "missing-dataset")
    missing["dataset_uri"] = f"s3://{env.info.bucket}/evals/datasets/nope.jsonl"
    with pytest.raises(InvalidReleaseRequest) as err:
        handle(env, missing)
    assert err.value.field == "request.dataset_uri"
    listed = boto3.client("s3").list_objects_v2(Bucket=env.info.bucket, Prefix="evals/runs/miss")
    assert listed.get("KeyCount", 0) == 0


def test_cli_runs_the_same_code(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(
        endpoint=ENDPOINT,
        candidate_variant="v2",
        champion_variant="champion",
        dataset=f"s3://{env.info.bucket}/evals/datasets/demo-qa.jsonl",
        out=f"s3://{env.info.bucket}/evals/runs/cli",
        scorers=None,
        repeats=1,
        concurrency=2,
        release_id=None,
        overwrite=False,
    )
    with env.operator():
        assert evalcmd.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["records"] == {"candidate": 4, "champion": 4}
    assert [r["id"] for r in read_records(result["candidate_uri"])] == ["q1", "q2", "q3", "n1"]
    args.repeats = 0
    assert evalcmd.run(args) == 2
    assert "--repeats: expected" in capsys.readouterr().err


def test_datasets_are_read_from_the_stacks_eval_data_location(env: Any) -> None:
    """EvalDataS3Uri (the fixture: s3://demo-release-policies/evals/) may be read by
    RunEval's role; any other bucket is refused by IAM, and the field is named."""
    body = "".join(json.dumps(row) + "\n" for row in DATASET).encode()
    s3 = boto3.client("s3")
    s3.put_object(Bucket=fixture.POLICY_BUCKET, Key="evals/datasets/qa.jsonl", Body=body)
    ok = event(
        env, "eval-data", dataset_uri=f"s3://{fixture.POLICY_BUCKET}/evals/datasets/qa.jsonl"
    )
    records = handle(env, ok)["records"]
    assert records["candidate"] == records["champion"] == 2 * len(DATASET)  # 2 repeats

    s3.create_bucket(Bucket="someone-elses-data")
    s3.put_object(Bucket="someone-elses-data", Key="evals/qa.jsonl", Body=body)
    elsewhere = event(env, "elsewhere", dataset_uri="s3://someone-elses-data/evals/qa.jsonl")
    with pytest.raises(InvalidReleaseRequest) as err:
        handle(env, elsewhere)
    assert err.value.field == "request.dataset_uri"
    assert "AccessDenied" in str(err.value)
