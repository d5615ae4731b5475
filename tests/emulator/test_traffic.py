"""The traffic generator: bounded Poisson load through an InvokeEndpoint client."""

from __future__ import annotations

import io
import random
import threading
import time
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from release_guard_cli.emulator.dataplane import DataPlane
from release_guard_cli.emulator.traffic import TrafficGenerator, tabular_body

from tests.emulator.support import FAST

EP = "churn-endpoint"


class Runtime:
    """A sagemaker-runtime client over the data plane, answering as SageMaker does: a
    container error is a ModelError (HTTP 424) naming the container's status."""

    def __init__(self, dp: DataPlane, weights: dict[str, float]) -> None:
        self.dp = dp
        self.weights = weights
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def invoke_endpoint(self, EndpointName: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        with self.lock:
            self.bodies.append(Body)
        r = self.dp.invoke(EndpointName, self.weights, Body, ContentType, None, None, None)
        if r.status >= 400:
            raise ClientError(
                {
                    "Error": {"Code": "ModelError", "Message": r.body.decode()},
                    "OriginalStatusCode": r.status,
                    "ResponseMetadata": {
                        "HTTPStatusCode": 424,
                        "HTTPHeaders": {"x-amzn-invoked-production-variant": r.variant},
                    },
                },
                "InvokeEndpoint",
            )
        return {
            "Body": io.BytesIO(r.body),
            "ContentType": r.content_type,
            "InvokedProductionVariant": r.variant,
        }


def test_a_bounded_run_sends_every_request_and_counts_variants_and_errors(
    dataplane: DataPlane,
) -> None:
    dataplane.start_variant(EP, "champion", FAST)
    dataplane.start_variant(EP, "candidate", {**FAST, "RG_EMU_ERROR_RATE": "1"})
    runtime = Runtime(dataplane, {"champion": 0.75, "candidate": 0.25})
    gen = TrafficGenerator(
        EP, rate_per_s=2000, make_body=tabular_body(4), client_factory=lambda: runtime,
        max_requests=200, workers=4,
    )  # fmt: skip
    gen.start()
    assert gen.wait(timeout=30)
    stats = gen.stats()
    assert stats.sent + stats.dropped == 200
    assert stats.sent == len(runtime.bodies)
    # Every candidate request fails in the container; every champion request succeeds.
    assert stats.errors == {"ModelError:500": stats.by_variant["candidate"]}
    assert stats.ok == stats.by_variant["champion"]
    assert stats.ok + stats.error_count == stats.sent
    assert not gen.running


def test_the_seed_replays_the_same_arrivals(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST)
    inner = tabular_body(3)
    runs = []
    for _ in range(2):
        made: list[bytes] = []

        def make(rng: random.Random, made: list[bytes] = made) -> tuple[bytes, str]:
            body, ctype = inner(rng)
            made.append(body)
            return body, ctype

        runtime = Runtime(dataplane, {"A": 1.0})
        gen = TrafficGenerator(EP, 500, make, lambda r=runtime: r, seed=9, max_requests=30)
        gen.start()
        assert gen.wait(timeout=30)
        assert set(runtime.bodies) <= set(made)  # all of them unless some were dropped
        runs.append(made)
    assert runs[0] == runs[1] and len(runs[0]) == 30


def test_stop_ends_an_unbounded_run_cleanly(dataplane: DataPlane) -> None:
    dataplane.start_variant(EP, "A", FAST)
    runtime = Runtime(dataplane, {"A": 1.0})
    gen = TrafficGenerator(EP, 500, tabular_body(3), lambda: runtime, workers=3)
    with gen:
        deadline = time.monotonic() + 20
        while len(runtime.bodies) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gen.running
    stats = gen.stats()
    assert stats.sent >= 20
    assert not gen.running
    assert stats.sent == stats.ok == len(runtime.bodies)


def test_client_failures_are_counted_not_raised() -> None:
    class Broken:
        def invoke_endpoint(self, **_: Any) -> dict[str, Any]:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    gen = TrafficGenerator(EP, 1000, tabular_body(2), Broken, max_requests=10, workers=2)
    gen.start()
    assert gen.wait(timeout=30)
    stats = gen.stats()
    assert stats.sent + stats.dropped == 10
    assert stats.errors == {"EndpointConnectionError": stats.sent}


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TrafficGenerator(EP, 0, tabular_body(), object)
    with pytest.raises(ValueError, match="workers"):
        TrafficGenerator(EP, 1, tabular_body(), object, workers=0)


def test_tabular_body_shift_moves_the_feature_distribution() -> None:
    rng = random.Random(1)

    def sample(shift: float) -> np.ndarray:
        make = tabular_body(n_features=5, shift=shift, rows=2)
        rows = []
        for _ in range(500):
            body, ctype = make(rng)
            assert ctype == "text/csv"
            rows += [[float(x) for x in line.split(",")] for line in body.decode().splitlines()]
        return np.array(rows)

    base, shifted = sample(0.0), sample(1.5)
    assert base.shape == shifted.shape == (1000, 5)
    # 1000 draws of sd 1: the mean's sd is 0.032; 0.2 is over 6 of them.
    assert np.allclose(shifted.mean(axis=0) - base.mean(axis=0), 1.5, atol=0.2)
    assert np.allclose(base.std(axis=0), 1.0, atol=0.1)
