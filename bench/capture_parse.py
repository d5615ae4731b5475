"""Data Capture parsing at scale: 200,000 records, 50 numeric CSV features each.

Builds one capture file in the SageMaker Data Capture format (seeded: one JSON line per
inference, a CSV input body of 50 numbers rounded to 4 decimals, a CSV output of one
score, event ids and times), then times, as the median of --runs runs,

  parse    capture.parse_lines: the file's bytes -> records
  extract  extract.extract: records -> Columns (the input's 50 numeric features)
  total    both, which is what a drift check spends per file before summarising

and, for scale, the two library calls that bound them: ``json.loads`` of all the lines
at once (records as plain dicts) and ``np.loadtxt`` of all the CSV bodies (the numbers
alone). The phases run with the cyclic garbage collector paused, as the code does.

and prints a Markdown table (wall and process CPU time: on a shared machine the CPU time
is the steadier figure; the load average is printed too) and the command. The file is
built once, untimed.

    .venv/bin/python bench/capture_parse.py              # 200k records, 3 runs
    .venv/bin/python bench/capture_parse.py --records 20000 --runs 5
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))

from release_guard.drift.capture import no_gc, parse_lines  # noqa: E402
from release_guard.drift.columns import Quality  # noqa: E402
from release_guard.drift.extract import extract  # noqa: E402
from release_guard.policy import FeatureSpec, PayloadSchema  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    blob = capture_file(args.records, args.features, args.seed)
    schema = PayloadSchema(features=[FeatureSpec(name=f"f{i:02d}") for i in range(args.features)])
    lines = blob.decode().splitlines()
    bodies = [json.loads(line)["captureData"]["endpointInput"]["data"] for line in lines]
    phases = ("parse", "extract", "total", "json.loads alone", "np.loadtxt alone")
    wall: dict[str, list[float]] = {p: [] for p in phases}
    cpu: dict[str, list[float]] = {p: [] for p in phases}

    def timed(phase: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        with no_gc():  # as parse_lines and extract do
            out = fn()
        wall[phase].append(time.perf_counter() - t0)
        cpu[phase].append(time.process_time() - c0)
        return out

    for _ in range(args.runs):
        quality = Quality()
        records = timed("parse", lambda q=quality: parse_lines(blob, q))
        columns = timed("extract", lambda r=records, q=quality: extract(r, schema, q))
        wall["total"].append(wall["parse"][-1] + wall["extract"][-1])
        cpu["total"].append(cpu["parse"][-1] + cpu["extract"][-1])
        assert columns.rows == {"input": args.records}, columns.rows
        assert quality.records == args.records and not quality.examples, quality
        del records, columns
        timed("json.loads alone", lambda: json.loads("[" + ",".join(lines) + "]"))
        timed(
            "np.loadtxt alone",
            lambda: np.loadtxt(bodies, delimiter=",", comments=None, quotechar=None, ndmin=2),
        )

    print(
        f"{args.records:,} capture records x {args.features} numeric CSV features, "
        f"{len(blob) / 1e6:.1f} MB; median of {args.runs} runs; Python "
        f"{platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs\n"
    )
    print("| phase | wall s (median) | CPU s (median) | records/s (wall) |")
    print("|---|---:|---:|---:|")
    for phase, runs in wall.items():
        median = statistics.median(runs)
        print(
            f"| {phase} | {median:.3f} | {statistics.median(cpu[phase]):.3f} "
            f"| {args.records / median:,.0f} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n1-minute load average at the end: {load:.2f}; peak RSS of this process "
        f"(the file, its records and columns, and the generator's leftovers): {peak:,.0f} MB"
    )
    print(f"\n    {shlex.join(['.venv/bin/python', 'bench/capture_parse.py', *sys.argv[1:]])}")


if __name__ == "__main__":
    main()
