"""The emulated AWS account shared by tests/handlers and tests/e2e.

`emulated(policy)` is a context manager: the account (moto is global, so one at a time
per process), fixture.standard (stack, policy in S3, demo-endpoint serving package v1
from its `champion` variant) and an `Emulated` handle whose helpers read AWS back with
boto3 clients created once, on the test's thread.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from release_guard_cli.emulator import fixture, iam
from release_guard_cli.emulator.account import EmulatedAccount

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
ENDPOINT = fixture.ENDPOINT
GROUP = fixture.GROUP


def load_event(function_dir: str, case: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / function_dir / f"{case}.json").read_text()))


def policy_document(body: Any) -> dict[str, Any]:
    """GetRolePolicy's document as a dict: moto returns the inline policies CloudFormation
    created as a Python repr, without a Version and with None where AWS::NoValue was."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            body = ast.literal_eval(body)
    statements = [st for st in body["Statement"] if st]
    return {"Version": "2012-10-17", **body, "Statement": statements}


@dataclass(frozen=True)
class Invocation:
    payload: Any
    error_type: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


class Emulated:
    def __init__(self, account: EmulatedAccount, fx: fixture.Fixture) -> None:
        self.account = account
        self.fx = fx
        self.info = fx.info
        self.functions = {
            logical: physical
            for logical, physical in fx.stack.resources.items()
            if logical.endswith("Function")
        }
        self.sm = boto3.client("sagemaker")
        self.sfn = boto3.client("stepfunctions")
        self.lam = boto3.client("lambda")
        self.ddb = boto3.client("dynamodb")
        self._deser = TypeDeserializer()

    def role_of(self, function: str) -> str:
        """The execution role ARN of one of the stack's functions (logical id)."""
        fn = self.lam.get_function(FunctionName=self.functions.get(function, function))
        return str(fn["Configuration"]["Role"])

    @contextmanager
    def without_statement(self, role_arn: str, sid: str) -> Iterator[None]:
        """One statement (by Sid) removed from a role's inline policies for a block: a
        stack deployed with that permission missing."""
        client = boto3.client("iam")
        role = role_arn.rsplit("/", 1)[-1]
        for name in client.list_role_policies(RoleName=role)["PolicyNames"]:
            body = policy_document(
                client.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            )
            kept = [st for st in body["Statement"] if st.get("Sid") != sid]
            if len(kept) == len(body["Statement"]):
                continue
            client.put_role_policy(
                RoleName=role,
                PolicyName=name,
                PolicyDocument=json.dumps({**body, "Statement": kept}),
            )
            try:
                yield
            finally:
                client.put_role_policy(
                    RoleName=role, PolicyName=name, PolicyDocument=json.dumps(body)
                )
            return
        raise AssertionError(f"{role} has no statement {sid}")

    @contextmanager
    def release_on_approval(self, enabled: bool) -> Iterator[None]:
        """The stack as deployed with ReleaseOnApproval=true/false, for a block."""
        fixture.release_on_approval(self.fx.stack, enabled)
        try:
            yield
        finally:
            fixture.release_on_approval(self.fx.stack, not enabled)

    def operator(self) -> Any:
        """`with env.operator():` the CLI's calls act with the stack's OperatorPolicy."""
        return iam.acting_as(self.account.operator_role())

    # --- Lambda ---------------------------------------------------------------------------

    def invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        """Invoke a function through the Lambda API, as `release-guard invoke` does."""
        resp = self.lam.invoke(
            FunctionName=self.functions.get(function, function), Payload=json.dumps(event)
        )
        payload = json.loads(resp["Payload"].read() or b"null")
        if resp.get("FunctionError"):
            return Invocation(payload, payload.get("errorType"), payload.get("errorMessage"))
        return Invocation(payload)

    # --- SageMaker --------------------------------------------------------------------------

    def describe(self, name: str = ENDPOINT) -> dict[str, Any]:
        return dict(self.sm.describe_endpoint(EndpointName=name))

    def weights(self, name: str = ENDPOINT) -> dict[str, float]:
        """Variant -> CurrentWeight, as DescribeEndpoint shows it now."""
        return {
            v["VariantName"]: float(v["CurrentWeight"])
            for v in self.describe(name)["ProductionVariants"]
        }

    def settled(self, name: str = ENDPOINT, timeout: float = 30) -> dict[str, Any]:
        """DescribeEndpoint once InService with every variant at its desired weight."""
        deadline = time.monotonic() + timeout
        while True:
            desc = self.describe(name)
            steady = all(
                v.get("CurrentWeight") == v.get("DesiredWeight") for v in desc["ProductionVariants"]
            )
            if desc["EndpointStatus"] == "InService" and steady:
                return desc
            if time.monotonic() > deadline:
                raise AssertionError(f"endpoint {name} never settled: {desc}")
            time.sleep(0.1)

    def serving(self, name: str = ENDPOINT) -> str:
        """The single variant taking traffic (the champion between releases)."""
        live = [v for v, w in self.weights(name).items() if w > 0]
        assert len(live) == 1, f"expected one serving variant, got {self.weights(name)}"
        return live[0]

    # --- the ledger ---------------------------------------------------------------------------

    def _items(self, pk: str) -> list[dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.info.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        return [{k: self._deser.deserialize(v) for k, v in i.items()} for i in resp["Items"]]

    def ledger(self, release_id: str) -> dict[str, dict[str, Any]]:
        """sk -> item of one release (META and one item per decision)."""
        return {str(i["sk"]): i for i in self._items(f"RELEASE#{release_id}")}

    def lock(self, endpoint: str = ENDPOINT) -> dict[str, Any] | None:
        items = self._items(f"LOCK#{endpoint}")
        return items[0] if items else None

    # --- Step Functions ---------------------------------------------------------------------

    def executions(self) -> list[dict[str, Any]]:
        return list(
            self.sfn.list_executions(stateMachineArn=self.info.state_machine_arn)["executions"]
        )

    def wait(self, arn: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            desc = dict(self.sfn.describe_execution(executionArn=arn))
            if desc["status"] != "RUNNING":
                return desc
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {arn} still RUNNING after {timeout} s")
            time.sleep(0.25)

    def drain(self, timeout: float = 30) -> None:
        """Stop what still runs and let the workflow threads finish their current
        Lambda call, so nothing touches AWS after the account is gone."""
        from moto.stepfunctions.parser.utils import TMP_THREADS

        deadline = time.monotonic() + timeout
        for e in self.executions():
            while e["status"] == "RUNNING":
                try:
                    self.sfn.stop_execution(executionArn=e["executionArn"], error="TestTeardown")
                    break
                except Exception:
                    # moto cannot stop an execution whose worker has not begun yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        for t in list(TMP_THREADS):
            t.join(max(0.0, deadline - time.monotonic()))


@contextmanager
def _emulated(out: Path, policy: Path | None = None) -> Iterator[Emulated]:
    with EmulatedAccount(ROOT, out) as account:
        account.gaps.timings.create = 0.3
        account.gaps.timings.update = 0.5
        account.gaps.timings.weights = 0.1
        fx = fixture.standard(account, ROOT, policy or ROOT / "policies" / "demo.json")
        env = Emulated(account, fx)
        try:
            yield env
        finally:
            env.drain()


@pytest.fixture(scope="session")
def emulated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Any]:
    """`with emulated(policy=...) as env:` in a module-scoped fixture."""

    def make(policy: Path | None = None) -> Any:
        return _emulated(tmp_path_factory.mktemp("emulator"), policy)

    return make
