"""False alarms of the drift decision per baseline and pooled, at each sample size, and
the detection of a 0.1 sd shift under the default severity floor (docs/drift.md).

A deployment has exactly one baseline, so the promise "no drift alarms in at most 5 %
of checks" must hold for each baseline, not on average over many. This builds
``--baselines`` baselines of ``--ref-rows`` rows each, the way ``baseline build`` does
(``drift.baseline.screened_profile``: timestamps and ids excluded, self-check), and
checks each of them against fresh samples of the same distributions. Per sample size it
prints the pooled alarm rate and the per-baseline rates (95th percentile and maximum),
and whether the worst baseline's count is compatible with a 5 % rate.

The features: normal with 2 % missing, lognormal, uniform, Poisson counts, binary,
bimodal, categoricals with 3, 30 and 400 levels, a timestamp (rises with row order) and
a request id (a new value in every row). The last two must be excluded at build and
never alarm; with ``"keep": true`` they alarm in every check.

    .venv/bin/python bench/drift_calibration.py                     # the docs' table
    .venv/bin/python bench/drift_calibration.py --baselines 5 --cells 100:20 10000:20
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "release_guard" / "python"))

from release_guard.drift.baseline import screened_profile
from release_guard.drift.columns import Columns
from release_guard.drift.decide import RANK, DriftReport, FeatureResult, decide
from release_guard.drift.profile import Profile
from release_guard.drift.summary import summarise
from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema
from release_guard.stats import distances as d

CELLS = ["100:300", "1000:100", "10000:50", "100000:25"]
SHIFT_CELLS = ["10000:10", "100000:5"]
LEVELS30 = np.array([f"k{i}" for i in range(30)], dtype=object)
SHARES30 = np.r_[np.full(10, 0.07), np.full(20, 0.015)]
LEVELS400 = np.array([f"item_{i:03d}" for i in range(400)], dtype=object)
SHARES400 = 1 / np.arange(1, 401) ** 0.6  # a long, flat tail: 300 levels under 0.2 %
SHARES400 /= SHARES400.sum()
NUMERIC = ["normal", "lognorm", "uniform", "counts", "binary", "bimodal"]
CATEGORICAL = ["c3", "c30", "c400"]
EXCLUDED = ["timestamp", "request_id"]


def schema(keep: bool = False) -> PayloadSchema:
    return PayloadSchema(
        features=[FeatureSpec(name=k) for k in NUMERIC]
        + [FeatureSpec(name=k, kind="categorical") for k in CATEGORICAL]
        + [FeatureSpec(name="timestamp", keep=keep)]
        + [FeatureSpec(name="request_id", kind="categorical", keep=keep)]
    )


def sample(rng: np.random.Generator, n: int, start: int, shift: float = 0.0) -> Columns:
    """``n`` rows from the one distribution; rows ``start``.. of the timeline (the
    timestamp and request id continue where the previous sample stopped)."""
    num = {
        "normal": rng.normal(shift, 1, n),
        "lognorm": rng.lognormal(0, 1, n),
        "uniform": rng.uniform(0, 1, n),
        "counts": rng.poisson(3, n).astype(float),
        "binary": rng.integers(0, 2, n).astype(float),
        "bimodal": np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(2, 1, n)),
        "timestamp": 1.7e9 + start + np.arange(n) + rng.random(n),
    }
    num["normal"][rng.random(n) < 0.02] = np.nan
    cats: dict[str, list[str | None]] = {
        "c3": list(rng.choice(np.array(["a", "b", "c"], dtype=object), n, p=[0.6, 0.3, 0.1])),
        "c30": list(LEVELS30[rng.choice(30, n, p=SHARES30)]),
        "c400": list(LEVELS400[rng.choice(400, n, p=SHARES400)]),
        "request_id": [f"req-{start + i:09d}" for i in range(n)],
    }
    source = dict.fromkeys([*num, *cats], "input")
    return Columns(rows={"input": n}, numeric=num, categorical=cats, source=source)


def plain_alarm(report: DriftReport, policy: DriftPolicy) -> bool:
    """Whether the same check alarms with plain two-sample p-values (the baseline taken
    as a fresh sample in every check) and the bare effect: what per-baseline
    calibration changes."""
    ps, effects = [], []
    for f in report.features:
        if f.p_value is None or f.excluded or f.n == 0 or f.chi2_df is None:
            continue
        tests = [d.chi2_sf(f.chi2 or 0.0, f.chi2_df), _plain_missing(f)]
        if f.ks is not None:
            tests.append(d.ks_pvalue(f.ks, f.n_ref, f.n))
        ps.append(min(1.0, len(tests) * min(tests)))
        effects.append(f.effect or 0.0)
    flags, _ = d.benjamini_hochberg(ps, policy.alpha)
    return any(flag and e >= policy.min_effect for flag, e in zip(flags, effects, strict=True))


def _plain_missing(f: FeatureResult) -> float:
    def rows(present: int, share: float | None) -> tuple[int, int]:
        total = round(present / (1 - share)) if share is not None and share < 1 else present
        return total - present, total

    a, n_a = rows(f.n_ref, f.ref_missing_share)
    b, n_b = rows(f.n, f.missing_share)
    return d.share_test(a, n_a, b, n_b)


def binomial_upper(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


Job = tuple[Profile, int, int, int, int, int, float]


def run_checks(job: Job) -> dict[str, int]:
    """``runs`` checks of one baseline at ``n`` rows (a process of its own): counts of
    alarms, notifications, plain-test alarms, alarms of the excluded features, and for
    the shifted feature its grades."""
    profile, seed, b, n, runs, ref_rows, shift = job
    policy = DriftPolicy(payload=schema())
    rng = np.random.default_rng([seed, b, n, int(shift > 0)])
    out: dict[str, int] = {}
    for i in range(runs):
        cols = sample(rng, n, ref_rows + i * n, shift)
        report = decide(profile, summarise(cols, profile), policy)
        normal = next(f for f in report.features if f.name == "normal")
        counts = {
            "alarms": report.severity != "none",
            "notified": RANK[report.severity] >= RANK[policy.notify_at],
            "plain": plain_alarm(report, policy),
            "excluded": sum(f.drifted for f in report.features if f.name in EXCLUDED),
            "drifted": normal.drifted,
            "graded": RANK[normal.severity] >= RANK[policy.notify_at],
            f"grade {normal.severity}": 1,
        }
        for k, v in counts.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def build(job: tuple[int, int, int]) -> tuple[Profile, list[str]]:
    seed, b, ref_rows = job
    rng = np.random.default_rng([seed, b])
    return screened_profile(sample(rng, ref_rows, 0), schema(), datetime.now(UTC))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baselines", type=int, default=20)
    ap.add_argument("--ref-rows", type=int, default=20_000)
    ap.add_argument("--cells", nargs="+", default=CELLS, help="ROWS:CHECKS per baseline")
    ap.add_argument("--shift-cells", nargs="+", default=SHIFT_CELLS, help="0.1 sd shift")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2, help="processes (a 2-core machine: 2)")
    a = ap.parse_args(argv)
    t_all = time.perf_counter()
    policy = DriftPolicy(payload=schema())
    with ProcessPoolExecutor(a.jobs) as pool:
        built = list(pool.map(build, [(a.seed, b, a.ref_rows) for b in range(a.baselines)]))
        profiles = [p for p, _ in built]
        notes_seen: dict[str, int] = {}
        for _, notes in built:
            for note in notes:
                key = note.split(":", 1)[0]
                notes_seen[key] = notes_seen.get(key, 0) + 1
        print(f"`{' '.join(['python', 'bench/drift_calibration.py', *argv])}`\n")
        seen = ", ".join(f"{k} in {v}" for k, v in sorted(notes_seen.items())) or "none"
        print(
            f"{a.baselines} baselines of {a.ref_rows:,} rows; features excluded at build: "
            f"{seen} of them\n"
        )
        print(
            "| current rows | baselines x checks | alarm rate, pooled | per baseline: p95 | "
            "max | per baseline <= 5 % | notified, pooled | plain two-sample tests: pooled, "
            "max per baseline | timestamp, request_id alarms | seconds |"
        )
        print("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
        for cell in a.cells:
            n, runs = (int(x) for x in cell.split(":"))
            t0 = time.perf_counter()
            jobs = [(p, a.seed, b, n, runs, a.ref_rows, 0.0) for b, p in enumerate(profiles)]
            res = list(pool.map(run_checks, jobs))
            rates = np.asarray([r["alarms"] / runs for r in res])
            plain = np.asarray([r["plain"] / runs for r in res])
            total = runs * len(res)
            worst = max(r["alarms"] for r in res)
            # The worst of B baselines against a 5 % rate, Bonferroni over the B baselines.
            p_worst = min(1.0, len(res) * binomial_upper(worst, runs, 0.05))
            if rates.max() <= 0.05:
                verdict = "met"
            elif p_worst >= 0.05:
                verdict = f"met: the worst is within chance of 5 % (p {p_worst:.2f})"
            else:
                verdict = f"NOT met (p {p_worst:.3f})"
            print(
                f"| {n:,} | {len(res)} x {runs} | {rates.mean():.1%} | "
                f"{np.quantile(rates, 0.95):.1%} | {rates.max():.1%} | {verdict} | "
                f"{sum(r['notified'] for r in res) / total:.1%} | "
                f"{plain.mean():.1%}, {plain.max():.0%} | "
                f"{sum(r['excluded'] for r in res)} | {time.perf_counter() - t0:.0f} |",
                flush=True,
            )
        kept = keep_rows(a)
        print(
            '\nWith `"keep": true`, in 30 checks of 1,000 rows (3 baselines): '
            + ", ".join(f"{k} alarms in {v}" for k, v in kept.items())
            + ".\n"
        )
        print(
            "| 0.1 sd shift of `normal`, current rows | checks | drifted | graded >= "
            f"notify_at ({policy.notify_at}) | check notified | grades |"
        )
        print("|---:|---:|---:|---:|---:|---|")
        for cell in a.shift_cells:
            n, runs = (int(x) for x in cell.split(":"))
            jobs = [(p, a.seed, b, n, runs, a.ref_rows, 0.1) for b, p in enumerate(profiles)]
            res = list(pool.map(run_checks, jobs))
            checks = runs * len(res)
            grades = {k: sum(r.get(f"grade {k}", 0) for r in res) for k in RANK}
            words = ", ".join(
                f"{k} {v}" for k, v in sorted(grades.items(), key=lambda kv: -RANK[kv[0]]) if v
            )
            print(
                f"| {n:,} | {checks} | {sum(r['drifted'] for r in res) / checks:.0%} | "
                f"{sum(r['graded'] for r in res) / checks:.0%} | "
                f"{sum(r['notified'] for r in res) / checks:.0%} | {words} |",
                flush=True,
            )
    print(f"\n{time.perf_counter() - t_all:.0f} s in all")
    return 0


def keep_rows(a: argparse.Namespace) -> dict[str, int]:
    """In how many of 30 checks (3 baselines x 10, 1,000 rows) the timestamp and the
    request id, kept by ``"keep": true``, alarm."""
    policy = DriftPolicy(payload=schema(keep=True))
    hits = dict.fromkeys(EXCLUDED, 0)
    for b in range(3):
        rng = np.random.default_rng([a.seed, b, 7])
        profile, _ = screened_profile(
            sample(rng, a.ref_rows, 0), schema(keep=True), datetime.now(UTC)
        )
        for i in range(10):
            cols = sample(rng, 1000, a.ref_rows + i * 1000)
            report = decide(profile, summarise(cols, profile), policy)
            for f in report.features:
                if f.name in hits:
                    hits[f.name] += f.drifted
    return hits


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
