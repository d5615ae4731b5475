"""`release-guard emulator serve`: the standard emulated account behind a local
moto server, with traffic, so `release-guard release ...` can be used from another
shell exactly as against AWS (AWS_ENDPOINT_URL points boto3 at it)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import boto3

from release_guard_cli.emulator import fixture
from release_guard_cli.emulator.account import FAULTY, HEALTHY, EmulatedAccount
from release_guard_cli.emulator.traffic import TrafficGenerator, tabular_body


def run(root: Path, port: int, rate: float, seconds: float | None) -> int:
    with EmulatedAccount(root, root / "out" / "serve", port=port) as account:
        fixture.standard(account, root, root / "policies" / "demo.json")
        healthy = account.register_package(fixture.GROUP, HEALTHY, approved=True)
        faulty = account.register_package(fixture.GROUP, FAULTY, approved=True)
        traffic = TrafficGenerator(
            fixture.ENDPOINT,
            rate_per_s=rate,
            make_body=tabular_body(n_features=8),
            client_factory=lambda: boto3.client("sagemaker-runtime"),
            seed=random.randrange(1 << 30),
        )
        traffic.start()
        print(
            f"emulated account on {account.endpoint_url} (stack release-guard, endpoint "
            f"{fixture.ENDPOINT}, {rate:g} requests/s). In another shell:\n\n"
            f"  export AWS_ENDPOINT_URL={account.endpoint_url} AWS_ACCESS_KEY_ID=emulated "
            "AWS_SECRET_ACCESS_KEY=emulated AWS_DEFAULT_REGION=us-east-1\n"
            f"  release-guard release start --endpoint {fixture.ENDPOINT} --package {healthy}\n"
            f"  release-guard release start --endpoint {fixture.ENDPOINT} --package {faulty}\n"
            "  release-guard release status <release-id>\n\n"
            "Ctrl-C stops it.",
            flush=True,
        )
        try:
            deadline = time.time() + seconds if seconds else None
            while deadline is None or time.time() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            traffic.stop()
    return 0
