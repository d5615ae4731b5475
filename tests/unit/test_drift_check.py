"""run_check with in-memory S3, registry, outputs and jobs: what is read, when, and
what happens when a window is too big for the Lambda."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from release_guard.drift.check import Places, run_check
from release_guard.drift.columns import Columns
from release_guard.drift.profile import build_profile
from release_guard.events import DriftCheckRequest
from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema

SCHEMA = PayloadSchema(features=[FeatureSpec(name="a"), FeatureSpec(name="b")])
AT = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
PLACES = Places(capture="s3://cap/dc", drift="s3://stack/drift")
BASELINE = "s3://stack/baselines/p.json"


class Fakes:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.jobs: dict[str, str] = {}
        self.job_image = False

    # Store
    def list_objects(self, prefix: str) -> list[tuple[str, int]]:
        return [(k, len(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    def read_bytes(self, uri: str) -> bytes | None:
        self.reads.append(uri)
        return self.objects.get(uri)

    def write_bytes(self, uri: str, body: bytes, content_type: str) -> None:
        self.objects[uri] = body

    # Models
    def baseline_for(self, endpoint: str, variant: str) -> tuple[str | None, str | None]:
        return BASELINE, "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"

    # Outputs
    def put_metrics(self, namespace: str, data: list[dict[str, Any]]) -> None:
        self.metrics += data

    def put_event(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.events.append(detail)

    def notify(self, subject: str, body: dict[str, Any]) -> None:
        pass

    # Jobs
    def start(self, name: str, arguments: list[str]) -> str | None:
        if not self.job_image:
            return None
        self.jobs[name] = "InProgress"
        return name

    def status(self, name: str) -> str | None:
        return self.jobs.get(name)


def capture_file(rows: int, shift: float, seed: int, hour: datetime) -> bytes:
    rng = random.Random(seed)
    lines = []
    for i in range(rows):
        data = f"{rng.gauss(shift, 1):.4f},{rng.gauss(0, 1):.4f}"
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "data": data,
                            "encoding": "CSV",
                        }
                    },
                    "eventMetadata": {
                        "eventId": f"{seed}-{i}",
                        "inferenceTime": f"{hour:%Y-%m-%dT%H}:05:00Z",
                    },
                    "eventVersion": "0",
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def fakes() -> Fakes:
    f = Fakes()
    rng = np.random.default_rng(0)
    cols = Columns(
        rows={"input": 20_000},
        numeric={"a": rng.normal(0, 1, 20_000), "b": rng.normal(0, 1, 20_000)},
        source={"a": "input", "b": "input"},
    )
    profile = build_profile(cols, SCHEMA, AT - timedelta(days=3))
    f.objects[BASELINE] = profile.to_json().encode()
    return f


def put(f: Fakes, hour: datetime, name: str, rows: int, shift: float, seed: int) -> str:
    key = f"{PLACES.hour_prefix('ep', 'v1', hour)}{name}.jsonl"
    f.objects[key] = capture_file(rows, shift, seed, hour)
    return key


def run(f: Fakes, policy: DriftPolicy, at: datetime = AT, in_job: bool = False) -> Any:
    req = DriftCheckRequest(endpoint="ep", variant="v1", at=at, in_job=in_job)
    return run_check(req, policy, PLACES, f, f, f, f, at)


POLICY = DriftPolicy(payload=SCHEMA, window_hours=3, settle_minutes=10, notify_at="minor")


def test_reads_each_capture_file_once_and_closes_settled_hours(fakes: Fakes) -> None:
    h9, h10 = datetime(2026, 11, 22, 9, tzinfo=UTC), datetime(2026, 11, 22, 10, tzinfo=UTC)
    old = put(fakes, h9, "a", 400, 0.0, 1)
    first = run(fakes, POLICY)
    assert first.objects_read == 1 and first.status == "checked"
    assert first.baseline_uri == BASELINE
    new = put(fakes, h10, "b", 400, 0.0, 2)
    fakes.reads.clear()
    second = run(fakes, POLICY, AT + timedelta(minutes=5))
    assert second.objects_read == 1
    assert new in fakes.reads and old not in fakes.reads
    assert second.report.rows == {"input": 800}
    # Hour 9 ended at 10:00 and settled at 10:10: closed, never listed again.
    state = json.loads(__import__("gzip").decompress(fakes.objects[PLACES.state("ep", "v1", h9)]))
    assert state["closed"] is True and list(state["keys"]) == [old]


def test_a_rerun_of_the_same_window_counts_nothing_twice(fakes: Fakes) -> None:
    put(fakes, datetime(2026, 11, 22, 10, tzinfo=UTC), "a", 500, 0.0, 3)
    a = run(fakes, POLICY)
    b = run(fakes, POLICY)
    assert b.objects_read == 0
    assert a.report.rows == b.report.rows == {"input": 500}
    assert [f.ks for f in a.report.features] == [f.ks for f in b.report.features]


def test_drift_alerts_once_per_window_and_severity(fakes: Fakes) -> None:
    put(fakes, datetime(2026, 11, 22, 10, tzinfo=UTC), "a", 2000, 1.0, 4)
    out = run(fakes, POLICY)
    assert out.severity != "none" and out.notified
    assert [t["feature"] for t in out.top] == ["a"]
    assert run(fakes, POLICY).notified is False
    assert len(fakes.events) == 1
    assert fakes.events[0]["top_features"][0]["feature"] == "a"


def test_a_new_baseline_rereads_the_window(fakes: Fakes) -> None:
    put(fakes, datetime(2026, 11, 22, 10, tzinfo=UTC), "a", 300, 0.0, 5)
    run(fakes, POLICY)
    rng = np.random.default_rng(9)
    cols = Columns(
        rows={"input": 5000},
        numeric={"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000)},
        source={"a": "input", "b": "input"},
    )
    fakes.objects[BASELINE] = build_profile(cols, SCHEMA, AT).to_json().encode()
    again = run(fakes, POLICY)
    assert again.objects_read == 1 and again.report.rows == {"input": 300}


def test_too_much_new_capture_goes_to_a_processing_job(fakes: Fakes) -> None:
    policy = POLICY.model_copy(update={"max_new_bytes": 1024**2})
    for i in range(3):
        put(fakes, datetime(2026, 11, 22, 10, tzinfo=UTC), f"f{i}", 4000, 0.0, 10 + i)
    fakes.job_image = True
    out = run(fakes, policy)
    assert out.status == "handed_off" and "Processing job rg-drift-ep-" in out.reason
    assert out.objects_read == 0
    assert run(fakes, policy).status == "job_running"  # the next run waits for it
    done = run(fakes, policy, in_job=True)  # the job itself: no budget
    assert done.status == "checked" and done.objects_read == 3


def test_without_a_job_image_reads_within_budget_and_carries_on(fakes: Fakes) -> None:
    policy = POLICY.model_copy(update={"max_new_bytes": 1024**2})
    for i in range(3):
        put(fakes, datetime(2026, 11, 22, 10, tzinfo=UTC), f"f{i}", 4000, 0.0, 20 + i)
    first = run(fakes, policy)
    assert first.status == "partial" and 0 < first.objects_read < 3
    assert "no Processing job is configured" in first.report.findings[0]
    rest = run(fakes, policy)
    assert first.objects_read + rest.objects_read + run(fakes, policy).objects_read == 3


def test_no_baseline_is_a_clear_outcome(fakes: Fakes) -> None:
    del fakes.objects[BASELINE]
    out = run(fakes, POLICY)
    assert out.status == "no_baseline" and BASELINE in out.reason
