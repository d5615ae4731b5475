"""Data Capture parsing at scale: 200,000 records, 50 numeric CSV features each.

Builds one capture file in the SageMaker Data Capture format (seeded: one JSON line per
inference, a CSV input body of 50 numbers rounded to 4 decimals, a CSV output of one
score, event ids and times), then times, run by run,

  pipeline  capture.parse_lines (the file's bytes -> records) + extract.extract
            (records -> Columns, the input's 50 numeric features): what a drift check
            spends per file before summarising
  floor     the least any reader must do, in the same run: one msgspec pass over the
            lines into structs of the capture shape (``decode_lines``, the documented
            fields typed, nothing else built, the structs freed once read) plus one
            float parse of the input payloads (``np.loadtxt`` of all the bodies, as
            extract calls it)

and prints each phase's median wall and CPU time, and the pipeline / floor ratio of
each run (the two alternate within a run, so a change in the machine's speed hits
both), with its median. The target (issue 12) is a median ratio of at most 1.5. The
phases run with the cyclic garbage collector paused, as the code does. The file is
built once, untimed.

    .venv/bin/python bench/capture_parse.py              # 200k records, 5 runs
    .venv/bin/python bench/capture_parse.py --records 20000 --runs 5

Whole processes (each one reads the file, runs one phase and exits; both import the
same modules), for an outside timer:

    .venv/bin/python bench/capture_parse.py --write /tmp/capture.jsonl
    .venv/bin/python bench/capture_parse.py --read /tmp/capture.jsonl --only pipeline
    .venv/bin/python bench/capture_parse.py --read /tmp/capture.jsonl --only floor
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))

from release_guard.drift.capture import no_gc, parse_lines  # noqa: E402
from release_guard.drift.columns import Quality  # noqa: E402
from release_guard.drift.extract import extract  # noqa: E402
from release_guard.policy import FeatureSpec, PayloadSchema  # noqa: E402


# The floor's structs: the documented capture line, each field typed, no extra checks.
class _Body(msgspec.Struct, gc=False):
    observedContentType: str
    mode: str
    data: str
    encoding: str


class _Data(msgspec.Struct, gc=False):
    endpointInput: _Body | None = None
    endpointOutput: _Body | None = None


class _Meta(msgspec.Struct, gc=False):
    eventId: str
    inferenceTime: str
    inferenceId: str | None = None


class _Line(msgspec.Struct, gc=False):
    captureData: _Data
    eventMetadata: _Meta
    eventVersion: str


FLOOR_DECODER = msgspec.json.Decoder(_Line)


def capture_file(records: int, features: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 100, size=features)
    values = (rng.normal(size=(records, features)) * scale).round(4)
    scores = rng.uniform(size=records).round(6)
    ids = rng.integers(0, 2**63, size=(records, 2), dtype=np.int64)
    lines = []
    for i, (row, score) in enumerate(zip(values.tolist(), scores.tolist(), strict=True)):
        event_id = str(uuid.UUID(int=(int(ids[i, 0]) << 64) | int(ids[i, 1]), version=4))
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": ",".join(map(repr, row)),
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": repr(score),
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": event_id,
                "inferenceTime": f"2026-11-22T10:{i * 60 // records:02d}:00Z",
            },
            "eventVersion": "0",
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def pipeline(blob: bytes, schema: PayloadSchema) -> tuple[Any, Quality]:
    quality = Quality()
    records = parse_lines(blob, quality)
    return extract(records, schema, quality), quality


def floor(blob: bytes) -> tuple[np.ndarray, list[str]]:
    """The table and the bodies: like the pipeline, which keeps the bodies (in its
    records) and frees the structs it decoded, the floor frees its structs in time."""
    lines = FLOOR_DECODER.decode_lines(blob)
    bodies = [line.captureData.endpointInput.data for line in lines]  # type: ignore[union-attr]
    del lines
    table = np.loadtxt(bodies, delimiter=",", comments=None, quotechar=None, ndmin=2)
    return table, bodies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", type=Path, help="write the capture file here and exit")
    parser.add_argument("--read", type=Path, help="read the capture file instead of building it")
    parser.add_argument("--only", choices=("pipeline", "floor"), help="one phase, once (--read)")
    args = parser.parse_args()

    blob = (
        args.read.read_bytes()
        if args.read
        else capture_file(args.records, args.features, args.seed)
    )
    if args.write:
        args.write.write_bytes(blob)
        print(f"wrote {args.write} ({len(blob):,} bytes)")
        return 0
    first = blob[: blob.index(b"\n")]
    width = len(json.loads(first)["captureData"]["endpointInput"]["data"].split(","))
    schema = PayloadSchema(features=[FeatureSpec(name=f"f{i:02d}") for i in range(width)])
    if args.only:
        with no_gc():
            if args.only == "pipeline":
                columns, _ = pipeline(blob, schema)
                rows = columns.rows["input"]
            else:
                rows = floor(blob)[0].shape[0]
        print(f"{args.only}: {rows:,} rows")
        return 0
    n = blob.count(b"\n")

    phases = ("pipeline", "floor")
    wall: dict[str, list[float]] = {p: [] for p in phases}
    cpu: dict[str, list[float]] = {p: [] for p in phases}

    def timed(phase: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        with no_gc():  # as parse_lines and extract do
            out = fn()
        wall[phase].append(time.perf_counter() - t0)
        cpu[phase].append(time.process_time() - c0)
        return out

    for run in range(args.runs):
        order = phases if run % 2 == 0 else phases[::-1]
        for phase in order:
            if phase == "pipeline":
                columns, quality = timed(phase, lambda: pipeline(blob, schema))
                assert columns.rows == {"input": n}, columns.rows
                assert quality.records == n and not quality.examples, quality
                del columns, quality
            else:
                table, bodies = timed(phase, lambda: floor(blob))
                assert table.shape == (n, width), table.shape
                del table, bodies

    print(
        f"{n:,} capture records x {width} numeric CSV features, {len(blob) / 1e6:.1f} MB; "
        f"{args.runs} runs, pipeline and floor alternating; Python "
        f"{platform.python_version()}, numpy {np.__version__}, msgspec {msgspec.__version__}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| phase | wall s (median) | CPU s (median) | records/s (wall) |")
    print("|---|---:|---:|---:|")
    for phase in phases:
        median = statistics.median(wall[phase])
        print(
            f"| {phase} | {median:.3f} | {statistics.median(cpu[phase]):.3f} | {n / median:,.0f} |"
        )
    ratios_wall = [a / b for a, b in zip(wall["pipeline"], wall["floor"], strict=True)]
    ratios_cpu = [a / b for a, b in zip(cpu["pipeline"], cpu["floor"], strict=True)]
    ratio = statistics.median(ratios_cpu)
    print(
        f"\npipeline / floor, run by run: CPU {', '.join(f'{r:.2f}' for r in ratios_cpu)} "
        f"(median **{ratio:.2f}x**); wall {', '.join(f'{r:.2f}' for r in ratios_wall)} "
        f"(median {statistics.median(ratios_wall):.2f}x). Target <= 1.5x: "
        f"{'met' if ratio <= 1.5 else 'NOT met'}."
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n1-minute load average at the end: {load:.2f}; peak RSS of this process "
        f"(the file, its records and columns, and the generator's leftovers): {peak:,.0f} MB"
    )
    print(f"\n    {shlex.join(['.venv/bin/python', 'bench/capture_parse.py', *sys.argv[1:]])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
