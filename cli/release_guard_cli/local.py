"""`release-guard invoke`: what `sam local invoke` does, without Docker.

The handler runs in the emulated account set up by fixture.standard (stack, policy,
an endpoint with its champion, model package v1 and an approved v2), invoked through
the Lambda API so the function's own environment from template.yaml applies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

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
        resp = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
        payload = json.loads(resp["Payload"].read() or b"null")
        out: dict[str, Any] = {"StatusCode": resp["StatusCode"], "Payload": payload}
        if resp.get("FunctionError"):
            out["FunctionError"] = resp["FunctionError"]
        return out
