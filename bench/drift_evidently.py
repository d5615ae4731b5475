"""Evidently's DataDriftPreset on the drift benchmark's data (run by bench/drift_bench.py).

Runs in its own environment (.venv-bench: evidently 0.7.x, pandas < 3), never the
project's. Reads a manifest written by drift_bench.py: feature names, the categorical
levels, and .npz files holding each dataset (numeric arrays, categorical codes).

Evidently 0.7 API, as in the installed package: ``Report([DataDriftPreset()])`` with
the preset's default settings (per-column method picked by Evidently: for more than
1,000 reference rows, normed Wasserstein distance >= 0.1 for numeric columns with more
than 5 distinct values, Jensen-Shannon distance >= 0.1 otherwise and for categorical
columns), run on ``Dataset.from_pandas(df, DataDefinition(numerical_columns=...,
categorical_columns=...))``.

What is timed (each the median of --runs runs):
  frames  numpy arrays -> two pandas DataFrames (categoricals as object columns of str)
  run     Dataset.from_pandas for both frames + Report.run: the main figure
Memory: VmHWM (peak RSS of this process) from /proc/self/status after the timed runs,
and VmRSS just before the first Report.run; ru_maxrss is printed as well but is not
this process's own peak (Linux carries the parent's high-water mark over the fork and
exec). Then one more Report.run under tracemalloc (numpy and pandas buffers included)
for a figure comparable with the numpy-based methods' tracemalloc peaks.

Drift verdicts per column: each ValueDrift's score against its threshold (distances:
drifted when score >= threshold; p-values: when score < threshold), cross-checked with
the preset's own DriftedColumnsCount. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
import tracemalloc
from typing import Any

T_IMPORT = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently import __version__ as evidently_version  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402
from measure import status_mib  # noqa: E402

IMPORT_S = time.perf_counter() - T_IMPORT

DISTANCES = {
    "Wasserstein distance (normed)",
    "Jensen-Shannon distance",
    "PSI",
    "Kullback-Leibler divergence",
    "Hellinger distance",
    "Energy-distance",
    "Total-Variation-Distance",
    "empirical_mmd",
}


def frames(path: str, man: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    z = np.load(path)
    out = []
    for side in ("ref", "cur"):
        num = z[f"{side}_numeric"]
        cols: dict[str, Any] = {n: num[:, j] for j, n in enumerate(man["numeric_names"])}
        for j, n in enumerate(man["categorical_names"]):
            levels = np.array(man["levels"][n], dtype=object)
            cols[n] = levels[z[f"{side}_cat_{j}"]]
        out.append(pd.DataFrame(cols))
    return out[0], out[1]


def run_report(ref: pd.DataFrame, cur: pd.DataFrame, definition: DataDefinition) -> Any:
    ref_ds = Dataset.from_pandas(ref, data_definition=definition)
    cur_ds = Dataset.from_pandas(cur, data_definition=definition)
    return Report([DataDriftPreset()]).run(cur_ds, ref_ds)


def verdicts(snapshot: Any) -> dict[str, Any]:
    flagged, scores, methods, count = [], {}, {}, None
    for m in snapshot.dict()["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith(":ValueDrift"):
            col, method, thr, val = cfg["column"], cfg["method"], cfg["threshold"], m["value"]
            drifted = val >= thr if method in DISTANCES else val < thr
            scores[col], methods[col] = val, f"{method} (threshold {thr:g})"
            if drifted:
                flagged.append(col)
        elif cfg["type"].endswith(":DriftedColumnsCount"):
            count = int(m["value"]["count"])
    if count is not None and count != len(flagged):
        raise SystemExit(f"verdicts disagree: DriftedColumnsCount {count}, ours {len(flagged)}")
    return {"flagged": flagged, "scores": scores, "methods": methods, "drifted_count": count}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    args = ap.parse_args()
    with open(args.manifest) as f:
        man = json.load(f)
    definition = DataDefinition(
        numerical_columns=list(man["numeric_names"]),
        categorical_columns=list(man["categorical_names"]),
    )
    rss_import = status_mib("VmRSS")

    frame_s = []
    for _ in range(args.runs):
        gc.collect()
        t0 = time.perf_counter()
        ref, cur = frames(man["main"], man)
        frame_s.append(time.perf_counter() - t0)
    gc.collect()
    rss_before = status_mib("VmRSS")
    run_s, snap = [], None
    for _ in range(args.runs):
        snap = None
        gc.collect()
        t0 = time.perf_counter()
        snap = run_report(ref, cur, definition)
        run_s.append(time.perf_counter() - t0)
    peak = status_mib("VmHWM")
    main_v = verdicts(snap)
    del snap

    traced = None
    if not args.no_trace:
        gc.collect()
        tracemalloc.start()
        snap = run_report(ref, cur, definition)
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del snap
    del ref, cur

    no_drift, nd_s = [], []
    for path in man.get("no_drift", []):
        r, c = frames(path, man)
        gc.collect()
        t0 = time.perf_counter()
        v = verdicts(run_report(r, c, definition))
        nd_s.append(time.perf_counter() - t0)
        no_drift.append(v["flagged"])
    print(
        json.dumps(
            {
                "evidently": evidently_version,
                "pandas": pd.__version__,
                "numpy": np.__version__,
                "python": sys.version.split()[0],
                "import_s": IMPORT_S,
                "frames_s": frame_s,
                "run_s": run_s,
                "rss_after_import_mib": rss_import,
                "rss_before_run_mib": rss_before,
                "peak_rss_mib": peak,
                "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "tracemalloc_peak_mib": traced,
                **main_v,
                "no_drift_flagged": no_drift,
                "no_drift_run_s": nd_s,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
