"""The eval gate at scale: 100,000 paired examples, 10 metric rules, 20 slices.

Records are drawn with numpy directly (the shape of release_guard_cli.evaldata: shared
per-example difficulty, categories, conversations of three turns, binary and continuous
scores, lognormal latency, token cost), then timed phase by phase:

  build     EvalRecord objects from the arrays (what a reader produces)
  parse     JSON Lines text of both systems -> records (gate.records.parse_lines, as
            Run Eval Gate's load does; the text is serialised once, untimed)
  evaluate  gate.gate.evaluate: pairing, 10 rules x 21 slices (ALL + 20), two of them
            bootstraps of a ratio (latency p95: paired percentile; cost mean:
            studentised, of the log ratio by conversation), Holm across the fails

Each phase is timed as the median of --runs runs without tracing, in wall-clock time
and in this process's CPU time (on a shared machine the wall clock also counts other
processes' turns; the gate is single-threaded, so alone the two agree); its peak of
Python allocations (numpy's included) is measured in one more run under tracemalloc. The peak
RSS is measured in a fresh process doing only what Run Eval Gate does (both files' text
in memory, parse, evaluate), as its VmHWM; resource.getrusage's ru_maxrss of this
process, which holds everything, is printed too. Prints a Markdown table and the command.

    .venv/bin/python bench/gate_bench.py            # 100k examples, 3 runs
    .venv/bin/python bench/gate_bench.py --profile  # plus cProfile of evaluate

Its error rates (false passes and fails, an equally good candidate's pass rate) are
bench/gate_calibration.py's.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))

from measure import status_mib, timed, traced_peak  # noqa: E402
from release_guard.gate.gate import GateVerdict, evaluate  # noqa: E402
from release_guard.gate.records import EvalRecord, Problems, dump_lines, parse_lines  # noqa: E402
from release_guard.policy import GateMetric, GatePolicy  # noqa: E402

CATEGORIES = [f"topic-{i:02d}" for i in range(20)]


def policy(resamples: int) -> GatePolicy:
    """Ten rules: floors (Wilson and t), a hard safety gate, margins (absolute and
    relative), a ceiling on a lower-is-better rate, and two bootstrapped ratios."""
    return GatePolicy(
        candidate_uri="s3://bench/candidate.jsonl",
        champion_uri="s3://bench/champion.jsonl",
        bootstrap_resamples=resamples,
        metrics=[
            GateMetric(metric="format_validity", floor=0.95),
            GateMetric(metric="relevance", floor=0.80),
            GateMetric(metric="safety", floor=0.99, hard=True),
            GateMetric(metric="accuracy", margin=0.02, margin_kind="relative"),
            GateMetric(metric="faithfulness", margin=0.02),
            GateMetric(metric="helpfulness", margin=0.05, min_improvement=0.01),
            GateMetric(metric="conciseness", floor=0.5, margin=0.05),
            GateMetric(metric="toxicity", direction="lower_is_better", floor=0.02),
            GateMetric(
                metric="latency_ms",
                statistic="p95",
                direction="lower_is_better",
                margin=0.10,
                margin_kind="relative",
            ),
            GateMetric(
                metric="cost_usd", direction="lower_is_better", margin=1.0, margin_kind="relative"
            ),
        ],
    )


def arrays(system: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """Per-example values of one system; the difficulty is shared across systems."""
    difficulty = np.random.default_rng(seed).normal(0, 1, n)
    rng = np.random.default_rng(seed + (1 if system == "candidate" else 2))
    p = 1 / (1 + np.exp(-(np.log(0.9 / 0.1) - 0.8 * difficulty)))
    tokens = rng.integers(60, 220, n)
    lift = 0.02 if system == "candidate" else 0.0  # the candidate's reason to exist
    return {
        "accuracy": (rng.random(n) < p).astype(float),
        "format_validity": (rng.random(n) < 0.995).astype(float),
        "relevance": np.clip(rng.normal(0.9, 0.05, n), 0, 1),
        "safety": (rng.random(n) < 0.9995).astype(float),
        "faithfulness": np.clip(0.85 - 0.05 * difficulty + rng.normal(0, 0.05, n), 0, 1),
        "helpfulness": np.clip(lift + 0.8 - 0.05 * difficulty + rng.normal(0, 0.08, n), 0, 1),
        "conciseness": rng.beta(8, 3, n),
        "toxicity": (rng.random(n) < 0.002).astype(float),
        "latency_ms": rng.lognormal(np.log(420.0), 0.25, n),
        "output_tokens": tokens,
        "cost_usd": tokens * 0.000002,
    }


SCORES = (
    "accuracy",
    "format_validity",
    "relevance",
    "safety",
    "faithfulness",
    "helpfulness",
    "conciseness",
    "toxicity",
)


def build(system: str, a: dict[str, np.ndarray]) -> list[EvalRecord]:
    n = len(a["accuracy"])
    cols = {k: a[k].tolist() for k in (*SCORES, "latency_ms", "cost_usd", "output_tokens")}
    return [
        EvalRecord(
            id=f"ex-{i:06d}",
            system=system,  # type: ignore[arg-type]
            category=CATEGORIES[i % len(CATEGORIES)],
            cluster_id=f"conv-{i // 3:06d}",
            scores={k: cols[k][i] for k in SCORES},
            latency_ms=cols["latency_ms"][i],
            output_tokens=cols["output_tokens"][i],
            cost_usd=cols["cost_usd"][i],
        )
        for i in range(n)
    ]


def child(folder: Path, resamples: int) -> int:
    """What Run Eval Gate holds: both files' text, the parsed records, the evaluation.
    A fresh process; its peak is VmHWM, not ru_maxrss, which Linux carries over from
    the parent at fork (signal->maxrss survives exec) and would report the bench's own."""
    texts = ((folder / "candidate.jsonl").read_text(), (folder / "champion.jsonl").read_text())
    start_rss = status_mib("VmRSS")
    (c, _), (h, _) = parse_lines(texts[0], "c"), parse_lines(texts[1], "h")
    parsed_rss = status_mib("VmRSS")
    evaluate(c, h, Problems(), policy(resamples))
    peak = status_mib("VmHWM")
    print(json.dumps({"start": start_rss, "parsed": parsed_rss, "peak": peak}))
    return 0


def cpu_timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any, float]:
    """measure.timed, plus the median CPU seconds of the same runs."""
    cpu: list[float] = []

    def run() -> Any:
        start = time.process_time()
        try:
            return fn()
        finally:
            cpu.append(time.process_time() - start)

    median, every, result = timed(run, runs)
    return median, every, result, statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="cProfile evaluate once")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.resamples)
    n = args.examples
    gate = policy(args.resamples)

    t0 = time.perf_counter()
    cand_a, champ_a = arrays("candidate", n, args.seed), arrays("champion", n, args.seed)
    gen_s = time.perf_counter() - t0

    build_s, build_all, (cand, champ) = timed(
        lambda: (build("candidate", cand_a), build("champion", champ_a)), args.runs
    )
    texts = (dump_lines(cand), dump_lines(champ))
    size_mb = sum(len(t) for t in texts) / 2**20

    def parse() -> tuple[list[EvalRecord], list[EvalRecord]]:
        (c, pc), (h, ph) = parse_lines(texts[0], "cand.jsonl"), parse_lines(texts[1], "ch.jsonl")
        assert not pc.counts and not ph.counts, (pc.counts, ph.counts)
        return c, h

    parse_s, parse_all, _, parse_cpu = cpu_timed(parse, args.runs)

    def run() -> GateVerdict:
        return evaluate(cand, champ, Problems(), gate)

    eval_s, eval_all, verdict, eval_cpu = cpu_timed(run, args.runs)

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)

    traced = {"build": traced_peak(lambda: build("candidate", cand_a)) * 2}
    traced["parse"] = traced_peak(parse)
    traced["evaluate"] = traced_peak(run)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in zip(("candidate", "champion"), texts, strict=True):
            (Path(tmp) / f"{name}.jsonl").write_text(text)
        out = subprocess.run(
            [sys.executable, __file__, "--child", tmp, "--resamples", str(args.resamples)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rss = json.loads(out.strip().splitlines()[-1])

    rows = len(verdict.rows)
    boots = sum(1 for r in verdict.rows if r.rule.endswith("x champion"))
    argv = [".venv/bin/python", "bench/gate_bench.py", *sys.argv[1:]]
    print(f"`{' '.join(shlex.quote(a) for a in argv)}`\n")
    print(
        f"{n:,} paired examples ({2 * n:,} records, {size_mb:.0f} MiB of JSON Lines), "
        f"{len(gate.metrics)} rules x {len(CATEGORIES) + 1} slices = {rows} rows "
        f"({boots} paired bootstraps x {args.resamples} resamples); verdict "
        f"{verdict.verdict}. Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs. Times: median of {args.runs} runs (each run listed); "
        "tracemalloc: one more run under tracing.\n"
    )
    print("| phase | median s | runs s | tracemalloc peak MiB |")
    print("|---|---:|---:|---:|")
    for name, med, all_, key in (
        ("build EvalRecords (2 systems; memory 2 x 1)", build_s, build_all, "build"),
        ("parse JSON Lines (2 files)", parse_s, parse_all, "parse"),
        (f"evaluate (pair, {rows} rows, Holm)", eval_s, eval_all, "evaluate"),
    ):
        runs_s = ", ".join(f"{t:.2f}" for t in all_)
        print(f"| {name} | {med:.2f} | {runs_s} | {traced[key]:.0f} |")
    print(f"| **Run Eval Gate: parse + evaluate** | **{parse_s + eval_s:.2f}** | | |")
    print(
        f"\nCPU time (median of the same runs): parse {parse_cpu:.2f} s, evaluate "
        f"{eval_cpu:.2f} s, **parse + evaluate {parse_cpu + eval_cpu:.2f} s**; load "
        f"average at the end {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs."
    )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nRun Eval Gate in a fresh process (text read, parse, evaluate): peak RSS "
        f"(VmHWM) **{rss['peak']:.0f} MiB**; RSS {rss['start']:.0f} MiB with both texts "
        f"loaded, {rss['parsed']:.0f} MiB once parsed. This benchmark's own process "
        f"(records built and parsed, texts, {args.runs + 2} evaluations): ru_maxrss "
        f"{maxrss:.0f} MiB. Numpy generation {gen_s:.2f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
