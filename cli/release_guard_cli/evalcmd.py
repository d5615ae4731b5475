"""`release-guard eval run`: the Run Eval function's code, run here with local credentials.

    release-guard eval run --endpoint E --candidate-variant V --champion-variant C \\
        --dataset s3://bucket/evals/qa.jsonl --out s3://bucket/evals/runs/r1/ \\
        [--scorers scorers.json] [--repeats N] [--concurrency N] [--release-id ID] \\
        [--overwrite]

Prints the result (where the records went, counts, errors) as JSON. Exit 0 when the run
finished (failed invocations are counted in the result, not an exit code), 2 when the
request is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from release_guard.aws import runtime
from release_guard.errors import InvalidReleaseRequest
from release_guard.gate import runner


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `eval run` (main.py wires the sub-command to ``run``)."""
    p.add_argument("--endpoint", required=True, help="SageMaker endpoint name")
    p.add_argument("--candidate-variant", required=True)
    p.add_argument("--champion-variant", required=True)
    p.add_argument("--dataset", required=True, help="s3://.../examples.jsonl")
    p.add_argument("--out", required=True, help="s3:// prefix for the records")
    p.add_argument("--scorers", help="a scorer config JSON file (docs/eval-runner.md)")
    p.add_argument("--repeats", type=int, default=1, help="samples per example and system")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    p.add_argument("--release-id", help="recorded in the result")
    p.add_argument("--overwrite", action="store_true", help="re-run even if results exist")


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    request: dict[str, Any] = {
        "endpoint_name": args.endpoint,
        "candidate_variant": args.candidate_variant,
        "champion_variant": args.champion_variant,
        "dataset_uri": args.dataset,
        "output_prefix": args.out,
        "repeats": args.repeats,
        "concurrency": args.concurrency,
        "overwrite": bool(args.overwrite),
    }
    if args.scorers:
        request["scorers"] = json.loads(Path(args.scorers).read_text())
    if args.release_id:
        request["release_id"] = args.release_id
    return request


FLAGS = {
    "endpoint_name": "--endpoint",
    "candidate_variant": "--candidate-variant",
    "champion_variant": "--champion-variant",
    "dataset_uri": "--dataset",
    "output_prefix": "--out",
    "scorers": "--scorers",
    "repeats": "--repeats",
    "concurrency": "--concurrency",
    "release_id": "--release-id",
}


def _explain(err: InvalidReleaseRequest) -> str:
    """The error with the request field named as the option that set it."""
    parts = err.field.split(".")
    if len(parts) > 1 and parts[1] in FLAGS:
        parts = [FLAGS[parts[1]], *parts[2:]]
        return str(err).replace(err.field, " ".join([parts[0], ".".join(parts[1:])]).strip(), 1)
    return str(err)


def run(args: argparse.Namespace) -> int:
    try:
        request = runner.parse_request(request_of(args))
    except (OSError, json.JSONDecodeError) as err:
        print(f"release-guard eval run: cannot read --scorers: {err}", file=sys.stderr)
        return 2
    except InvalidReleaseRequest as err:
        print(f"release-guard eval run: {_explain(err)}", file=sys.stderr)
        return 2
    ports = runner.Ports(
        invoker=runtime.SageMakerInvoker(),
        store=runtime.S3Store(),
        endpoint_variants=runtime.endpoint_variants,
        judge_cache=runtime.S3JudgeCache,
    )
    try:
        with ThreadPoolExecutor(max_workers=request.concurrency) as pool:
            result = runner.execute(request, ports, pool.map)
    except InvalidReleaseRequest as err:
        print(f"release-guard eval run: {_explain(err)}", file=sys.stderr)
        return 2
    print(json.dumps(result.model_dump(mode="json"), indent=2))
    return 0
