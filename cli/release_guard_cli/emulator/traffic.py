"""Live traffic for an endpoint: Poisson arrivals sent through sagemaker-runtime InvokeEndpoint.

Requests go through a boto3 client, the same API path an application uses, so routing,
metrics and Data Capture are exercised exactly as in a real release. The load is open-loop:
arrivals do not wait for responses; when every worker is busy and the queue is full an
arrival is counted as ``dropped`` rather than silently slowing the arrival process.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

MakeBody = Callable[[random.Random], tuple[bytes, str]]


@dataclass(frozen=True)
class TrafficStats:
    sent: int  # requests that got an answer or an error
    ok: int
    errors: dict[str, int]  # "ModelError:500", "ValidationError", "EndpointConnectionError", ...
    by_variant: dict[str, int]  # answers per InvokedProductionVariant (errors included if known)
    dropped: int  # arrivals never sent: queue full, or still queued at stop()
    elapsed_s: float

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class TrafficGenerator:
    def __init__(
        self,
        endpoint: str,
        rate_per_s: float,
        make_body: MakeBody,
        client_factory: Callable[[], Any],
        seed: int = 0,
        workers: int = 8,
        max_requests: int | None = None,
        duration_s: float | None = None,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if max_requests is not None and max_requests < 0:
            raise ValueError(f"max_requests must be >= 0, got {max_requests}")
        self.endpoint = endpoint
        self.rate_per_s = rate_per_s
        self.make_body = make_body
        self.client_factory = client_factory
        self.seed = seed
        self.workers = workers
        self.max_requests = max_requests
        self.duration_s = duration_s
        self._queue: queue.Queue[tuple[bytes, str]] = queue.Queue(maxsize=workers * 4)
        self._stop = threading.Event()
        self._arrivals_done = threading.Event()
        self._lock = threading.Lock()
        self._sent = self._ok = self._dropped = 0
        self._errors: Counter[str] = Counter()
        self._by_variant: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        self._started_at: float | None = None
        self._ended_at: float | None = None

    def __enter__(self) -> TrafficGenerator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("a TrafficGenerator runs once; create a new one")
        # Clients are made here, one per worker and one at a time: boto3 client creation
        # is not thread-safe, and a failing factory should fail start(), not a thread.
        clients = [self.client_factory() for _ in range(self.workers)]
        self._started_at = time.monotonic()
        self._threads = [
            threading.Thread(target=self._arrivals, name="traffic-arrivals", daemon=True)
        ] + [
            threading.Thread(target=self._work, args=(c,), name=f"traffic-{i}", daemon=True)
            for i, c in enumerate(clients)
        ]
        for t in self._threads:
            t.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a bounded run (max_requests or duration_s) has sent everything."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 70.0) -> TrafficStats:
        """Stop arrivals, let in-flight requests finish (InvokeEndpoint times out at 60 s),
        and return the final stats; queued but unsent arrivals count as dropped."""
        self._stop.set()
        self.wait(timeout)
        return self.stats()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stats(self) -> TrafficStats:
        with self._lock:
            end = self._ended_at if self._ended_at is not None else time.monotonic()
            return TrafficStats(
                sent=self._sent,
                ok=self._ok,
                errors=dict(self._errors),
                by_variant=dict(self._by_variant),
                dropped=self._dropped,
                elapsed_s=0.0 if self._started_at is None else end - self._started_at,
            )

    def _arrivals(self) -> None:
        rng = random.Random(self.seed)  # one thread draws everything: a seed replays a run
        start = time.monotonic()
        due = start
        made = 0
        try:
            while not self._stop.is_set():
                if self.max_requests is not None and made >= self.max_requests:
                    return
                due += rng.expovariate(self.rate_per_s)
                if self.duration_s is not None and due - start >= self.duration_s:
                    return
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                item = self.make_body(rng)
                made += 1
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    with self._lock:
                        self._dropped += 1
        finally:
            self._arrivals_done.set()

    def _work(self, client: Any) -> None:
        while True:
            try:
                body, content_type = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._arrivals_done.is_set() or self._stop.is_set():
                    self._mark_end()
                    return
                continue
            if self._stop.is_set():
                with self._lock:
                    self._dropped += 1
                continue
            self._send(client, body, content_type)

    def _send(self, client: Any, body: bytes, content_type: str) -> None:
        variant: str | None = None
        error: str | None = None
        try:
            resp = client.invoke_endpoint(
                EndpointName=self.endpoint, Body=body, ContentType=content_type
            )
            resp["Body"].read()
            variant = resp.get("InvokedProductionVariant")
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", "ClientError"))
            if code == "ModelError":
                # SageMaker answers 424 and names the container's own status.
                original = err.response.get("OriginalStatusCode")
                code = f"ModelError:{original}" if original is not None else code
            error = code
            headers = err.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            variant = headers.get("x-amzn-invoked-production-variant")
        except Exception as err:  # a connection failure is an error to count, not a crash
            error = type(err).__name__
        with self._lock:
            self._sent += 1
            if error is None:
                self._ok += 1
            else:
                self._errors[error] += 1
            if variant:
                self._by_variant[variant] += 1

    def _mark_end(self) -> None:
        with self._lock:
            self._ended_at = time.monotonic()


def tabular_body(
    n_features: int = 8, shift: float = 0.0, rows: int = 1, shifted: set[int] | None = None
) -> MakeBody:
    """CSV requests of ``rows`` rows; feature i ~ Normal(mean_i + shift, 1).

    ``shift`` moves the features in ``shifted`` (default: all), which a drift check
    should flag; the means are fixed so a baseline profiled at shift 0 matches later
    traffic at shift 0.
    """
    if n_features < 1 or rows < 1:
        raise ValueError("n_features and rows must be >= 1")
    means = [
        ((i % 5) - 2) * 0.5 + (shift if shifted is None or i in shifted else 0.0)
        for i in range(n_features)
    ]

    def make(rng: random.Random) -> tuple[bytes, str]:
        lines = (",".join(f"{rng.gauss(m, 1.0):.4f}" for m in means) for _ in range(rows))
        return "\n".join(lines).encode(), "text/csv"

    return make


def tabular_rows(n: int, n_features: int = 8, seed: int = 0) -> list[list[float]]:
    """``n`` rows from the same distribution as ``tabular_body`` at shift 0: a training set."""
    rng = random.Random(seed)
    means = [((i % 5) - 2) * 0.5 for i in range(n_features)]
    return [[round(rng.gauss(m, 1.0), 4) for m in means] for _ in range(n)]
