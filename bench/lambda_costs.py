"""What a Lambda pays: each handler's cold import (fresh interpreter, median of 3, and
whether numpy, scipy or pandas came along), and the cost of one judge look on a simulated
release. `make bench-lambda` prints a Markdown table for docs/performance.md."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "release_guard" / "python"

PROBE = """
import importlib.util, json, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"ms": (time.perf_counter() - t) * 1000, "numpy": "numpy" in sys.modules,
                  "scipy": "scipy" in sys.modules, "pandas": "pandas" in sys.modules}))
"""


def cold_import(app: Path) -> dict[str, float | bool]:
    env = {
        **os.environ,
        "PYTHONPATH": str(LAYER),
        "LEDGER_TABLE": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(app)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out))
    return {
        "ms": statistics.median(r["ms"] for r in runs),
        "numpy": runs[0]["numpy"],
        "scipy": runs[0]["scipy"],
        "pandas": runs[0]["pandas"],
    }


def judge_look_ms() -> tuple[float, int]:
    """Median cost of one look over the looks of simulated releases (50 req/s, A/A)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import judge_sim

    policy = judge_sim.sim_policy()
    per_look = []
    for seed in range(5):
        t = time.perf_counter()
        outcome = judge_sim.run_release("release-guard", judge_sim.SCENARIOS[1], policy, seed)
        per_look.append((time.perf_counter() - t) * 1000 / outcome.minutes)
    return statistics.median(per_look), outcome.minutes


def main() -> int:
    print(f"Command: `python bench/lambda_costs.py` (Python {sys.version.split()[0]})\n")
    print("| function | cold import (median of 3) | numpy | scipy | pandas |")
    print("|---|---:|---|---|---|")
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        r = cold_import(app)
        flags = " | ".join("yes" if r[k] else "no" for k in ("numpy", "scipy", "pandas"))
        print(f"| {app.parent.name} | {r['ms']:.0f} ms | {flags} |")
    ms, looks = judge_look_ms()
    print(
        f"\nOne judge look (six rules, per-minute series up to {looks} periods, intervals "
        f"off as in the simulation): {ms:.2f} ms median over 5 releases."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
