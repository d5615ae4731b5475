"""No-drift false-alarm rate of the drift decision at each sample size (docs/drift.md).

A profile from 200,000 reference rows of 8 features of different shapes; then fresh
current samples from the same distributions, checked with the default policy. Prints the
share of checks that alarmed (any feature drifted) and that had any significant feature.

    .venv/bin/python bench/drift_calibration.py                 # 100 .. 1,000,000 rows
    .venv/bin/python bench/drift_calibration.py 100:300 1000:300
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "release_guard" / "python"))

from release_guard.drift.columns import Columns
from release_guard.drift.decide import decide
from release_guard.drift.profile import build_profile
from release_guard.drift.summary import summarise
from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema

DEFAULT = ["100:300", "1000:300", "10000:200", "100000:100", "1000000:40"]
LEVELS30 = [f"k{i}" for i in range(30)]
SHARES30 = np.r_[np.full(10, 0.07), np.full(20, 0.015)]


def sample(rng: np.random.Generator, n: int) -> Columns:
    num = {
        "normal": rng.normal(0, 1, n),
        "lognorm": rng.lognormal(0, 1, n),
        "uniform": rng.uniform(0, 1, n),
        "counts": rng.poisson(3, n).astype(float),
        "binary": rng.integers(0, 2, n).astype(float),
        "bimodal": np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(2, 1, n)),
    }
    num["normal"][rng.random(n) < 0.02] = np.nan
    cats: dict[str, list[str | None]] = {
        "c3": list(rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])),
        "c30": list(rng.choice(LEVELS30, n, p=SHARES30)),
    }
    source = dict.fromkeys([*num, *cats], "input")
    return Columns(rows={"input": n}, numeric=num, categorical=cats, source=source)


def main(cells: list[str]) -> int:
    rng = np.random.default_rng(1)
    schema = PayloadSchema(
        features=[FeatureSpec(name=k) for k in ("normal", "lognorm", "uniform", "counts")]
        + [FeatureSpec(name=k) for k in ("binary", "bimodal")]
        + [FeatureSpec(name=k, kind="categorical") for k in ("c3", "c30")]
    )
    profile = build_profile(sample(rng, 200_000), schema, datetime.now(UTC))
    policy = DriftPolicy(payload=schema)
    print(f"`{' '.join(['python', *sys.argv])}`\n")
    print("| current rows | checks | alarm rate | any feature significant | seconds |")
    print("|---:|---:|---:|---:|---:|")
    for cell in cells:
        n, runs = (int(x) for x in cell.split(":"))
        alarms = significant = 0
        t0 = time.perf_counter()
        for _ in range(runs):
            report = decide(profile, summarise(sample(rng, n), profile), policy)
            alarms += report.severity != "none"
            significant += any(f.significant for f in report.features)
        took = time.perf_counter() - t0
        print(
            f"| {n:,} | {runs} | {alarms / runs:.1%} | {significant / runs:.1%} | {took:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or DEFAULT))
