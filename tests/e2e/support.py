"""Helpers of the end-to-end scenarios: policies, starting releases, live traffic and
reading the endpoint and the ledger back."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from release_guard_cli.emulator.traffic import TrafficGenerator, TrafficStats, tabular_body

from tests.conftest import ENDPOINT, GROUP, ROOT

TEST_POLICY = ROOT / "policies" / "test.json"
RATE_PER_S = 200
TERMINAL = {"promoted", "rolled_back", "rollback_unverified", "failed"}


def policy(**changes: Any) -> dict[str, Any]:
    """policies/test.json with dotted-path overrides: policy(**{"canary.max_bake_seconds": 2})."""
    doc: dict[str, Any] = copy.deepcopy(json.loads(TEST_POLICY.read_text()))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        target = doc
        for key in parents:
            target = target[key]
        target[leaf] = value
    return doc


def wait_for[T](probe: Callable[[], T | None], timeout: float, what: str, poll: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def register(env: Any, environment: dict[str, str], approved: bool = True) -> tuple[str, str]:
    """A new package version of the demo group: (ARN, its candidate variant name)."""
    arn = env.account.register_package(GROUP, environment, approved=approved)
    version = env.sm.describe_model_package(ModelPackageName=arn)["ModelPackageVersion"]
    return arn, f"v{version}"


def start(env: Any, package: str, policy_doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """`release-guard release start`: StartRelease through the Lambda API."""
    request: dict[str, Any] = {
        "endpoint_name": ENDPOINT,
        "model_package_arn": package,
        "trigger": "cli",
        "requested_by": "e2e",
    }
    if policy_doc is not None:
        request["policy"] = policy_doc
    inv = env.invoke("StartReleaseFunction", request)
    assert inv.ok, f"{inv.error_type}: {inv.error_message}"
    assert inv.payload["status"] == "started", inv.payload
    return dict(inv.payload)


def run(env: Any, package: str, policy_doc: dict[str, Any] | None = None) -> tuple[str, dict]:
    """Start a release and wait for its execution: (release id, DescribeExecution)."""
    started = start(env, package, policy_doc)
    return started["release_id"], env.wait(started["execution_arn"])


def shift_order(ledger: dict[str, dict[str, Any]]) -> list[int]:
    """Step indices of the SHIFT records in the order they were written."""
    shifts = [item for key, item in ledger.items() if key.endswith("#SHIFT")]
    return [int(i["step_index"]) for i in sorted(shifts, key=lambda i: str(i["at"]))]


def assert_only(env: Any, variant: str) -> dict[str, Any]:
    """DescribeEndpoint, once settled, shows `variant` alone, taking the traffic."""
    desc = env.settled()
    variants = desc["ProductionVariants"]
    assert [v["VariantName"] for v in variants] == [variant], variants
    assert variants[0]["CurrentWeight"] > 0, variants
    return dict(desc)


def assert_finished(env: Any, release_id: str, outcome: str) -> dict[str, dict[str, Any]]:
    """The ledger records the outcome and the endpoint's lock is free again."""
    ledger = env.ledger(release_id)
    assert ledger["META"]["status"] == outcome, ledger["META"]
    assert ledger["09#OUTCOME"]["outcome"] == outcome
    assert env.lock() is None, env.lock()
    return ledger


@contextmanager
def traffic(rate: float = RATE_PER_S, seed: int = 7) -> Iterator[TrafficGenerator]:
    gen = TrafficGenerator(
        ENDPOINT,
        rate_per_s=rate,
        make_body=tabular_body(n_features=8),
        client_factory=lambda: boto3.client("sagemaker-runtime"),
        seed=seed,
    )
    gen.start()
    try:
        yield gen
    finally:
        stats: TrafficStats = gen.stop()
        assert stats.sent > 0


def why(env: Any, release_id: str, desc: dict[str, Any] | None = None) -> str:
    """What the ledger says about a release, for an assertion message."""
    ledger = env.ledger(release_id)
    lines = [f"execution: {desc and (desc.get('status'), desc.get('error'), desc.get('cause'))}"]
    for key, item in sorted(ledger.items(), key=lambda kv: str(kv[1].get("at", ""))):
        verdict = item.get("verdict") or {}
        lines.append(
            f"{key}: {item.get('status') or item.get('outcome') or verdict.get('action') or ''}"
            f" {item.get('reason') or verdict.get('reason') or ''}"
        )
    return "\n".join(lines)


def recovered(env: Any, release_id: str, champion: str, outcome: str) -> dict[str, Any]:
    """Wait for recovery; then the champion alone serves, the lock is free and the
    ledger holds the outcome and the recovery record."""

    def ended() -> dict[str, Any] | None:
        ledger = env.ledger(release_id)
        meta = ledger.get("META") or {}
        return ledger if meta.get("status") == outcome else None

    ledger = wait_for(ended, 120, f"{release_id} to be recovered as {outcome}", poll=0.3)
    assert_only(env, champion)
    assert env.lock() is None, env.lock()
    assert ledger["10#RECOVERED"]["outcome"] == outcome, why(env, release_id)
    assert ledger["META"]["rollback_verified"] is True
    assert "09#OUTCOME" in ledger
    return dict(ledger)


def stop_when(env: Any, started: dict[str, Any], key: str, cause: str = "e2e stop") -> None:
    """StopExecution (as the operator) once the release has written ledger record ``key``."""
    wait_for(lambda: key in env.ledger(started["release_id"]), 60, f"ledger record {key}")
    with env.operator():
        env.sfn.stop_execution(executionArn=started["execution_arn"], cause=cause)
