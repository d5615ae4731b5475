"""The emulated model container: SageMaker's /ping and /invocations contract."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_guard_cli.emulator import model_server as ms

CLI = Path(__file__).resolve().parents[2] / "cli"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    full = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(CLI), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "release_guard_cli.emulator.model_server", "--port", str(port)],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ping(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("model server never answered /ping")


@pytest.fixture
def server() -> Iterator[int]:
    port = _free_port()
    proc = _spawn({"RG_EMU_LATENCY_MS": "0", "RG_EMU_MODEL_VERSION": "v7"}, port)
    try:
        _wait_ping(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def _post(
    port: int, body: bytes, content_type: str, accept: str | None = None
) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    conn.request("POST", "/invocations", body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.getheader("Content-Type") or ""


# -- the process ---------------------------------------------------------------------------


def test_ping_and_csv_invocation_over_one_kept_alive_connection(server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    conn.request("GET", "/ping")
    ping = conn.getresponse()
    assert (ping.status, ping.read()) == (200, b"")
    for _ in range(3):  # HTTP/1.1: the same connection serves every request
        conn.request(
            "POST", "/invocations", body=b"1,2,3\n0,0,0\n", headers={"Content-Type": "text/csv"}
        )
        resp = conn.getresponse()
        assert resp.status == 200
        out = json.loads(resp.read())
    assert out["model_version"] == "v7"
    assert [p["score"] for p in out["predictions"]] == [
        round(ms.score([1, 2, 3]), 6),
        round(ms.score([0, 0, 0]), 6),
    ]


def test_http_errors_of_the_process(server: int) -> None:
    status, body, ctype = _post(server, b"1,x", "text/csv")
    assert status == 400 and "row 1, column 2" in json.loads(body)["message"]
    assert ctype == "application/json"
    assert _post(server, b"1,2", "application/x-npy")[0] == 415
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 404


def test_error_rate_one_answers_500() -> None:
    port = _free_port()
    proc = _spawn({"RG_EMU_LATENCY_MS": "0", "RG_EMU_ERROR_RATE": "1"}, port)
    try:
        _wait_ping(port, proc)
        status, body, _ = _post(port, b"1,2", "text/csv")
        assert status == 500 and "RG_EMU_ERROR_RATE" in json.loads(body)["message"]
        assert _post(port, b"oops", "text/csv")[0] == 400  # bad input is still the caller's
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_bad_environment_exits_with_a_message() -> None:
    proc = _spawn({"RG_EMU_ERROR_RATE": "1.5"}, _free_port())
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert b"RG_EMU_ERROR_RATE must be between 0.0 and 1.0" in err


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its parent (init) has not reaped it


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_server_exits_when_its_parent_dies() -> None:
    # A parent that starts the server, waits until it listens, and dies, as a killed
    # emulator would.
    port = _free_port()
    launcher = f"""
import os, socket, subprocess, sys, time
p = subprocess.Popen(
    [sys.executable, "-m", "release_guard_cli.emulator.model_server", "--port", "{port}",
     "--parent-pid", str(os.getpid())],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(400):
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("the model server never listened")
print(p.pid, flush=True)
"""
    out = subprocess.run(
        [sys.executable, "-c", launcher],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(CLI)},
        stdout=subprocess.PIPE,
        timeout=20,
        check=True,
    )
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, 9)
        pytest.fail("the model server outlived its parent")


# -- the inference contract (in-process) ---------------------------------------------------


def _infer(body: str, content_type: str, accept: str | None = None) -> tuple[object, str]:
    out, ctype = ms.infer(body.encode(), content_type, accept, "v1")
    return (json.loads(out) if ctype == "application/json" else out.decode()), ctype


def test_json_shapes_give_the_same_scores_as_csv() -> None:
    rows = [[0.5, -1.0, 2.0], [3.0, 0.0, 1.0]]
    csv_out, _ = _infer("0.5,-1,2\n3,0,1", "text/csv; charset=utf-8")
    inst, _ = _infer(json.dumps({"instances": rows}), "application/json")
    feats, _ = _infer(
        json.dumps({"instances": [{"features": r} for r in rows]}), "application/json"
    )
    one, _ = _infer(json.dumps({"features": rows[0]}), "application/json")
    assert csv_out == inst == feats
    assert isinstance(csv_out, dict) and isinstance(one, dict)
    scores = [p["score"] for p in csv_out["predictions"]]
    assert one["predictions"][0]["score"] == scores[0]
    assert all(0 < s < 1 for s in scores) and scores[0] != scores[1]


def test_csv_accept_gives_one_score_a_line() -> None:
    out, ctype = _infer("1,2\n3,4", "text/csv", accept="text/csv")
    assert ctype == "text/csv"
    assert out == f"{round(ms.score([1, 2]), 6)}\n{round(ms.score([3, 4]), 6)}\n"


def test_text_generation_is_deterministic_and_bounded() -> None:
    req = {"inputs": "What is a canary release?", "parameters": {"max_new_tokens": 4}}
    first, ctype = _infer(json.dumps(req), "application/json")
    again, _ = _infer(json.dumps(req), "application/json")
    other, _ = _infer(json.dumps({"inputs": "Something else entirely"}), "application/json")
    assert ctype == "application/json" and first == again != other
    assert isinstance(first, list) and first[0]["model_version"] == "v1"
    assert 1 <= len(first[0]["generated_text"].split()) <= 4
    batch, _ = _infer(json.dumps({"inputs": ["a", "b"]}), "application/json")
    assert isinstance(batch, list) and len(batch) == 2


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("", "text/csv", "no rows"),
        ("1,2\n3", "text/csv", "row 2 has 1 features"),
        ("1,nan", "text/csv", "not finite"),
        ("{", "application/json", "not valid JSON"),
        ("[1, 2]", "application/json", "must be an object"),
        ('{"rows": []}', "application/json", 'one of "instances"'),
        ('{"instances": [[1, "a"]]}', "application/json", '"instances"[0][1]'),
        ('{"instances": []}', "application/json", "non-empty list"),
        ('{"features": [true]}', "application/json", '"features"[0]'),
        ('{"inputs": 3}', "application/json", '"inputs" must be a string'),
        ('{"inputs": "x", "parameters": {"max_new_tokens": 0}}', "application/json", "positive"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(body: str, content_type: str, message: str) -> None:
    with pytest.raises(ms.BadInput) as err:
        ms.infer(body.encode(), content_type, None, "v1")
    assert err.value.status == 400
    assert message in str(err.value)


def test_unsupported_types_are_415_and_406() -> None:
    with pytest.raises(ms.BadInput) as err:
        ms.infer(b"x", "application/x-image", None, "v1")
    assert err.value.status == 415
    with pytest.raises(ms.BadInput) as err:
        ms.infer(b"1,2", "text/csv", "application/x-protobuf", "v1")
    assert err.value.status == 406


def test_error_rate_and_latency_draws_follow_the_environment() -> None:
    env = {"RG_EMU_ERROR_RATE": "0.25", "RG_EMU_LATENCY_MS": "40", "RG_EMU_SEED": "11"}
    model = ms.Model(ms.Settings.from_env(env))
    draws = [model.draw() for _ in range(4000)]
    failures = sum(fail for _, fail in draws)
    # Binomial(4000, 0.25): sd 27; 5 sd either side.
    assert abs(failures - 1000) < 5 * 27.4
    latencies = sorted(lat for lat, _ in draws)
    assert latencies[len(latencies) // 2] == pytest.approx(0.040, rel=0.05)  # the median
    assert ms.Model(ms.Settings.from_env(env)).draw() == draws[0]  # seeded


def test_settings_defaults_and_validation() -> None:
    s = ms.Settings.from_env({})
    assert (s.error_rate, s.latency_ms, s.latency_sigma, s.model_version, s.seed) == (
        0.0,
        20.0,
        0.3,
        "unversioned",
        None,
    )
    with pytest.raises(ValueError, match="RG_EMU_LATENCY_MS must be a number"):
        ms.Settings.from_env({"RG_EMU_LATENCY_MS": "fast"})
    with pytest.raises(ValueError, match="RG_EMU_SEED must be an integer"):
        ms.Settings.from_env({"RG_EMU_SEED": "x"})
