"""The emulated SageMaker data plane: model processes, routing, metrics and Data Capture.

One ``model_server`` process per running production variant. ``invoke`` routes a request
by the variants' weights (or ``TargetVariant``), forwards it over HTTP, then does what
SageMaker does after every request:

- publishes ``AWS/SageMaker`` metrics with dimensions EndpointName + VariantName, written
  straight into moto's CloudWatch backend (``invoke`` runs inside a moto request, so a
  boto3 call would re-enter moto). Requests are aggregated per variant per second into
  Values/Counts arrays, which ``cloudwatch_percentiles`` stores compactly and computes
  percentiles from, so p95 is the p95 of the real per-request latencies;
- writes sampled requests as Data Capture JSON Lines into moto's S3 backend, in
  SageMaker's layout ``{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/
  {mm}-{ss}-{mmm}-{uuid}.jsonl`` (UTC), one object per variant per flush.

A background thread flushes completed seconds of metrics and capture batches that are
``CAPTURE_FLUSH_S`` old or ``CAPTURE_MAX_RECORDS`` long; ``flush()`` writes everything now.

Choices where SageMaker is not documented:

- only 2xx responses are captured (an error body is not a prediction);
- a container that cannot be reached answers 502, one that exceeds SageMaker's 60 s
  invocation timeout 504; both count as Invocation5XXErrors, neither as ModelLatency;
- content types match the capture lists by media type, case-insensitively
  (``text/csv; charset=utf-8`` is CSV when ``text/csv`` is listed).
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import logging
import math
import os
import pathlib
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition
from release_guard_cli.emulator import cloudwatch_percentiles
from release_guard_cli.emulator.model_server import EXIT_CANNOT_LISTEN

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"
PING_TIMEOUT_S = 20.0
INVOKE_TIMEOUT_S = 60.0  # SageMaker's real-time invocation timeout
CAPTURE_FLUSH_S = 2.0
CAPTURE_MAX_RECORDS = 1000
_TICK_S = 0.5
_MAX_IDLE_CONNECTIONS = 64
_SERVER = pathlib.Path(__file__).with_name("model_server.py")
_CHILD_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class InvokeResult:
    status: int  # HTTP status the model returned (200, 400, 500, ...)
    body: bytes
    content_type: str
    variant: str  # the production variant that served it
    model_latency_us: int


class ModelServerError(RuntimeError):
    """A variant's model server did not start (the message names the variant and its log)."""


@dataclass(frozen=True)
class CapturePlan:
    """A DataCaptureConfig (as passed to CreateEndpointConfig), validated."""

    bucket: str
    prefix: str
    percent: float
    inputs: bool
    outputs: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def parse(cls, capture: dict[str, Any] | None) -> CapturePlan | None:
        """None when capture is absent or disabled; ValueError names a bad field."""
        # EnableCapture is optional in the API and defaults to enabled. Values may be
        # strings when the config came through a CloudFormation parameter.
        if not capture or str(capture.get("EnableCapture", True)).lower() in ("false", "0"):
            return None
        uri = str(capture.get("DestinationS3Uri", ""))
        match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri)
        if not match:
            raise ValueError(
                f"DataCaptureConfig.DestinationS3Uri must look like s3://bucket/prefix, got {uri!r}"
            )
        raw: Any = capture.get("InitialSamplingPercentage")
        try:
            percent = float(raw)
        except (TypeError, ValueError):
            percent = math.nan
        if isinstance(raw, bool) or not 0 <= percent <= 100:
            raise ValueError(
                "DataCaptureConfig.InitialSamplingPercentage must be a number from 0 to 100, "
                f"got {raw!r}"
            )
        modes = {str(o.get("CaptureMode")) for o in capture.get("CaptureOptions") or []}
        unknown = modes - {"Input", "Output", "InputAndOutput"}
        if not modes or unknown:
            raise ValueError(
                "DataCaptureConfig.CaptureOptions must list CaptureMode Input, Output or "
                f"InputAndOutput, got {sorted(modes)}"
            )
        header = capture.get("CaptureContentTypeHeader") or {}
        return cls(
            bucket=match.group(1),
            prefix=match.group(2).strip("/"),
            percent=percent,
            inputs=bool(modes & {"Input", "InputAndOutput"}),
            outputs=bool(modes & {"Output", "InputAndOutput"}),
            # With no header SageMaker base64-encodes everything (CaptureContentTypeHeader
            # API reference); text/csv and application/json are SageMaker Python SDK
            # defaults, not API defaults.
            csv_types=frozenset(_media(t) for t in header.get("CsvContentTypes") or []),
            json_types=frozenset(_media(t) for t in header.get("JsonContentTypes") or []),
        )

    def encode(self, data: bytes, content_type: str) -> tuple[str, str]:
        """(encoding, data) as SageMaker writes them: CSV or JSON text, else BASE64."""
        media = _media(content_type)
        encoding = (
            "CSV" if media in self.csv_types else "JSON" if media in self.json_types else "BASE64"
        )
        if encoding != "BASE64":
            try:
                return encoding, data.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return "BASE64", base64.b64encode(data).decode("ascii")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass
class _Variant:
    endpoint: str
    name: str
    environment: dict[str, str]
    instances: int
    port: int
    proc: subprocess.Popen[bytes]
    log_path: pathlib.Path
    log_file: IO[bytes]
    idle: list[http.client.HTTPConnection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Second:
    """One variant's requests in one second, as SageMaker's per-request values."""

    invocations: int = 0
    e4: int = 0
    e5: int = 0
    per_instance: Counter[float] = field(default_factory=Counter)
    model_us: Counter[int] = field(default_factory=Counter)
    overhead_us: Counter[int] = field(default_factory=Counter)


@dataclass
class _Batch:
    first: datetime
    lines: list[str] = field(default_factory=list)


_CaptureKey = tuple[str, str, str, str, str]  # bucket, prefix, endpoint, variant, yyyy/mm/dd/hh


class DataPlane:
    def __init__(
        self, account_id: str, region: str, log_dir: pathlib.Path, seed: int | None = None
    ) -> None:
        cloudwatch_percentiles.install()
        self.account_id = account_id
        self.region = region
        self.log_dir = pathlib.Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._rng = random.Random(seed)  # routing and capture sampling
        self._lock = threading.Lock()  # variants and the RNG
        self._start_lock = threading.Lock()  # one process start at a time
        self._variants: dict[str, dict[str, _Variant]] = {}
        self._buf_lock = threading.Lock()  # metric and capture buffers
        self._seconds: dict[tuple[str, str, int], _Second] = {}
        self._batches: dict[_CaptureKey, _Batch] = {}
        self._missing_buckets: set[str] = set()
        self._flusher: threading.Thread | None = None
        self._flusher_stop = threading.Event()
        _LIVE.add(self)

    # -- processes ---------------------------------------------------------------------

    def start_variant(
        self, endpoint: str, variant: str, environment: dict[str, str], instances: int = 1
    ) -> None:
        """Idempotent. A running variant with a different environment is restarted, as an
        UpdateEndpoint that changes a variant's model replaces its instances."""
        if instances < 1:
            raise ValueError(f"instances must be at least 1, got {instances}")
        env = {str(k): str(v) for k, v in environment.items()}
        with self._start_lock:
            with self._lock:
                current = self._variants.get(endpoint, {}).get(variant)
            alive = current is not None and current.proc.poll() is None
            if alive and current is not None and current.environment == env:
                current.instances = instances
                return
            if current is not None:
                self.stop_variant(endpoint, variant)
            started = self._spawn(endpoint, variant, env, instances)
            with self._lock:
                self._variants.setdefault(endpoint, {})[variant] = started
        self._ensure_flusher()

    def stop_variant(self, endpoint: str, variant: str) -> None:
        """Idempotent."""
        with self._lock:
            found = self._variants.get(endpoint, {}).pop(variant, None)
            if endpoint in self._variants and not self._variants[endpoint]:
                del self._variants[endpoint]
        if found is not None:
            _terminate(found)

    def stop_all(self) -> None:
        """Stop every model server, then write out all buffered metrics and capture."""
        with self._lock:
            found = [v for by_name in self._variants.values() for v in by_name.values()]
            self._variants.clear()
        for v in found:
            _terminate(v)
        self._stop_flusher()
        self.flush()

    def running(self, endpoint: str) -> list[str]:
        """The endpoint's started variants whose model server is alive, sorted. A server
        that died stays routable and answers 502, as a crashed container fails requests."""
        with self._lock:
            by_name = dict(self._variants.get(endpoint, {}))
        return sorted(name for name, v in by_name.items() if v.proc.poll() is None)

    def _spawn(self, endpoint: str, variant: str, env: dict[str, str], instances: int) -> _Variant:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{endpoint}.{variant}")
        log_path = self.log_dir / f"model-{safe}.log"
        child_env = {k: os.environ[k] for k in _CHILD_ENV_KEEP if k in os.environ}
        child_env.update(env)
        for _ in range(3):  # a free port can be taken between probing and binding
            port = _free_port()
            log_file = log_path.open("ab")
            # -I: the script's folder (this package) must not shadow the standard library
            # and the parent's PYTHON* settings must not leak in; -u keeps the log live.
            cmd = [
                sys.executable,
                "-I",
                "-u",
                str(_SERVER),
                "--port",
                str(port),
                "--parent-pid",
                str(os.getpid()),
            ]
            proc = subprocess.Popen(
                cmd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
            started = _Variant(endpoint, variant, env, instances, port, proc, log_path, log_file)
            rc = _wait_ready(started)
            if rc is None:
                log.info("model server %s/%s on port %d", endpoint, variant, port)
                return started
            log_file.close()
            if rc != EXIT_CANNOT_LISTEN:
                raise ModelServerError(
                    f"model server for {endpoint}/{variant} exited with code {rc} before "
                    f"answering GET /ping; its log is {log_path}:\n{_tail(log_path)}"
                )
        raise ModelServerError(
            f"model server for {endpoint}/{variant} found no free port in 3 tries; "
            f"its log is {log_path}"
        )

    # -- requests ----------------------------------------------------------------------

    def invoke(
        self,
        endpoint: str,
        weights: dict[str, float],
        body: bytes,
        content_type: str,
        accept: str | None,
        target_variant: str | None,
        capture: dict[str, Any] | None,
        inference_id: str | None = None,
    ) -> InvokeResult:
        """Route, forward, publish metrics and capture. ValueError when no variant can
        serve (unknown or stopped TargetVariant, no running variant with weight > 0) or the
        capture config is invalid; the model's own errors are results, not exceptions."""
        t0 = time.perf_counter_ns()
        plan = CapturePlan.parse(capture)
        variant = self._route(endpoint, weights, target_variant)
        status, out, out_type, model_us, from_model = _forward(variant, body, content_type, accept)
        now = datetime.now(UTC)
        if plan is not None and 200 <= status < 300 and self._sampled(plan.percent):
            self._capture(plan, variant, now, body, content_type, out, out_type, inference_id)
        overhead_us = max(0, (time.perf_counter_ns() - t0) // 1000 - model_us)
        with self._buf_lock:
            key = (endpoint, variant.name, int(now.timestamp()))
            sec = self._seconds.get(key)
            if sec is None:
                sec = self._seconds[key] = _Second()
            sec.invocations += 1
            sec.e4 += 400 <= status < 500
            sec.e5 += status >= 500
            sec.per_instance[1.0 / variant.instances] += 1
            if from_model:
                sec.model_us[model_us] += 1
            sec.overhead_us[overhead_us] += 1
        return InvokeResult(status, out, out_type, variant.name, model_us)

    def _route(
        self, endpoint: str, weights: dict[str, float], target_variant: str | None
    ) -> _Variant:
        with self._lock:
            running = self._variants.get(endpoint, {})
            if target_variant is not None:
                found = running.get(target_variant)
                if found is None:
                    raise ValueError(
                        f"TargetVariant {target_variant!r} is not a running variant of endpoint "
                        f"{endpoint!r} (running: {sorted(running) or 'none'})"
                    )
                return found
            live = [
                (running[name], float(w))
                for name, w in weights.items()
                if name in running and math.isfinite(w) and w > 0
            ]
            if not live:
                raise ValueError(
                    f"endpoint {endpoint!r} has no running variant with weight > 0 "
                    f"(weights {weights}, running {sorted(running) or 'none'})"
                )
            x = self._rng.random() * sum(w for _, w in live)
        for v, w in live:
            x -= w
            if x < 0:
                return v
        return live[-1][0]

    def _sampled(self, percent: float) -> bool:
        if percent >= 100:
            return True
        with self._lock:
            return self._rng.random() * 100 < percent

    def _capture(
        self,
        plan: CapturePlan,
        variant: _Variant,
        when: datetime,
        body: bytes,
        content_type: str,
        out: bytes,
        out_type: str,
        inference_id: str | None,
    ) -> None:
        data: dict[str, Any] = {}
        if plan.inputs:
            enc, text = plan.encode(body, content_type)
            data["endpointInput"] = {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": text,
                "encoding": enc,
            }
        if plan.outputs:
            enc, text = plan.encode(out, out_type)
            data["endpointOutput"] = {
                "observedContentType": out_type,
                "mode": "OUTPUT",
                "data": text,
                "encoding": enc,
            }
        meta = {"eventId": str(uuid.uuid4())}
        if inference_id is not None:
            meta["inferenceId"] = inference_id
        meta["inferenceTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        line = json.dumps(
            {"captureData": data, "eventMetadata": meta, "eventVersion": "0"},
            separators=(",", ":"),
        )
        key = (plan.bucket, plan.prefix, variant.endpoint, variant.name, f"{when:%Y/%m/%d/%H}")
        with self._buf_lock:
            batch = self._batches.get(key)
            if batch is None:
                batch = self._batches[key] = _Batch(first=when)
            batch.lines.append(line)

    # -- flushing ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write all buffered metrics and capture records now."""
        self._flush(force=True)

    def _flush(self, force: bool) -> None:
        now = time.time()
        with self._buf_lock:
            # Metrics: completed seconds only, so each second is one datum per metric.
            seconds = [k for k in self._seconds if force or k[2] < int(now)]
            metric_items = [(k, self._seconds.pop(k)) for k in seconds]
            due = [
                k
                for k, b in self._batches.items()
                if force
                or len(b.lines) >= CAPTURE_MAX_RECORDS
                or now - b.first.timestamp() >= CAPTURE_FLUSH_S
            ]
            batches = [(k, self._batches.pop(k)) for k in due]
        if metric_items:
            self._put_metrics(metric_items)
        for key, batch in batches:
            self._put_capture(key, batch)

    def _put_metrics(self, items: list[tuple[tuple[str, str, int], _Second]]) -> None:
        data: list[dict[str, Any]] = []
        for (endpoint, variant, second), sec in items:
            dims = [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ]
            ts = datetime.fromtimestamp(second, UTC).replace(tzinfo=None)  # moto: naive UTC

            n = sec.invocations
            # SageMaker sends 1 per request, and 1 or 0 per request for the error metrics,
            # so Average of Invocation5XXErrors is the error rate.
            data.append(_member(dims, ts, "Invocations", Counter({1: n}), "None"))
            data.append(
                _member(
                    dims, ts, "Invocation4XXErrors", Counter({0: n - sec.e4, 1: sec.e4}), "None"
                )
            )
            data.append(
                _member(
                    dims, ts, "Invocation5XXErrors", Counter({0: n - sec.e5, 1: sec.e5}), "None"
                )
            )
            data.append(_member(dims, ts, "InvocationsPerInstance", sec.per_instance, "None"))
            if sec.model_us:
                data.append(_member(dims, ts, "ModelLatency", sec.model_us, "Microseconds"))
            data.append(_member(dims, ts, "OverheadLatency", sec.overhead_us, "Microseconds"))
        try:
            cloudwatch_backends[self.account_id][self.region].put_metric_data(NAMESPACE, data)
        except Exception:  # the flusher must survive a moto reset or a bad datum
            log.exception("could not write %d SageMaker metric data to CloudWatch", len(data))

    def _put_capture(self, key: _CaptureKey, batch: _Batch) -> None:
        bucket, prefix, endpoint, variant, hour = key
        first = batch.first
        name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        s3_key = "/".join(p for p in (prefix, endpoint, variant, hour, name) if p)
        s3 = s3_backends[self.account_id][get_partition(self.region)]
        if bucket not in s3.buckets:
            if bucket not in self._missing_buckets:
                self._missing_buckets.add(bucket)
                log.error("Data Capture bucket %s does not exist; records dropped", bucket)
            return
        body = "".join(line + "\n" for line in batch.lines).encode("utf-8")
        try:
            s3.put_object(bucket, s3_key, body)
        except Exception:
            log.exception("could not write Data Capture object s3://%s/%s", bucket, s3_key)

    def _ensure_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            stop = threading.Event()
            self._flusher_stop = stop
            self._flusher = threading.Thread(
                target=self._run_flusher, args=(stop,), name="dataplane-flush", daemon=True
            )
            self._flusher.start()

    def _run_flusher(self, stop: threading.Event) -> None:
        while not stop.wait(_TICK_S):
            try:
                self._flush(force=False)
            except Exception:
                log.exception("data plane flush failed")

    def _stop_flusher(self) -> None:
        with self._lock:
            thread, self._flusher = self._flusher, None
            self._flusher_stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _kill_children(self) -> None:
        with self._lock:
            found = [v for by_name in self._variants.values() for v in by_name.values()]
        for v in found:
            _terminate(v)


def _forward(
    variant: _Variant, body: bytes, content_type: str, accept: str | None
) -> tuple[int, bytes, str, int, bool]:
    """(status, body, content type, latency in µs, whether the container answered)."""
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    if accept:
        headers["Accept"] = accept
    with variant.lock:
        conn = variant.idle.pop() if variant.idle else None
    reused = conn is not None
    for _ in range(2):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", variant.port, timeout=INVOKE_TIMEOUT_S)
        start = time.perf_counter_ns()
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            resp = conn.getresponse()
            out = resp.read()
        except TimeoutError:
            conn.close()
            elapsed = (time.perf_counter_ns() - start) // 1000
            msg = f"model server of {variant.name} did not answer within {INVOKE_TIMEOUT_S:.0f} s"
            return 504, _message(msg), "application/json", elapsed, False
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            conn = None
            if reused:  # a kept-alive connection the server closed: retry once on a new one
                reused = False
                continue
            elapsed = (time.perf_counter_ns() - start) // 1000
            msg = f"model server of {variant.name} unreachable: {type(err).__name__}: {err}"
            return 502, _message(msg), "application/json", elapsed, False
        elapsed = (time.perf_counter_ns() - start) // 1000
        out_type = resp.getheader("Content-Type") or "application/octet-stream"
        if resp.will_close:
            conn.close()
        else:
            with variant.lock:
                if len(variant.idle) < _MAX_IDLE_CONNECTIONS:
                    variant.idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()
        return resp.status, out, out_type, elapsed, True
    raise AssertionError("unreachable")


def _member(
    dims: list[dict[str, str]], ts: datetime, name: str, counts: Counter[Any], unit: str
) -> dict[str, Any]:
    pairs = sorted((float(v), float(c)) for v, c in counts.items() if c > 0)
    return {
        "MetricName": name,
        "Dimensions": dims,
        "Timestamp": ts,
        "Unit": unit,
        "Values": [v for v, _ in pairs],
        "Counts": [c for _, c in pairs],
    }


def _message(text: str) -> bytes:
    return json.dumps({"message": text}).encode()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(v: _Variant) -> int | None:
    """None once GET /ping answers 200; the exit code if the process died first."""
    deadline = time.monotonic() + PING_TIMEOUT_S
    while True:
        rc = v.proc.poll()
        if rc is not None:
            return rc
        conn = http.client.HTTPConnection("127.0.0.1", v.port, timeout=1.0)
        try:
            conn.request("GET", "/ping")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return None
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            _terminate(v)
            raise ModelServerError(
                f"model server for {v.endpoint}/{v.name} did not answer GET /ping with 200 "
                f"within {PING_TIMEOUT_S:.0f} s; its log is {v.log_path}:\n{_tail(v.log_path)}"
            )
        time.sleep(0.02)


def _terminate(v: _Variant) -> None:
    with v.lock:
        idle, v.idle = v.idle, []
    for conn in idle:
        conn.close()
    if v.proc.poll() is None:
        v.proc.terminate()
        try:
            v.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            v.proc.kill()
            v.proc.wait(timeout=3)
    v.log_file.close()


def _tail(path: pathlib.Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# Every live DataPlane, so the interpreter never exits leaving model servers behind (they
# also exit by themselves within a second of their parent's death).
_LIVE: weakref.WeakSet[DataPlane] = weakref.WeakSet()


@atexit.register
def _kill_all_children() -> None:
    for dp in list(_LIVE):
        try:
            dp._kill_children()
        except Exception:
            log.exception("could not stop model servers at exit")
