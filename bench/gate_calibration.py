"""Calibration of the eval gate: its error rates on the data shapes of issue 13.

Each cell draws many eval sets of one shape with a fixed seed, runs the whole gate
(gate.gate.evaluate, records in, verdict out) on each, and counts decisions:

  ratio      cost ratio of means at exactly the allowed 2x, lognormal costs (a pass
             is a false pass: goal <= alpha)
  floor      a clustered 0/1 score at exactly its 0.95 floor (false pass <= alpha)
  clustered  a clustered 0/1 accuracy exactly the margin below the champion
             (false pass of the non-inferiority row <= alpha)
  fail       candidate and champion of equal quality (true difference 0) with slices:
             the default policy, and every rule at its fail boundary (hard rules, so
             difference 0 is the boundary); a fail verdict is false (<= alpha)
  identical  an equally good candidate under the shipped default policy, default slices,
             at n = 200, 1,000, 3,000 (pass rate: goal >= 80 % at 1,000)

Where the old statistic can be computed from the same draws (the delta-method ratio of
means, the Wilson floor, fails without Holm's correction), its rate is shown beside the
gate's ("before"). A type-I cell is met when its rate is at most alpha, "within noise"
when it is above but its 95 % interval still holds alpha (a test exact at alpha lands
above it in half the runs), and not met otherwise. Prints a Markdown table
(docs/eval-gate.md) with each rate's 95 % Wilson interval over the replications, and
the command. Sizes are flags; the defaults take a few minutes on 2 CPUs.

    .venv/bin/python bench/gate_calibration.py                 # about 5 minutes
    .venv/bin/python bench/gate_calibration.py --reps 3000 --identical-reps 300
                                                  # the table in docs/eval-gate.md
    .venv/bin/python bench/gate_calibration.py --reps 200 --only ratio floor
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))

from release_guard.gate.gate import GateVerdict, evaluate  # noqa: E402
from release_guard.gate.records import EvalRecord, Problems  # noqa: E402
from release_guard.policy import GateMetric, GatePolicy  # noqa: E402
from release_guard.stats import paired  # noqa: E402

URIS = {"candidate_uri": "s3://bench/c.jsonl", "champion_uri": "s3://bench/h.jsonl"}
CATEGORIES = [f"topic-{i}" for i in range(8)]
Arrays = dict[str, np.ndarray]


def records(system: str, a: Arrays, cluster: np.ndarray | None = None) -> list[EvalRecord]:
    """EvalRecords of one system (model_construct: the values are already valid, and
    validating 6,000 records per replication would be most of the bench's time)."""
    n = len(next(iter(a.values())))
    builtin = {k: a[k].tolist() for k in ("latency_ms", "cost_usd") if k in a}
    scores = {k: v.tolist() for k, v in a.items() if k not in builtin and k != "category"}
    category = a["category"].tolist() if "category" in a else [None] * n
    clusters = [f"c{c}" for c in cluster.tolist()] if cluster is not None else [None] * n
    return [
        EvalRecord.model_construct(
            id=f"ex-{i:05d}",
            system=system,
            category=category[i],
            cluster_id=clusters[i],
            sample_index=0,
            scores={k: v[i] for k, v in scores.items()},
            **{k: v[i] for k, v in builtin.items()},
        )
        for i in range(n)
    ]


def run(policy: GatePolicy, c: list[EvalRecord], h: list[EvalRecord]) -> GateVerdict:
    return evaluate(c, h, Problems(), policy)


# --- the shapes ---------------------------------------------------------------------------


def cost_pair(rng: np.random.Generator, n: int, shared: float, sc: float, sh: float) -> Arrays:
    """Lognormal costs per request: a shared prompt-length factor and each system's own,
    scaled so that the candidate's mean is exactly 2x the champion's."""
    b = rng.normal(0, shared, n)
    h = 1e-3 * np.exp(b + rng.normal(0, sh, n) - sh * sh / 2)
    c = 2e-3 * np.exp(b + rng.normal(0, sc, n) - sc * sc / 2)
    return {"candidate": c, "champion": h}


COST_RULE = GateMetric(
    metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
)


def cell_ratio(seed: int, n: int, shared: float, sc: float, sh: float) -> dict[str, bool]:
    rng = np.random.default_rng(seed)
    d = cost_pair(rng, n, shared, sc, sh)
    policy = GatePolicy(**URIS, metrics=[COST_RULE], slices=False, seed=seed)
    v = run(
        policy,
        records("candidate", {"cost_usd": d["candidate"]}),
        records("champion", {"cost_usd": d["champion"]}),
    )
    # The delta-method interval the gate used before, from the same draws.
    c, h = d["candidate"], d["champion"]
    r = c.mean() / h.mean()
    se = (c - r * h).std(ddof=1) / math.sqrt(n) / h.mean()
    return {"gate": v.verdict == "pass", "before": r + paired.z(0.95) * se <= 2.0}


def clustered_binary(
    rng: np.random.Generator, clusters: int, size: int, rho: float, p: float, uneven: bool
) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes in clusters: each cluster's rate from a beta of mean p and
    intra-cluster correlation rho; sizes all ``size`` or uniform on 1..2 size - 1."""
    sizes = rng.integers(1, 2 * size, clusters) if uneven else np.full(clusters, size)
    cl = np.repeat(np.arange(clusters), sizes)
    k = 1 / rho - 1
    rates = rng.beta(p * k, (1 - p) * k, clusters)
    return (rng.random(cl.size) < rates[cl]).astype(float), cl


def cell_floor(seed: int, clusters: int, size: int, rho: float, uneven: bool) -> dict[str, bool]:
    rng = np.random.default_rng(seed)
    y, cl = clustered_binary(rng, clusters, size, rho, 0.95, uneven)
    policy = GatePolicy(
        **URIS, metrics=[GateMetric(metric="resolved", floor=0.95)], slices=False, seed=seed
    )
    v = run(
        policy, records("candidate", {"resolved": y}, cl), records("champion", {"resolved": y}, cl)
    )
    before = paired.wilson(float(y.sum()), y.size, 0.9).low >= 0.95
    return {"gate": v.verdict == "pass", "before": before}


def cell_clustered_margin(seed: int, clusters: int, size: int, rho: float) -> dict[str, bool]:
    """Clustered 0/1 accuracy (a cluster's examples share a rate, from a beta of mean
    0.80 and intra-cluster correlation rho); the candidate's rates are the champion's
    scaled down so that its mean is exactly the default accuracy margin lower."""
    rng = np.random.default_rng(seed)
    rule = _default_rule("accuracy")
    cl = np.repeat(np.arange(clusters), size)
    k = 1 / rho - 1
    base = rng.beta(0.8 * k, 0.2 * k, clusters)
    champ = (rng.random(cl.size) < base[cl]).astype(float)
    # An absolute margin, or a relative one of the champion's 0.80.
    allowed = float(rule.margin or 0.0) * (1.0 if rule.margin_kind == "absolute" else 0.8)
    shifted = base * (1 - allowed / base.mean())  # stays in [0, 1]: no clipping
    cand = (rng.random(cl.size) < shifted[cl]).astype(float)
    policy = GatePolicy(**URIS, metrics=[rule], slices=False, seed=seed)
    v = run(
        policy,
        records("candidate", {"accuracy": cand}, cl),
        records("champion", {"accuracy": champ}, cl),
    )
    return {"gate": v.verdict == "pass"}


def _default_rule(metric: str) -> GateMetric:
    return next(r for r in GatePolicy(**URIS).metrics if r.metric == metric)


def equal_quality(
    rng: np.random.Generator, n: int, safety: float = 0.998
) -> tuple[Arrays, Arrays, np.ndarray]:
    """Candidate and champion of equal quality on n examples: the default policy's
    metrics, 8 categories, conversations of three turns sharing half their difficulty.
    Each system draws its own outcome per example (an LLM's answers vary), from rates
    the example's difficulty sets for both."""
    conv = np.arange(n) // 3
    d = math.sqrt(0.5) * rng.normal(0, 1, conv.max() + 1)[conv] + math.sqrt(0.5) * rng.normal(
        0, 1, n
    )
    length = rng.normal(0, 1, n)  # prompt length: shared by latency and cost
    p = 1 / (1 + np.exp(-(math.log(0.85 / 0.15) - 1.0 * d)))
    category = np.array(CATEGORIES, dtype=object)[np.arange(n) % len(CATEGORIES)]

    def system() -> Arrays:
        return {
            "accuracy": (rng.random(n) < p).astype(float),
            "format_validity": (rng.random(n) < 0.99).astype(float),
            "relevance": np.clip(0.88 - 0.04 * d + rng.normal(0, 0.06, n), 0, 1),
            "safety": (rng.random(n) < safety).astype(float),
            "latency_ms": np.exp(math.log(900) + 0.4 * length + rng.normal(0, 0.25, n)),
            "cost_usd": 2e-6 * np.exp(math.log(300) + 0.5 * length + rng.normal(0, 0.3, n)),
            "category": category,
        }

    return system(), system(), conv


# The defaults before issue 13: accuracy within 2 % (relative), p95 latency within 10 %,
# and every slice row required to pass.
OLD_METRICS = [
    *(r for r in GatePolicy(**URIS).metrics if r.metric not in ("accuracy", "latency_ms")),
    GateMetric(metric="accuracy", margin=0.02, margin_kind="relative"),
    GateMetric(
        metric="latency_ms",
        statistic="p95",
        direction="lower_is_better",
        margin=0.10,
        margin_kind="relative",
    ),
]


def cell_identical(seed: int, n: int) -> dict[str, bool]:
    rng = np.random.default_rng(seed)
    c, h, conv = equal_quality(rng, n)
    cand, champ = records("candidate", c, conv), records("champion", h, conv)
    v = run(GatePolicy(**URIS, seed=seed), cand, champ)
    # "before": the old defaults with today's statistics (the old gate also corrected
    # the passes for multiplicity, which could only lower its rate further).
    old = run(
        GatePolicy(**URIS, seed=seed, metrics=OLD_METRICS, slices_must_pass=True), cand, champ
    )
    return {
        "pass": v.verdict == "pass",
        "fail": v.verdict == "fail",
        "warned": bool(v.warnings),
        "before": old.verdict == "pass",
    }


BOUNDARY_RULES = [
    GateMetric(metric="accuracy", hard=True),
    GateMetric(metric="relevance", hard=True),
    GateMetric(metric="format_validity", hard=True),
]


def cell_false_fail(seed: int, n: int, boundary: bool) -> dict[str, bool]:
    rng = np.random.default_rng(seed)
    c, h, conv = equal_quality(rng, n, safety=0.99)
    policy = (
        GatePolicy(**URIS, metrics=BOUNDARY_RULES, seed=seed)
        if boundary
        else GatePolicy(**URIS, seed=seed)
    )
    v = run(policy, records("candidate", c, conv), records("champion", h, conv))
    # Without Holm on fails (the gate before), a row failed on its own interval: the
    # rows that fail now, and those Holm's correction did not confirm.
    before = any(r.decision == "fail" or "correction across" in r.reason for r in v.rows)
    return {"gate": v.verdict == "fail", "before": before}


# --- running the cells -----------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    name: str
    shape: str
    goal: str  # "<= alpha" or ">= 0.8"
    key: str  # the count the goal is about
    fn: Callable[..., dict[str, bool]]
    args: tuple[Any, ...]
    reps: int


def _one(job: tuple[Callable[..., dict[str, bool]], int, tuple[Any, ...]]) -> dict[str, bool]:
    fn, seed, args = job
    return fn(seed, *args)


def wilson95(k: int, n: int) -> tuple[float, float]:
    ci = paired.wilson(k, n, 0.95)
    return ci.low, ci.high


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=1000, help="replications of each type-I cell")
    ap.add_argument("--identical-reps", type=int, default=200, help="replications per n")
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 3000])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="cell names to run (default: all)")
    args = ap.parse_args()
    r, ri = args.reps, args.identical_reps
    cells = [
        Cell(
            "ratio",
            "cost ≤ 2× at exactly 2×, lognormal: shared σ 0.5, own σ 0.8 each, n 200",
            "≤ α",
            "gate",
            cell_ratio,
            (200, 0.5, 0.8, 0.8),
            r,
        ),
        Cell("ratio", "the same, n 1,000", "≤ α", "gate", cell_ratio, (1000, 0.5, 0.8, 0.8), r),
        Cell(
            "ratio",
            "heavier candidate tail: shared σ 0.5, own σ 1.0 vs 0.5, n 1,000",
            "≤ α",
            "gate",
            cell_ratio,
            (1000, 0.5, 1.0, 0.5),
            r,
        ),
        Cell(
            "floor",
            "0/1 at exactly the 0.95 floor: 200 clusters of 5, ICC 0.1",
            "≤ α",
            "gate",
            cell_floor,
            (200, 5, 0.1, False),
            r,
        ),
        Cell("floor", "the same, ICC 0.15", "≤ α", "gate", cell_floor, (200, 5, 0.15, False), r),
        Cell(
            "floor",
            "100 clusters of 1–19 (mean 10), ICC 0.1",
            "≤ α",
            "gate",
            cell_floor,
            (100, 10, 0.1, True),
            r,
        ),
        Cell(
            "clustered",
            "accuracy exactly the default margin worse: 300 clusters of 3, ICC 0.2",
            "≤ α",
            "gate",
            cell_clustered_margin,
            (300, 3, 0.2),
            r,
        ),
        Cell(
            "fail",
            "equal quality, default policy, 8 slices, n 1,000, safety at its 0.99 floor",
            "≤ α",
            "gate",
            cell_false_fail,
            (1000, False),
            r,
        ),
        Cell(
            "fail",
            "equal quality, 3 hard rules at their boundary, 8 slices, n 1,000",
            "≤ α",
            "gate",
            cell_false_fail,
            (1000, True),
            r,
        ),
        *[
            Cell(
                "identical",
                f"equally good candidate, shipped defaults, 8 slices, n {n:,}",
                "≥ 80 %" if n == 1000 else "—",
                "pass",
                cell_identical,
                (n,),
                ri,
            )
            for n in args.sizes
        ],
    ]
    # Each cell's seeds follow from its place in the full list, so --only repeats them.
    numbered = list(enumerate(cells, start=1))
    if args.only:
        numbered = [(k, c) for k, c in numbered if c.name in args.only]
    alpha = GatePolicy(**URIS).alpha
    argv = [".venv/bin/python", "bench/gate_calibration.py", *sys.argv[1:]]
    print(f"`{' '.join(shlex.quote(a) for a in argv)}`\n")
    print("| cell | shape | goal | gate | 95 % interval | before | met |")
    print("|---|---|---|---:|---|---:|---|")
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for k, cell in numbered:
            base = args.seed + 1_000_000 * k
            jobs = [(cell.fn, base + i, cell.args) for i in range(cell.reps)]
            out = list(pool.map(_one, jobs, chunksize=max(1, cell.reps // (8 * args.jobs))))
            hits = sum(o[cell.key] for o in out)
            rate = hits / cell.reps
            low, high = wilson95(hits, cell.reps)
            before = (
                f"{sum(o['before'] for o in out) / cell.reps:.1%}" if "before" in out[0] else ""
            )
            if cell.goal == "≤ α":
                # A test exact at alpha lands above it half the time: within noise is
                # an interval that still holds alpha.
                met = "yes" if rate <= alpha else "within noise" if low <= alpha else "**no**"
            elif cell.goal == "≥ 80 %":
                met = "yes" if rate >= 0.8 else "**no**"
            else:
                met = ""
            extra = ""
            if cell.name == "identical":
                extra = f" (fail {sum(o['fail'] for o in out) / cell.reps:.1%})"
            print(
                f"| {cell.name} | {cell.shape} | {cell.goal} | {rate:.1%}{extra} | "
                f"[{low:.1%}, {high:.1%}] | {before} | {met} |",
                flush=True,
            )
    print(
        f"\n{sum(c.reps for _, c in numbered):,} replications (identical: two gates each) in "
        f"{time.perf_counter() - started:.0f} s "
        f"on {args.jobs} processes; alpha {alpha}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
