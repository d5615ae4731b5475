"""`release-guard invoke`: what `sam local invoke` does, without Docker.

The handler runs in the emulated account set up by fixture.standard (stack, policy,
an endpoint with its champion, model package v1 and an approved v2), brought to the
point in a release where the event's state runs (see prepare_for), and invoked through
the Lambda API so the function's own environment from template.yaml applies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from release_guard_cli import evaldata
from release_guard_cli.emulator import fixture
from release_guard_cli.emulator.account import HEALTHY, EmulatedAccount


def resolve(stack_functions: dict[str, str], name: str) -> str:
    """Accept the logical id (StartReleaseFunction) or the folder (start_release)."""
    if name in stack_functions:
        return stack_functions[name]
    camel = "".join(part.capitalize() for part in name.split("_")) + "Function"
    if camel in stack_functions:
        return stack_functions[camel]
    known = ", ".join(sorted(stack_functions))
    raise SystemExit(f"unknown function {name!r}; one of: {known}")


# States that run after Deploy Candidate Variant expect the candidate on the endpoint.
AFTER_DEPLOY = {
    "CheckEndpointFunction",
    "ShiftTrafficFunction",
    "JudgeCanaryFunction",
    "RequestApprovalFunction",
    "PromoteFunction",
    "RollBackFunction",
    "RunEvalFunction",
}


def prepare_for(
    account: EmulatedAccount,
    logical: str,
    name: str,
    event: dict[str, Any],
    functions: dict[str, str],
) -> None:
    """Bring the fixture account to where the event's state runs in a release: the
    candidate deployed (and, for later steps, its first traffic step), eval records
    where a gate event points."""
    release = event.get("release") or (event.get("state") or {}).get("release")
    lam = boto3.client("lambda")
    if logical in AFTER_DEPLOY and release:
        lam.invoke(
            FunctionName=functions["DeployCandidateFunction"],
            Payload=json.dumps({"release": release}),
        )
        account.wait_in_service(release["endpoint_name"])
    if logical in {"JudgeCanaryFunction", "PromoteFunction"} and release:
        lam.invoke(
            FunctionName=functions["ShiftTrafficFunction"],
            Payload=json.dumps({"release": release, "step": {"index": 0}}),
        )
        account.wait_in_service(release["endpoint_name"])
    gate = ((release or {}).get("policy") or {}).get("gate") or {}
    if logical == "EvalGateFunction" and gate.get("candidate_uri"):
        s3 = boto3.client("s3")
        for system in ("candidate", "champion"):
            bucket, key = gate[f"{system}_uri"].removeprefix("s3://").split("/", 1)
            try:
                s3.create_bucket(Bucket=bucket)
            except s3.exceptions.ClientError:
                pass  # it exists
            s3.put_object(Bucket=bucket, Key=key, Body=evaldata.jsonl(evaldata.records(system)))


def invoke(root: Path, function: str, event_path: Path) -> dict[str, Any]:
    event = json.loads(event_path.read_text())
    with EmulatedAccount(root, root / "out" / "invoke") as account:
        fx = fixture.standard(account, root, root / "policies" / "demo.json")
        account.register_package(fixture.GROUP, HEALTHY, approved=True)  # version 2
        functions = {
            logical: physical
            for logical, physical in fx.stack.resources.items()
            if logical.endswith("Function")
        }
        name = resolve(functions, function)
        logical = next(k for k, v in functions.items() if v == name)
        prepare_for(account, logical, name, event, functions)
        resp = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
        payload = json.loads(resp["Payload"].read() or b"null")
        out: dict[str, Any] = {"StatusCode": resp["StatusCode"], "Payload": payload}
        if resp.get("FunctionError"):
            out["FunctionError"] = resp["FunctionError"]
        return out
