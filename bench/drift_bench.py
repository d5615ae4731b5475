"""Drift checks on one generated dataset: release-guard, per-column scipy, Evidently, and
the floor of one sort. `make bench-drift` runs it.

Data (bench/drift_data.py): reference and current samples of --n rows each (200,000),
50 numeric features of ten shapes (ten with ~2 % NaN) and 5 categorical ones (3 to 30
levels), 11 injected drifts of different kinds, each on its own feature.

Methods, all given the same arrays:
  sort floor        np.sort of the current numeric data (n x 50, column-major), axis 0
  scipy per-column  ks_2samp per numeric column (NaN dropped) and chi2_contingency of the
                    category counts (collections.Counter) per categorical; flagged at
                    p < 0.05 with no multiplicity correction (as commonly done), and at
                    p < 0.05 / 55 (Bonferroni). Both variants share one timing.
  release-guard     the adapter below: reference profile built once (timed apart), the
                    check = summarise(current) + decide
  evidently         bench/drift_evidently.py in .venv-bench: Report([DataDriftPreset()])
                    with default settings; the main figure is Dataset.from_pandas (both
                    frames) + Report.run on prebuilt DataFrames

Wall time: median of --runs runs (each listed), gc.collect() before each; the sort
floor and the release-guard check alternate run by run, and the target is the median
of their per-run ratios. Memory:
tracemalloc peak of one more run (numpy buffers included, so it is the method's own
allocation above the data it is given). Evidently also reports its process's peak RSS
(VmHWM), which includes the interpreter, pandas, evidently and both DataFrames.

False alarms: --fa-k fresh no-drift datasets of --fa-n rows per side (K=200 at 20,000
rows: smaller n than the main run so that 200 repeats stay quick), each with its own
reference; Evidently runs on the first --ev-fa-k of them. Reported per check (any
feature flagged; Wilson 95 % interval) and per feature.

    .venv/bin/python bench/drift_bench.py                 # full size
    .venv/bin/python bench/drift_bench.py --quick         # smoke run
    .venv/bin/python bench/drift_bench.py --out out/drift-bench.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from scipy.stats import chi2_contingency, ks_2samp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import drift_data  # noqa: E402
from measure import timed, traced_peak  # noqa: E402

EVIDENTLY_PY = ROOT / ".venv-bench" / "bin" / "python"
ALPHA = 0.05

Data = dict[str, Any]


# --- release-guard: the only code that touches its drift API -----------------------------


def release_guard_adapter() -> tuple[Callable[[Data], Any], Callable[..., Any], Callable[..., Any]]:
    """(to_columns, profile, check) over release-guard's drift API; ImportError if absent.

    to_columns(data) -> Columns: what parsing a capture produces (untimed).
    profile(ref_columns) -> Profile: the baseline, built once per reference.
    check(profile, cur_columns) -> {feature: severity} of the drifted features: the
    timed check, summarise + decide with the default DriftPolicy.
    """
    from release_guard.drift.columns import Columns
    from release_guard.drift.decide import decide
    from release_guard.drift.profile import build_profile
    from release_guard.drift.summary import summarise
    from release_guard.policy import DriftPolicy, FeatureSpec, PayloadSchema

    def to_columns(d: Data) -> Columns:
        numeric = {
            name: np.ascontiguousarray(d["numeric"][:, j], dtype=np.float64)
            for j, name in enumerate(d["numeric_names"])
        }
        categorical = {
            name: d["categorical"][j].tolist() for j, name in enumerate(d["categorical_names"])
        }
        return Columns(
            rows={"input": int(d["numeric"].shape[0])},
            numeric=numeric,
            categorical=categorical,
            source=dict.fromkeys([*numeric, *categorical], "input"),
        )

    def profile(ref: Columns) -> Any:
        schema = PayloadSchema(
            input_format="csv",
            features=[FeatureSpec(name=n, kind="numeric") for n in ref.numeric]
            + [FeatureSpec(name=n, kind="categorical") for n in ref.categorical],
        )
        return build_profile(ref, schema, datetime.now(UTC))

    def check(prof: Any, cur: Columns) -> dict[str, str]:
        report = decide(prof, summarise(cur, prof), DriftPolicy(payload=prof.payload))
        return {f.name: str(f.severity) for f in report.features if f.drifted}

    return to_columns, profile, check


def release_guard_check(ref: Data, cur: Data) -> dict[str, str]:
    """Drifted features of ``cur`` against ``ref``, by release-guard."""
    to_columns, profile, check = release_guard_adapter()
    return check(profile(to_columns(ref)), to_columns(cur))


# --- the other methods -----------------------------------------------------------------


def sort_floor(cur: Data) -> np.ndarray:
    return np.sort(cur["numeric"], axis=0)


def scipy_pvalues(ref: Data, cur: Data) -> dict[str, float]:
    """ks_2samp per numeric column (NaN dropped), chi2_contingency per categorical."""
    p: dict[str, float] = {}
    rn, cn = ref["numeric"], cur["numeric"]
    for j, name in enumerate(ref["numeric_names"]):
        a, b = rn[:, j], cn[:, j]
        p[name] = float(ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)]).pvalue)
    for j, name in enumerate(ref["categorical_names"]):
        ca, cb = Counter(ref["categorical"][j]), Counter(cur["categorical"][j])
        levels = sorted(ca.keys() | cb.keys())
        table = np.array([[ca[k] for k in levels], [cb[k] for k in levels]])
        p[name] = float(chi2_contingency(table).pvalue)
    return p


def scipy_flags(p: dict[str, float]) -> tuple[set[str], set[str]]:
    return {k for k, v in p.items() if v < ALPHA}, {k for k, v in p.items() if v < ALPHA / len(p)}


# --- measuring ---------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


@dataclass
class Result:
    name: str
    check_s: float | None = None
    runs_s: list[float] = field(default_factory=list)
    traced_mib: float | None = None
    rss_mib: float | None = None
    flagged: Iterable[str] | None = None  # on the drifted dataset
    severity: dict[str, str] = field(default_factory=dict)
    fa_flags: list[set[str]] = field(default_factory=list)  # per no-drift dataset
    fa_n: int = 0
    note: str = ""
    pair_ratios: list[float] = field(default_factory=list)  # check / floor, run by run


# --- Evidently, in its own environment -----------------------------------------------------


class Encoder:
    """Categorical strings -> integer codes, one growing level list per feature."""

    def __init__(self, names: list[str]) -> None:
        self.lut: dict[str, dict[str, int]] = {n: {} for n in names}

    def codes(self, name: str, values: np.ndarray) -> np.ndarray:
        lut = self.lut[name]
        return np.fromiter((lut.setdefault(v, len(lut)) for v in values), np.int32, len(values))

    def levels(self) -> dict[str, list[str]]:
        return {n: sorted(lut, key=lut.__getitem__) for n, lut in self.lut.items()}


def save_npz(path: Path, ref: Data, cur: Data, enc: Encoder) -> str:
    arrays: dict[str, np.ndarray] = {}
    for side, d in (("ref", ref), ("cur", cur)):
        arrays[f"{side}_numeric"] = d["numeric"]
        for j, name in enumerate(d["categorical_names"]):
            arrays[f"{side}_cat_{j}"] = enc.codes(name, d["categorical"][j])
    np.savez(path, **arrays)
    return str(path)


def run_evidently(
    tmp: Path, main: str, no_drift: list[str], enc: Encoder, ref: Data, runs: int
) -> dict[str, Any]:
    manifest = {
        "numeric_names": ref["numeric_names"],
        "categorical_names": ref["categorical_names"],
        "levels": enc.levels(),
        "main": main,
        "no_drift": no_drift,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    cmd = [str(EVIDENTLY_PY), str(ROOT / "bench" / "drift_evidently.py")]
    cmd += [str(tmp / "manifest.json"), "--runs", str(runs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"drift_evidently.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the run -----------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, help="rows per side in the main run (default 200,000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: small n and K")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fa-n", type=int, help="rows per side of the no-drift datasets")
    ap.add_argument("--fa-k", type=int, help="no-drift datasets for release-guard and scipy")
    ap.add_argument("--ev-fa-k", type=int, help="of which Evidently runs on the first K")
    ap.add_argument("--no-evidently", action="store_true")
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 200_000)
    fa_n = args.fa_n or (5_000 if args.quick else 20_000)
    fa_k = args.fa_k if args.fa_k is not None else (20 if args.quick else 200)
    ev_fa_k = min(fa_k, args.ev_fa_k if args.ev_fa_k is not None else (3 if args.quick else 10))
    runs = args.runs
    args.load_start = os.getloadavg()[0]

    t0 = time.perf_counter()
    ref, cur, truth = drift_data.make(args.seed, n, n, drift=True)
    gen_s = time.perf_counter() - t0
    names = [*ref["numeric_names"], *ref["categorical_names"]]
    drifted = {f for f, _ in truth}
    log(f"data: {n:,} rows per side, {len(names)} features, generated in {gen_s:.1f} s")

    results: list[Result] = []
    notes: list[str] = []

    # sort floor
    floor = Result("sort floor: np.sort(current numeric, axis=0)")
    floor.check_s, floor.runs_s, _ = timed(lambda: sort_floor(cur), runs)
    floor.traced_mib = traced_peak(lambda: sort_floor(cur))
    results.append(floor)
    log(f"sort floor {floor.check_s:.3f} s")

    # scipy per-column
    sp = Result("scipy per-column, p < 0.05 (no correction)")
    spb = Result("scipy per-column, Bonferroni p < 0.05/55")
    sp.check_s, sp.runs_s, pv = timed(lambda: scipy_pvalues(ref, cur), runs)
    spb.check_s, spb.runs_s = sp.check_s, sp.runs_s
    sp.traced_mib = spb.traced_mib = traced_peak(lambda: scipy_pvalues(ref, cur))
    sp.flagged, spb.flagged = scipy_flags(pv)
    spb.note = "same p-values and timing as the row above"
    results += [sp, spb]
    log(f"scipy {sp.check_s:.3f} s")

    # release-guard
    rg: Result | None = Result("release-guard check (summarise + decide)")
    rg_profile_s: tuple[float, list[float], float] | None = None
    adapter = None
    try:
        adapter = release_guard_adapter()
    except ImportError as err:
        print(f"release-guard: API not available yet ({err})")
        rg = None
    if adapter is not None and rg is not None:
        to_columns, profile, check = adapter
        try:
            ref_cols, cur_cols = to_columns(ref), to_columns(cur)
            p_s, p_runs, prof = timed(lambda: profile(ref_cols), runs)
            rg_profile_s = (p_s, p_runs, traced_peak(lambda: profile(ref_cols)))
            # Paired with the sort floor, run by run (floor, check, floor, check, ...):
            # the ratio of each pair is the figure, since the machine's speed drifts.
            floor.runs_s, rg.runs_s = [], []
            for _ in range(runs):
                floor.runs_s.append(timed(lambda: sort_floor(cur), 1)[0])
                t_check, _, flags = timed(lambda: check(prof, cur_cols), 1)
                rg.runs_s.append(t_check)
            floor.check_s = statistics.median(floor.runs_s)
            rg.check_s = statistics.median(rg.runs_s)
            rg.pair_ratios = [c / f for c, f in zip(rg.runs_s, floor.runs_s, strict=True)]
            rg.traced_mib = traced_peak(lambda: check(prof, cur_cols))
            rg.flagged, rg.severity = set(flags), flags
            del ref_cols, cur_cols
            log(f"release-guard profile {p_s:.3f} s, check {rg.check_s:.3f} s")
        except Exception:
            print("release-guard: the adapter failed (API changed?):", file=sys.stderr)
            traceback.print_exc()
            notes.append("release-guard: the adapter failed; see stderr")
            rg, adapter = None, None
    if rg is not None:
        results.append(rg)

    # no-drift datasets: release-guard and scipy on all K, Evidently's share saved
    ev: Result | None = None
    use_ev = not args.no_evidently
    if use_ev and not EVIDENTLY_PY.exists():
        print(
            f"evidently: {EVIDENTLY_PY.relative_to(ROOT)} is missing; create it with "
            "`make .venv-bench/.stamp` (or run `make bench-drift`), skipped"
        )
        use_ev = False
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp_s:
        tmp = Path(tmp_s)
        enc = Encoder(ref["categorical_names"])
        ev_paths: list[str] = []
        fa_s = time.perf_counter()
        for k in range(fa_k):
            r0, c0, _ = drift_data.make(10_000 + args.seed * 1_000 + k, fa_n, fa_n, drift=False)
            a, b = scipy_flags(scipy_pvalues(r0, c0))
            sp.fa_flags.append(a)
            spb.fa_flags.append(b)
            if rg is not None and adapter is not None:
                to_columns, profile, check = adapter
                rg.fa_flags.append(set(check(profile(to_columns(r0)), to_columns(c0))))
            if use_ev and k < ev_fa_k:
                ev_paths.append(save_npz(tmp / f"nodrift-{k}.npz", r0, c0, enc))
        sp.fa_n = spb.fa_n = fa_n
        if rg is not None:
            rg.fa_n = fa_n
        log(f"{fa_k} no-drift datasets of {fa_n:,} rows in {time.perf_counter() - fa_s:.1f} s")

        if use_ev:
            ev = Result("Evidently DataDriftPreset (from_pandas + Report.run)")
            try:
                main_path = save_npz(tmp / "main.npz", ref, cur, enc)
                log("evidently: running (its own process)")
                out = run_evidently(tmp, main_path, ev_paths, enc, ref, runs)
                ev.check_s, ev.runs_s = statistics.median(out["run_s"]), out["run_s"]
                ev.traced_mib, ev.rss_mib = out["tracemalloc_peak_mib"], out["peak_rss_mib"]
                ev.flagged = set(out["flagged"])
                ev.fa_flags = [set(f) for f in out["no_drift_flagged"]]
                ev.fa_n = fa_n
                results.append(ev)
                methods = Counter(m.split(" (")[0] for m in out["methods"].values())
                notes.append(
                    f"Evidently {out['evidently']} (pandas {out['pandas']}, numpy "
                    f"{out['numpy']}, Python {out['python']}): import "
                    f"{out['import_s']:.1f} s; numpy -> DataFrames "
                    f"{statistics.median(out['frames_s']):.2f} s (median, untimed in the row); "
                    f"process RSS {out['rss_after_import_mib']:.0f} MiB after import, "
                    f"{out['rss_before_run_mib']:.0f} MiB with both DataFrames, peak (VmHWM) "
                    f"{out['peak_rss_mib']:.0f} MiB, so Report.run adds "
                    f"{out['peak_rss_mib'] - out['rss_before_run_mib']:.0f} MiB; methods "
                    f"picked: {dict(methods)}; no-drift runs at {fa_n:,} rows: "
                    f"{statistics.median(out['no_drift_run_s'] or [float('nan')]):.2f} s each."
                )
                log(f"evidently {ev.check_s:.2f} s")
            except Exception as err:
                print(f"evidently: failed: {err}", file=sys.stderr)
                notes.append("evidently: failed; see stderr")
                ev = None

    text = report(
        args, n, gen_s, names, truth, drifted, results, floor, rg, ev, rg_profile_s, fa_k, notes
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


def report(
    args: argparse.Namespace,
    n: int,
    gen_s: float,
    names: list[str],
    truth: list[tuple[str, str]],
    drifted: set[str],
    results: list[Result],
    floor: Result,
    rg: Result | None,
    ev: Result | None,
    rg_profile_s: tuple[float, list[float], float] | None,
    fa_k: int,
    notes: list[str],
) -> str:
    clean = len(names) - len(drifted)
    argv = [".venv/bin/python", "bench/drift_bench.py", *sys.argv[1:]]
    out = [
        f"`{' '.join(shlex.quote(a) for a in argv)}`",
        "",
        f"{n:,} reference + {n:,} current rows, {len(names)} features (50 numeric, 5 "
        f"categorical), {len(truth)} injected drifts (seed {args.seed}; generated in "
        f"{gen_s:.1f} s). Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, {os.cpu_count()} CPUs, 1-minute load average "
        f"{args.load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (other "
        "work on the machine shows in the times). Wall time: median of "
        f"{args.runs} runs (each listed; the sort floor and the release-guard check "
        "alternate run by run). Memory: tracemalloc peak of one more run "
        "(the method's own allocations, numpy's included); Evidently's process peak RSS "
        "in brackets. False alarms: no-drift datasets, each with its own reference.",
        "",
        "| method | check s (median) | runs s | peak MiB | injected flagged | false flags "
        f"(of {clean} clean) | no-drift: checks with any flag | no-drift: feature flags |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        runs_s = ", ".join(f"{t:.3f}" for t in r.runs_s)
        mem = "" if r.traced_mib is None else f"{r.traced_mib:.0f}"
        if r.rss_mib is not None:
            mem += f" ({r.rss_mib:.0f} RSS)"
        if r.flagged is None:
            found = false = fa_check = fa_feat = "—"
        else:
            fl = set(r.flagged)
            found = f"{len(fl & drifted)} / {len(drifted)}"
            false = str(len(fl - drifted))
            k = len(r.fa_flags)
            hits = sum(1 for f in r.fa_flags if f)
            lo, hi = wilson(hits, k)
            fa_check = f"{hits}/{k} = {hits / k:.1%} [{lo:.1%}, {hi:.1%}] at n={r.fa_n:,}"
            feats = sum(len(f) for f in r.fa_flags)
            fa_feat = f"{feats}/{k * len(names)} = {feats / (k * len(names)):.2%}"
        check = f"{r.check_s:.3f}" if r.check_s is not None else "—"
        out.append(
            f"| {r.name} | {check} | {runs_s} | {mem} | {found} | {false} | {fa_check} | "
            f"{fa_feat} |"
        )
    if rg_profile_s is not None:
        s, all_, mib = rg_profile_s
        out += [
            "",
            f"release-guard reference profile (built once per baseline, not part of the "
            f"check): {s:.3f} s median (runs {', '.join(f'{t:.3f}' for t in all_)}), "
            f"tracemalloc peak {mib:.0f} MiB.",
        ]
    if rg is None:
        out += ["", "release-guard: API not available yet (or the adapter failed)."]

    # per injected drift
    cols = [r for r in results if r.flagged is not None]
    out += [
        "",
        "| injected drift | feature | " + " | ".join(short(r.name) for r in cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for feat, kind in truth:
        cells = []
        for r in cols:
            hit = feat in set(r.flagged or ())
            sev = f" {r.severity[feat]}" if hit and feat in r.severity else ""
            cells.append(f"yes{sev}" if hit else "**no**")
        out.append(f"| {kind} | {feat} | " + " | ".join(cells) + " |")
    for r in cols:
        extra = sorted(set(r.flagged or ()) - drifted)
        if extra:
            out.append(f"\n{short(r.name)} also flagged (not drifted): {', '.join(extra)}")

    # targets
    out += ["", "Targets:"]
    if rg is not None and rg.check_s is not None and floor.check_s:
        pairs = rg.pair_ratios or [rg.check_s / floor.check_s]
        ratio = statistics.median(pairs)
        out.append(
            f"- drift maths within 3x the sort floor: check / floor run by run "
            f"{', '.join(f'{r:.2f}' for r in pairs)}, median {ratio:.2f}x (medians "
            f"{rg.check_s:.3f} / {floor.check_s:.3f} s) ({'met' if ratio <= 3 else 'NOT met'})"
        )
        if ev is not None and ev.check_s is not None:
            speed = ev.check_s / rg.check_s
            out.append(
                f"- >= 100x faster than Evidently: {ev.check_s:.2f} / {rg.check_s:.3f} s = "
                f"{speed:.0f}x ({'met' if speed >= 100 else 'NOT met'})"
            )
        found = len(set(rg.flagged or ()) & drifted)
        k = len(rg.fa_flags)
        hits = sum(1 for f in rg.fa_flags if f)
        rate = hits / k if k else float("nan")
        out.append(
            f"- {len(drifted)}/{len(drifted)} injected drifts flagged: {found}/{len(drifted)} "
            f"({'met' if found == len(drifted) else 'NOT met'}); <= 5 % false alarms per "
            f"check: {rate:.1%} of {k} ({'met' if rate <= 0.05 else 'NOT met'})"
        )
    else:
        out.append("- release-guard not measured: targets not evaluated")
    out += [
        "",
        "Notes:",
        f"- no-drift datasets: {fa_k} for release-guard and scipy"
        + (f", the first {len(ev.fa_flags)} of them for Evidently" if ev is not None else "")
        + "; smaller n than the main run (so K stays affordable); the per-check rate "
        "is what an alert sees, the per-feature rate is the per-test alpha.",
        "- scipy: no multiplicity correction in the first row, as commonly done; "
        "ks_2samp drops NaN, so a change in the missing rate alone is invisible to it.",
        *[f"- {x}" for x in notes],
    ]
    return "\n".join(out)


def short(name: str) -> str:
    return {
        "scipy per-column, p < 0.05 (no correction)": "scipy p<0.05",
        "scipy per-column, Bonferroni p < 0.05/55": "scipy Bonferroni",
        "release-guard check (summarise + decide)": "release-guard",
        "Evidently DataDriftPreset (from_pandas + Report.run)": "Evidently",
    }.get(name, name)


if __name__ == "__main__":
    sys.exit(main())
