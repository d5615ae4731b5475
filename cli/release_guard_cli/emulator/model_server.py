"""A tiny model server speaking the SageMaker container contract, for the emulated account.

    python -m release_guard_cli.emulator.model_server --port N [--parent-pid P]

``GET /ping`` answers 200 once the server listens; ``POST /invocations`` runs inference.
Standard library only, so a variant's process starts in well under a second. The server
exits within half a second of its parent's death (``--parent-pid``, which the data plane
always passes: a parent that dies before the child starts would otherwise go unnoticed).

Behaviour comes from the SageMaker Model's ``Environment``, passed as process environment:

- ``RG_EMU_ERROR_RATE``   probability of answering 500 (default 0)
- ``RG_EMU_LATENCY_MS``   median latency in ms (default 20); latency is lognormal
- ``RG_EMU_LATENCY_SIGMA`` lognormal sigma (default 0.3)
- ``RG_EMU_MODEL_VERSION`` string echoed in every output (default "unversioned"); with a
  prompt version (``RG_PROMPT_NAME``, ``RG_PROMPT_VERSION``: docs/manifests.md) it reads
  ``<version>+<prompt name>/v<N>``, so a prompt release is visible in the outputs
- ``RG_EMU_SEED``         seed of the error and latency draws (default: random)

Inputs: ``text/csv`` (one or more rows of numbers) or ``application/json``:
``{"instances": [[...], ...]}`` (rows, or ``{"features": [...]}`` objects),
``{"features": [...]}``, or TGI-style ``{"inputs": "text" | [...], "parameters": {...}}``.
Numbers give ``{"predictions": [{"score": s}, ...], "model_version": v}`` with ``s`` a
logistic of a fixed weighted sum (``Accept: text/csv`` gives one score a line); text gives
``[{"generated_text": "...", "model_version": v}]``, deterministic in the prompt.
Bad input is a 400 with a message; an unsupported content type a 415.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_VOCAB = (
    "the model suggests a careful answer based on recent data and the release policy with "
    "canary traffic latency drift checks promote rollback champion candidate"
)
_MAX_BODY = 6 * 1024 * 1024  # SageMaker's real-time payload limit
EXIT_CANNOT_LISTEN = 3  # the data plane retries on another port


class BadInput(ValueError):
    """The request cannot be served; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Settings:
    error_rate: float
    latency_ms: float
    latency_sigma: float
    model_version: str
    seed: int | None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env

        def number(name: str, default: float, lo: float, hi: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
            return value

        seed_raw = env.get("RG_EMU_SEED", "").strip()
        try:
            seed = int(seed_raw) if seed_raw else None
        except ValueError:
            raise ValueError(f"RG_EMU_SEED must be an integer, got {seed_raw!r}") from None
        return cls(
            error_rate=number("RG_EMU_ERROR_RATE", 0.0, 0.0, 1.0),
            latency_ms=number("RG_EMU_LATENCY_MS", 20.0, 0.0, 600_000.0),
            latency_sigma=number("RG_EMU_LATENCY_SIGMA", 0.3, 0.0, 10.0),
            model_version=version_label(env),
            seed=seed,
        )


def version_label(env: dict[str, str]) -> str:
    """The model version the outputs echo, with the prompt version when one is set."""
    version = env.get("RG_EMU_MODEL_VERSION", "unversioned")
    prompt = env.get("RG_PROMPT_VERSION", "").strip()
    if prompt:
        version += f"+{env.get('RG_PROMPT_NAME', 'prompt')}/v{prompt}"
    return version


def feature_weight(i: int) -> float:
    """Fixed weight of feature ``i``: the same for every model version, so scores depend on
    the inputs only (drift in inputs shows up as drift in predictions)."""
    return math.sin(1.7 * (i + 1))


def score(row: list[float]) -> float:
    z = sum(feature_weight(i) * x for i, x in enumerate(row)) / math.sqrt(len(row)) - 0.1
    z = max(-60.0, min(60.0, z))
    return 1.0 / (1.0 + math.exp(-z))


def generate_text(prompt: str, max_new_tokens: int) -> str:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    n = max(1, min(max_new_tokens, 6 + digest[0] % 7))
    words = _VOCAB.split(" ")
    return " ".join(words[digest[i + 1] % len(words)] for i in range(n))


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _row(values: Any, where: str) -> list[float]:
    if not isinstance(values, list) or not values:
        raise BadInput(f"{where} must be a non-empty list of numbers")
    row = []
    for j, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BadInput(f"{where}[{j}] must be a finite number, got {v!r}")
        row.append(float(v))
    return row


def parse_csv(text: str) -> list[list[float]]:
    rows: list[list[float]] = []
    for n, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        row = []
        for j, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                raise BadInput(
                    f"CSV row {n}, column {j}: {field.strip()!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise BadInput(f"CSV row {n}, column {j}: {field.strip()!r} is not finite")
            row.append(value)
        rows.append(row)
    if not rows:
        raise BadInput("CSV body has no rows")
    return rows


def parse_json(data: Any) -> list[list[float]] | tuple[list[str], int]:
    """Rows of numbers, or (prompts, max_new_tokens) for a TGI-style request."""
    if not isinstance(data, dict):
        raise BadInput(
            'JSON body must be an object: {"instances": ...}, {"features": ...} or {"inputs": ...}'
        )
    if "instances" in data:
        instances = data["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadInput('"instances" must be a non-empty list')
        rows = []
        for i, inst in enumerate(instances):
            if isinstance(inst, dict):
                rows.append(_row(inst.get("features"), f'"instances"[{i}]["features"]'))
            else:
                rows.append(_row(inst, f'"instances"[{i}]'))
        return rows
    if "features" in data:
        return [_row(data["features"], '"features"')]
    if "inputs" in data:
        inputs = data["inputs"]
        prompts = [inputs] if isinstance(inputs, str) else inputs
        if (
            not isinstance(prompts, list)
            or not prompts
            or not all(isinstance(p, str) for p in prompts)
        ):
            raise BadInput('"inputs" must be a string or a non-empty list of strings')
        params = data.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadInput('"parameters" must be an object')
        max_new = params.get("max_new_tokens", 20)
        if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
            raise BadInput('"parameters"["max_new_tokens"] must be a positive integer')
        return prompts, max_new
    raise BadInput('JSON body needs one of "instances", "features" or "inputs"')


def infer(
    body: bytes, content_type: str | None, accept: str | None, version: str
) -> tuple[bytes, str]:
    """(response body, response content type) for a request; raises BadInput."""
    media = _media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("body is not UTF-8 text") from None
    parsed: list[list[float]] | tuple[list[str], int]
    if media == "text/csv":
        parsed = parse_csv(text)
    elif media == "application/json":
        try:
            parsed = parse_json(json.loads(text))
        except json.JSONDecodeError as err:
            raise BadInput(f"body is not valid JSON: {err.msg} at line {err.lineno}") from None
    else:
        raise BadInput(
            f"unsupported content type {content_type!r}: use text/csv or application/json", 415
        )
    want = _media_type(accept)
    if isinstance(parsed, tuple):
        if want not in ("", "*/*", "application/json"):
            raise BadInput(f"cannot produce {accept!r} for text generation", 406)
        prompts, max_new = parsed
        out = [
            {"generated_text": generate_text(p, max_new), "model_version": version} for p in prompts
        ]
        return json.dumps(out).encode(), "application/json"
    width = len(parsed[0])
    for n, row in enumerate(parsed, start=1):
        if len(row) != width:
            raise BadInput(f"row {n} has {len(row)} features, row 1 has {width}")
    scores = [round(score(row), 6) for row in parsed]
    if want == "text/csv":
        return "".join(f"{s}\n" for s in scores).encode(), "text/csv"
    if want not in ("", "*/*", "application/json"):
        raise BadInput(f"unsupported accept type {accept!r}: use application/json or text/csv", 406)
    payload = {"predictions": [{"score": s} for s in scores], "model_version": version}
    return json.dumps(payload).encode(), "application/json"


class Model:
    """Error and latency draws (thread-safe) around ``infer``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._lock = threading.Lock()

    def draw(self) -> tuple[float, bool]:
        """(latency in seconds, whether to fail with a 500)."""
        s = self.settings
        with self._lock:
            z = self._rng.gauss(0.0, 1.0)
            fail = self._rng.random() < s.error_rate
        latency = s.latency_ms / 1000.0 * math.exp(s.latency_sigma * z) if s.latency_ms else 0.0
        return latency, fail

    def handle(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[int, bytes, str]:
        latency, fail = self.draw()
        try:
            out, out_type = infer(body, content_type, accept, self.settings.model_version)
            status = 200
        except BadInput as err:
            status, out_type = err.status, "application/json"
            out = json.dumps({"message": str(err)}).encode()
        if status == 200 and fail:
            status, out_type = 500, "application/json"
            out = json.dumps({"message": "injected model error (RG_EMU_ERROR_RATE)"}).encode()
        if latency > 0:
            time.sleep(latency)
        return status, out, out_type


def make_handler(model: Model) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections alive, so the data plane does not pay a TCP set-up
        # and a server thread per request.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms a request on Linux).
        disable_nagle_algorithm = True
        server_version = "release-guard-emulated-model/1"

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._reply(200, b"", "text/plain")
            else:
                self._reply(404, b'{"message": "not found"}', "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self.close_connection = True
                self._reply(413, b'{"message": "payload larger than 6 MB"}', "application/json")
                return
            body = self.rfile.read(length) if length else b""
            if self.path != "/invocations":
                self._reply(404, b'{"message": "not found"}', "application/json")
                return
            status, out, out_type = model.handle(
                body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
            self._reply(status, out, out_type)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # thousands of requests a release: the log keeps start-up and errors only

    return Handler


def _exit_with_parent(parent: int) -> None:
    # A model server must not outlive the emulator, even one killed with SIGKILL.
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit when this process is gone"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as err:
        print(f"model server: bad environment: {err}", file=sys.stderr)
        return 2
    parent = args.parent_pid or os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        server = ThreadingHTTPServer((args.host, args.port), make_handler(Model(settings)))
    except OSError as err:
        print(f"model server: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    server.daemon_threads = True
    print(
        f"model server {settings.model_version} on {args.host}:{server.server_port} "
        f"(error rate {settings.error_rate}, median latency {settings.latency_ms} ms)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
