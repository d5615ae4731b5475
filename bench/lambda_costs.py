"""What a Lambda pays: each handler's cold import as ``sam build`` built it, against a
floor measured in the same run, and the cost of one judge look. `make bench-lambda`
prints Markdown tables for docs/performance.md.

Cold imports load what Lambda loads: the function's built dir (/var/task) first, then
its layers' python/ dirs (/opt/python), from ``.aws-sam/build`` (run `make build`
first), and boto3 from a runtime dir holding only boto3 and its dependencies (Lambda's
python3.12 runtime ships boto3 compiled). Each sample is a fresh ``python3.12 -I -S -B``
process: no site-packages, no PYTHON* variables, and no .pyc written, since Lambda's
/var/task and /opt are read-only; the probe times ``import app`` (module-level code
included) from inside the process, so interpreter start-up is left out of both sides.

The floor is the least any function here imports: ``import boto3`` plus a Powertools
``Logger()`` and ``Metrics()``, from the same dirs, in the same kind of process. Floor
and handler samples alternate (floor, handler, floor, handler, ...) so that the
machine's drift hits both; the figure is the median over pairs of (handler - floor).
Targets (issue 12): drift_check within floor + 200 ms, every other handler within
floor + 100 ms.

``--without-bytecode`` measures a copy of the built dirs with every .pyc removed: what
a cold start paid before the build compiled them (Lambda cannot write them).

One judge look: the real judge on the default policy's rules over a 240-period release
(per-minute counts at 50 requests/s, both variants), with intervals off and on; and the
look of the judge simulation (bench/judge_sim.py, intervals off), per look.

    .venv/bin/python bench/lambda_costs.py                 # after `make build`
    .venv/bin/python bench/lambda_costs.py --samples 9 --only drift_check
    .venv/bin/python bench/lambda_costs.py --importtime drift_check   # -X importtime, top 25
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
sys.path.insert(0, str(ROOT))

from scripts.check_package_size import FUNCTION_TYPES, LAYER_TYPES, read_template  # noqa: E402

# Lambda's runtime: boto3 and what it imports, taken from the dev venv (compiled by pip).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
TARGET_MS = {"drift_check": 200.0}
DEFAULT_TARGET_MS = 100.0

ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "POWERTOOLS_SERVICE_NAME": "release-guard",
    "POWERTOOLS_METRICS_NAMESPACE": "ReleaseGuard",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "LEDGER_TABLE": "bench",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
    "ENDPOINT_NAME": "bench",
    "MODEL_PACKAGE_GROUP": "bench",
    "CANDIDATE_INSTANCE_TYPE": "ml.m5.large",
    "CANDIDATE_INSTANCE_COUNT": "1",
    "RELEASE_POLICY_URI": "",
    "MODEL_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/bench",
    "DATA_CAPTURE_S3_URI": "s3://bench/datacapture",
    "REPORTS_BUCKET": "bench",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

PROBE = """
import sys, time, json
sys.path[:0] = json.loads(sys.argv[1])
t = time.perf_counter()
if sys.argv[2] == "floor":
    import boto3
    from aws_lambda_powertools import Logger, Metrics
    Logger(), Metrics()
else:
    import app
ms = (time.perf_counter() - t) * 1000
mods = sys.modules
print(json.dumps({"ms": ms, "numpy": "numpy" in mods, "scipy": "scipy" in mods,
                  "pandas": "pandas" in mods, "pydantic": "pydantic" in mods,
                  "compiled": sum(1 for m in mods.values()
                                  if getattr(getattr(m, "__spec__", None), "cached", None)
                                  and not __import__("os").path.exists(m.__spec__.cached))}))
"""


def python312() -> str:
    """The base interpreter (a venv's python would add the dev site-packages)."""
    return str(getattr(sys, "_base_executable", sys.executable))


def built(build: Path) -> tuple[dict[str, Path], list[Path]]:
    """{function folder: built code dir} and the layers' python/ dirs (Globals order)."""
    template = read_template(build / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    glob = (template.get("Globals") or {}).get("Function") or {}
    layer_dirs = {
        name: build / res["Properties"]["ContentUri"] / "python"
        for name, res in resources.items()
        if isinstance(res, dict) and res.get("Type") in LAYER_TYPES
    }
    layers = [layer_dirs[ref["Ref"]] for ref in glob.get("Layers", []) if ref["Ref"] in layer_dirs]
    source = read_template(ROOT / "template.yaml")["Resources"]
    functions = {}
    for name, res in resources.items():
        if isinstance(res, dict) and res.get("Type") in FUNCTION_TYPES:
            folder = Path(source[name]["Properties"]["CodeUri"]).name
            functions[folder] = build / res["Properties"]["CodeUri"]
    return functions, layers


def runtime_dir(into: Path) -> Path:
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    into.mkdir(parents=True, exist_ok=True)
    (into / "__pycache__").mkdir()
    for name in RUNTIME_PACKAGES:
        (into / name).symlink_to(site / name)
        if name.endswith(".py"):  # a module's .pyc sits in the dir's __pycache__
            pyc = f"{name[:-3]}.{sys.implementation.cache_tag}.pyc"
            (into / "__pycache__" / pyc).symlink_to(site / "__pycache__" / pyc)
    return into


def sample(path: list[Path], what: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(ENV, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [python312(), "-I", "-S", "-B", "-c", PROBE, json.dumps([str(p) for p in path]), what],
        env=env,
        cwd=path[0],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def without_bytecode(build: Path, into: Path) -> Path:
    """A copy of the build dir with no .pyc: what Lambda ran before ``make build``
    compiled them."""
    shutil.copytree(build, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return into


def cold_imports(build: Path, samples: int, only: list[str] | None) -> list[str]:
    functions, layers = built(build)
    with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as tmp:
        runtime = runtime_dir(Path(tmp) / "runtime")
        lines = [
            "| function | cold import (median) | floor, same run (median) | over the floor "
            "(median of pairs) | target | met | numpy | scipy | pydantic | modules compiled "
            "at import |",
            "|---|---:|---:|---:|---:|---|---|---|---|---:|",
        ]
        for folder, code in sorted(functions.items()):
            if only and folder not in only:
                continue
            path = [code, *layers, runtime]
            sample(path, "floor"), sample(path, "app")  # warm the page cache, uncounted
            floors, apps = [], []
            for _ in range(samples):
                floors.append(sample(path, "floor"))
                apps.append(sample(path, "app"))
            over = statistics.median(a["ms"] - f["ms"] for a, f in zip(apps, floors, strict=True))
            target = TARGET_MS.get(folder, DEFAULT_TARGET_MS)
            flags = " | ".join(
                "yes" if apps[0][k] else "no" for k in ("numpy", "scipy", "pydantic")
            )
            lines.append(
                f"| {folder} | {statistics.median(a['ms'] for a in apps):.0f} ms "
                f"| {statistics.median(f['ms'] for f in floors):.0f} ms | {over:+.0f} ms "
                f"| +{target:.0f} ms | {'yes' if over <= target else '**no**'} | {flags} "
                f"| {apps[0]['compiled']} |"
            )
    return lines


def importtime(build: Path, folder: str, top: int = 25) -> list[str]:
    """``-X importtime`` of one handler from the built dirs: the slowest imports
    (self time, then cumulative), microseconds."""
    functions, layers = built(build)
    with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as tmp:
        runtime = runtime_dir(Path(tmp) / "runtime")
        path = [functions[folder], *layers, runtime]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(ENV)
        err = subprocess.run(
            [
                python312(),
                "-I",
                "-S",
                "-B",
                "-X",
                "importtime",
                "-c",
                PROBE,
                json.dumps([str(p) for p in path]),
                "app",
            ],
            env=env,
            cwd=path[0],
            check=True,
            capture_output=True,
            text=True,
        ).stderr
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line and "self" not in line:
            self_us, cum_us, name = (part.strip() for part in line[12:].split("|"))
            rows.append((int(self_us), int(cum_us), name))
    rows.sort(reverse=True)
    out = [f"`-X importtime` of {folder} (built layers), top {top} by self time:", ""]
    out += ["| module | self ms | cumulative ms |", "|---|---:|---:|"]
    out += [f"| {name} | {s / 1000:.1f} | {c / 1000:.1f} |" for s, c, name in rows[:top]]
    return out


# --- the judge ---------------------------------------------------------------------------


def judge_look(periods: int, repeats: int) -> tuple[float, float, int]:
    """Median ms of one look of the real judge (default policy) over ``periods``
    per-minute periods at 50 requests/s, intervals off and on; and the rule count."""
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))
    import judge_sim
    import numpy as np
    from release_guard.canary.evidence import Series
    from release_guard.canary.judge import judge
    from release_guard.events import CanaryState

    policy = judge_sim.sim_policy()
    rng = np.random.default_rng(0)
    sc = judge_sim.SCENARIOS[1]  # A/A 0.1 % errors, 50 req/s
    trace = judge_sim.Trace()
    for minute in range(periods):
        c, h = judge_sim.simulate_minute(rng, sc, judge_sim.STEPS[minute * 4 // periods])
        trace.add(trace.cand, c)
        trace.add(trace.champ, h)
        trace.step_of.append(minute * 4 // periods)
    step = trace.step_of[-1]
    series = Series(
        candidate={k: np.array(v) for k, v in trace.cand.items()},
        champion={k: np.array(v) for k, v in trace.champ.items()},
        step=np.array(trace.step_of) == step,
        period_seconds=60,
    )
    start = judge_sim.T0 + timedelta(minutes=periods - 10)
    state = CanaryState(step_index=step, percent=judge_sim.STEPS[step], step_started_at=start)
    now = judge_sim.T0 + timedelta(minutes=periods)
    out = []
    for intervals in (False, True):
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            judge(series, state, policy.canary, policy.version, now, (judge_sim.T0, now), intervals)
            runs.append((time.perf_counter() - t) * 1000)
        out.append(statistics.median(runs))
    return out[0], out[1], len(policy.canary.metrics)


def judge_sim_look_ms() -> tuple[float, int]:
    """Median cost of one look over the looks of simulated releases (50 req/s, A/A)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import judge_sim

    policy = judge_sim.sim_policy()
    per_look = []
    minutes = 0
    for seed in range(5):
        t = time.perf_counter()
        outcome = judge_sim.run_release("release-guard", judge_sim.SCENARIOS[1], policy, seed)
        per_look.append((time.perf_counter() - t) * 1000 / outcome.minutes)
        minutes = max(minutes, outcome.minutes)
    return statistics.median(per_look), minutes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=BUILD, help="sam build output")
    ap.add_argument("--samples", type=int, default=5, help="floor/handler pairs per function")
    ap.add_argument("--only", nargs="*", help="these function folders only")
    ap.add_argument("--without-bytecode", action="store_true", help="the build minus its .pyc")
    ap.add_argument("--importtime", metavar="FOLDER", help="-X importtime of one handler")
    ap.add_argument("--no-judge", action="store_true")
    args = ap.parse_args()
    if not (args.build / "template.yaml").is_file():
        print(f"{args.build} has no built template: run `make build` first", file=sys.stderr)
        return 2
    print(
        f"Command: `{' '.join(['.venv/bin/python', 'bench/lambda_costs.py', *sys.argv[1:]])}` "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, "
        f"1-minute load average {os.getloadavg()[0]:.2f})\n"
    )
    if args.importtime:
        print("\n".join(importtime(args.build, args.importtime)))
        return 0
    if args.without_bytecode:
        with tempfile.TemporaryDirectory(prefix="build-no-pyc-") as tmp:
            copy = without_bytecode(args.build, Path(tmp) / "build")
            print("Built dirs with every .pyc removed (Lambda compiles at each cold start):\n")
            print("\n".join(cold_imports(copy, args.samples, args.only)))
    else:
        print("\n".join(cold_imports(args.build, args.samples, args.only)))
    if not args.no_judge:
        off, on, rules = judge_look(240, 21)
        print(
            f"\nOne judge look, {rules} rules of the simulation's policy over 240 per-minute "
            f"periods (50 requests/s): {off:.2f} ms with intervals off, {on:.2f} ms with "
            "intervals on (median of 21)."
        )
        ms, looks = judge_sim_look_ms()
        print(
            f"One look in the judge simulation (intervals off, series up to {looks} periods): "
            f"{ms:.2f} ms median over 5 releases."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
