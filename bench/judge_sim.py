"""Simulated canary releases through the real judge and step policy, beside the rules
other tools use. `make bench-judge` runs it and rewrites the table in docs/judge.md.

Per minute and variant: Poisson arrivals at the scenario's rate split by the step's
weight, binomial errors (and guardrail triggers), and latency drawn per request from a
lognormal; the period's p95 is drawn exactly as the order statistic of that sample
(Beta-distributed uniform order statistic through the lognormal quantile), which is
what CloudWatch's p95 of the period is, without drawing every request.

Every rule uses the same steps (5, 25, 50, 100 %), looks every minute, and leaves a
step after 10 minutes without an alarm; release-guard additionally requires its
evidence (the default policy, policies/default.json, with no metric delay and
on_insufficient_data "advance", so a release that lacks evidence keeps moving and
never promotes without it).

Rules compared:
  release-guard  the real judge (release_guard.canary.judge.judge)
  naive z        one-sided two-proportion z-test on the step's 5XX (and guardrail)
                 counts, and a one-sided t-test of per-minute log p95, alpha 0.05, at
                 every look
  fixed ratio    step error-rate ratio > 1.1 or this minute's p95 ratio > 1.2
  static alarm   candidate 5XX Sum >= 1 in a minute, or p95 above a static threshold
                 (1.5 x the champion's true p95), one datapoint to alarm
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy import special, stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "release_guard" / "python"))

from release_guard.canary.evidence import Series  # noqa: E402
from release_guard.canary.judge import judge  # noqa: E402
from release_guard.canary.metrics import APP, SAGEMAKER, series_key  # noqa: E402
from release_guard.events import CanaryState  # noqa: E402
from release_guard.policy import ReleasePolicy  # noqa: E402

STEPS = [5.0, 25.0, 50.0, 100.0]
BAKE_MIN = 10
MAX_MIN = 60
SIGMA = 0.5  # lognormal latency spread
MEDIAN_US = 50_000.0
P95_Z = 1.6448536269514722
T0 = datetime(2026, 1, 1, tzinfo=UTC)
APP_NS = "ReleaseGuard/App"

K_INV = series_key(SAGEMAKER, "Invocations", "Sum")
K_5XX = series_key(SAGEMAKER, "Invocation5XXErrors", "Sum")
K_P95 = series_key(SAGEMAKER, "ModelLatency", "p95")
K_LATN = series_key(SAGEMAKER, "ModelLatency", "SampleCount")
K_REQ = series_key(APP_NS, "Requests", "Sum")
K_GUARD = series_key(APP_NS, "GuardrailTriggers", "Sum")
assert APP == "app"


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float  # requests per second, whole endpoint
    err_champ: float
    err_cand: float
    latency: float = 1.0  # candidate latency multiplier (p95 moves with it)
    guard_champ: float | None = None
    guard_cand: float | None = None

    @property
    def aa(self) -> bool:
        return (
            self.err_cand == self.err_champ
            and self.latency == 1.0
            and self.guard_cand == self.guard_champ
        )


SCENARIOS = [
    Scenario("A/A 0.1 % errors, 1 req/s", 1, 0.001, 0.001),
    Scenario("A/A 0.1 % errors, 50 req/s", 50, 0.001, 0.001),
    Scenario("A/A 1 % errors, 1 req/s", 1, 0.01, 0.01),
    Scenario("A/A 1 % errors, 50 req/s", 50, 0.01, 0.01),
    Scenario("A/A 5 % errors, 1 req/s", 1, 0.05, 0.05),
    Scenario("A/A 5 % errors, 50 req/s", 50, 0.05, 0.05),
    Scenario("errors 1 % -> 2 %, 50 req/s", 50, 0.01, 0.02),
    Scenario("errors 1 % -> 5 %, 50 req/s", 50, 0.01, 0.05),
    Scenario("p95 +20 %, 50 req/s", 50, 0.01, 0.01, latency=1.2),
    Scenario("p95 +100 %, 50 req/s", 50, 0.01, 0.01, latency=2.0),
    Scenario("guardrail 2 % -> 6 %, 50 req/s", 50, 0.01, 0.01, guard_champ=0.02, guard_cand=0.06),
]


@dataclass
class Outcome:
    decision: str  # rollback | promote | hold | timeout
    minutes: int
    step: int  # step index at decision
    bad_requests: int  # candidate requests served before the decision


@dataclass
class Trace:
    """Per-minute observations of one release so far."""

    cand: dict[str, list[float]] = field(default_factory=dict)
    champ: dict[str, list[float]] = field(default_factory=dict)
    step_of: list[int] = field(default_factory=list)

    def add(self, side: dict[str, list[float]], values: dict[str, float]) -> None:
        for k, v in values.items():
            side.setdefault(k, []).append(v)


def draw_p95(rng: np.random.Generator, n: int, median: float) -> float:
    if n <= 0:
        return math.nan
    k = max(1, math.ceil(0.95 * n))
    u = rng.beta(k, n - k + 1)
    return float(median * math.exp(SIGMA * special.ndtri(u)))


def simulate_minute(
    rng: np.random.Generator, sc: Scenario, weight: float
) -> tuple[dict[str, float], dict[str, float]]:
    total = rng.poisson(sc.rate * 60)
    n_c = int(rng.binomial(total, weight / 100.0))
    n_h = int(total - n_c)
    out = []
    for n, err, lat, guard in (
        (n_c, sc.err_cand, sc.latency, sc.guard_cand),
        (n_h, sc.err_champ, 1.0, sc.guard_champ),
    ):
        row = {
            K_INV: float(n),
            K_5XX: float(rng.binomial(n, err)),
            K_P95: draw_p95(rng, n, MEDIAN_US * lat),
            K_LATN: float(n),
        }
        if guard is not None:
            row[K_REQ] = float(n)
            row[K_GUARD] = float(rng.binomial(n, guard))
        out.append(row)
    return out[0], out[1]


def run_release(rule: str, sc: Scenario, policy: ReleasePolicy, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    trace = Trace()
    step, step_start, checks = 0, 0, 0
    cand_served = 0
    limit = len(STEPS) * MAX_MIN + 5
    for minute in range(1, limit + 1):
        c, h = simulate_minute(rng, sc, STEPS[step])
        cand_served += int(c[K_INV])
        trace.add(trace.cand, c)
        trace.add(trace.champ, h)
        trace.step_of.append(step)
        elapsed = minute - step_start
        if rule == "release-guard":
            action = rg_action(trace, step, step_start, minute, checks, policy)
            checks += 1
        else:
            action = OTHER_RULES[rule](trace, step, sc)
            if action is None:
                action = "next" if elapsed >= BAKE_MIN else "bake"
        if action == "rollback":
            return Outcome("rollback", minute, step, cand_served)
        if action == "hold":
            return Outcome("hold", minute, step, cand_served)
        if action == "next":
            if step == len(STEPS) - 1:
                return Outcome("promote", minute, step, cand_served)
            step, step_start, checks = step + 1, minute, 0
    return Outcome("timeout", limit, step, cand_served)


def rg_action(
    trace: Trace, step: int, step_start: int, minute: int, checks: int, policy: ReleasePolicy
) -> str:
    mask = np.array(trace.step_of) == step
    series = Series(
        candidate={k: np.array(v) for k, v in trace.cand.items()},
        champion={k: np.array(v) for k, v in trace.champ.items()},
        step=mask,
        period_seconds=60,
    )
    state = CanaryState(
        step_index=step,
        percent=STEPS[step],
        step_started_at=T0 + timedelta(minutes=step_start),
        checks=checks,
    )
    now = T0 + timedelta(minutes=minute)
    verdict = judge(series, state, policy.canary, policy.version, now, (T0, now), intervals=False)
    return {
        "rollback": "rollback",
        "hold": "hold",
        "next_step": "next",
        "promote": "next",
        "keep_baking": "bake",
    }[verdict.action]


# --- the other rules -----------------------------------------------------------------------


def _step(trace: Trace, step: int, side: str, key: str) -> np.ndarray:
    table = trace.cand if side == "c" else trace.champ
    arr = np.array(table.get(key, []), dtype=float)
    return arr[np.array(trace.step_of) == step] if arr.size else arr


def naive_z(trace: Trace, step: int, sc: Scenario) -> str | None:
    for bad, total in ((K_5XX, K_INV), (K_GUARD, K_REQ)):
        xc, nc = _step(trace, step, "c", bad).sum(), _step(trace, step, "c", total).sum()
        xh, nh = _step(trace, step, "h", bad).sum(), _step(trace, step, "h", total).sum()
        if nc == 0 or nh == 0:
            continue
        pool = (xc + xh) / (nc + nh)
        se = math.sqrt(pool * (1 - pool) * (1 / nc + 1 / nh)) if 0 < pool < 1 else 0
        if se > 0 and (xc / nc - xh / nh) / se > 1.6448536269514722:
            return "rollback"
    lc, lh = _step(trace, step, "c", K_P95), _step(trace, step, "h", K_P95)
    ok = np.isfinite(lc) & np.isfinite(lh)
    if ok.sum() >= 3:
        t = stats.ttest_ind(np.log(lc[ok]), np.log(lh[ok]), equal_var=False, alternative="greater")
        if t.pvalue < 0.05:
            return "rollback"
    return None


def fixed_ratio(
    trace: Trace, step: int, sc: Scenario, err: float = 1.1, p95: float = 1.2, min_n: int = 0
) -> str | None:
    xc, nc = _step(trace, step, "c", K_5XX).sum(), _step(trace, step, "c", K_INV).sum()
    xh, nh = _step(trace, step, "h", K_5XX).sum(), _step(trace, step, "h", K_INV).sum()
    if nc > 0 and nh > 0 and nc >= min_n:
        rc, rh = xc / nc, xh / nh
        if (rh == 0 and rc > 0) or (rh > 0 and rc / rh > err):
            return "rollback"
    lc, lh = trace.cand[K_P95][-1], trace.champ[K_P95][-1]
    if math.isfinite(lc) and math.isfinite(lh) and lc / lh > p95:
        return "rollback"
    return None


STATIC_P95 = 1.5 * MEDIAN_US * math.exp(SIGMA * P95_Z)


def static_alarm(
    trace: Trace, step: int, sc: Scenario, errors: float = 1, p95: float = 1.5
) -> str | None:
    if trace.cand[K_5XX][-1] >= errors:
        return "rollback"
    value = trace.cand[K_P95][-1]
    if math.isfinite(value) and value > p95 * MEDIAN_US * math.exp(SIGMA * P95_Z):
        return "rollback"
    return None


# Tuned variants: thresholds raised until their A/A false-rollback rate is <= 5 % on the
# regression scenarios' own traffic (1 % errors, 50 req/s) -- tuned in their favour.
FIXED_GRID = [
    (e, p, n) for n in (0, 300, 1000) for e in (1.25, 1.5, 2.0, 3.0) for p in (1.3, 1.5, 2.0)
]
STATIC_GRID = [(m, f) for m in (2, 3, 4, 6, 8, 12, 16, 24, 32) for f in (2.0, 2.5, 3.0, 4.0)]
TUNED: dict[str, tuple[float, ...]] = {}


def fixed_tuned(trace: Trace, step: int, sc: Scenario) -> str | None:
    err, p95, n = TUNED["fixed ratio, tuned"]
    return fixed_ratio(trace, step, sc, err, p95, int(n))


def static_tuned(trace: Trace, step: int, sc: Scenario) -> str | None:
    errors, p95 = TUNED["static alarm, tuned"]
    return static_alarm(trace, step, sc, errors, p95)


OTHER_RULES = {
    "naive z": naive_z,
    "fixed ratio": fixed_ratio,
    "static alarm": static_alarm,
    "fixed ratio, tuned": fixed_tuned,
    "static alarm, tuned": static_tuned,
}
RULES = ["release-guard", "naive z", "fixed ratio", "static alarm"]
TUNED_RULES = ["fixed ratio, tuned", "static alarm, tuned"]
CALIBRATION = 3  # index of "A/A 1 % errors, 50 req/s"


def calibrate(releases: int) -> dict[str, tuple[float, ...]]:
    """The most sensitive setting of each grid whose A/A false-rollback rate on the
    calibration scenario is <= 5 % (grids are ordered from sensitive to lax)."""
    sc = SCENARIOS[CALIBRATION]
    found: dict[str, tuple[float, ...]] = {}
    for name, grid, rule in (
        ("fixed ratio, tuned", FIXED_GRID, fixed_ratio),
        ("static alarm, tuned", STATIC_GRID, static_alarm),
    ):
        for params in grid:
            rolled = 0
            for seed in range(releases):
                OTHER_RULES["_probe"] = lambda t, s_, c, p=params, r=rule: r(t, s_, c, *p)
                if run_release("_probe", sc, None, 10_000_019 + seed).decision == "rollback":  # type: ignore[arg-type]
                    rolled += 1
            if rolled / releases <= 0.05:
                found[name] = params
                break
        else:
            found[name] = grid[-1]
    OTHER_RULES.pop("_probe", None)
    return found


def sim_policy() -> ReleasePolicy:
    doc = json.loads((ROOT / "policies" / "default.json").read_text())
    doc["version"] = "bench"
    canary = doc["canary"]
    canary.update(
        {
            "steps": STEPS,
            "min_bake_seconds": BAKE_MIN * 60,
            "check_interval_seconds": 60,
            "max_bake_seconds": MAX_MIN * 60,
            "metric_period_seconds": 60,
            "metric_delay_seconds": 0,
            "on_insufficient_data": "advance",
        }
    )
    return ReleasePolicy.model_validate(doc)


def _init(tuned: dict[str, tuple[float, ...]]) -> None:
    TUNED.update(tuned)


def _work(args: tuple[str, int, int, int]) -> list[tuple[str, str, int, int, int]]:
    rule, sc_index, first, count = args
    policy = sim_policy()
    sc = SCENARIOS[sc_index]
    out = []
    for seed in range(first, first + count):
        o = run_release(rule, sc, policy, seed * 7919 + sc_index)
        out.append((o.decision, rule, o.minutes, o.step, o.bad_requests))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (c - h) / d), min(1.0, (c + h) / d)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aa", type=int, default=2000, help="releases per A/A cell")
    ap.add_argument("--bad", type=int, default=500, help="releases per regression cell")
    ap.add_argument("--workers", type=int, default=mp.cpu_count())
    ap.add_argument("--calibrate", type=int, default=400, help="A/A releases per tuning trial")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "judge.md")
    ap.add_argument("--json", type=Path, default=ROOT / "out" / "bench-judge.json")
    args = ap.parse_args()
    started = time.time()
    tuned = calibrate(args.calibrate)
    TUNED.update(tuned)
    print(f"tuned competitors: {tuned}", flush=True)
    jobs = []
    for i, sc in enumerate(SCENARIOS):
        n = args.aa if sc.aa else args.bad
        chunk = max(1, n // (args.workers * 4))
        for rule in RULES + TUNED_RULES:
            for first in range(0, n, chunk):
                jobs.append((rule, i, first, min(chunk, n - first)))
    results: dict[tuple[str, int], list[tuple[str, str, int, int, int]]] = {}
    with mp.Pool(args.workers, initializer=_init, initargs=(tuned,)) as pool:
        for job, res in zip(jobs, pool.imap(_work, jobs), strict=True):
            results.setdefault((job[0], job[1]), []).extend(res)
    rows = []
    for i, sc in enumerate(SCENARIOS):
        for rule in RULES + TUNED_RULES:
            res = results[(rule, i)]
            n = len(res)
            rolled = [r for r in res if r[0] == "rollback"]
            early = [r for r in rolled if r[3] <= 1]  # before the candidate reached 50 %
            minutes = [r[2] for r in res]
            bad = [r[4] for r in rolled]
            lo, hi = wilson(len(rolled), n)
            rows.append(
                {
                    "scenario": sc.name,
                    "aa": sc.aa,
                    "rule": rule,
                    "releases": n,
                    "rollback_rate": len(rolled) / n,
                    "ci": [lo, hi],
                    "before_50": len(early) / n,
                    "promoted": sum(r[0] == "promote" for r in res) / n,
                    "held": sum(r[0] == "hold" for r in res) / n,
                    "bad_median": float(np.median(bad)) if bad else None,
                    "bad_p90": float(np.percentile(bad, 90)) if bad else None,
                    "minutes_median": float(np.median(minutes)),
                }
            )
    elapsed = time.time() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "seconds": elapsed}, indent=1))
    write_table(args.out, rows, args, elapsed, tuned)
    print(f"bench-judge: {len(jobs)} jobs in {elapsed:.0f} s; table in {args.out}")
    return 0


def _fmt_fixed(p: tuple[float, ...]) -> str:
    return f"error ratio > {p[0]:g}, p95 ratio > {p[1]:g}, at least {p[2]:g} requests per step"


def _fmt_static(p: tuple[float, ...]) -> str:
    return f"5XX Sum >= {p[0]:g} per minute, p95 > {p[1]:g} x the champion's true p95"


def write_table(
    path: Path,
    rows: list[dict],
    args: argparse.Namespace,
    elapsed: float,
    tuned: dict[str, tuple[float, ...]],
) -> None:
    lines = [
        "<!-- bench:start (written by `make bench-judge`; do not edit by hand) -->",
        f"Command: `make bench-judge` (`python bench/judge_sim.py --aa {args.aa} --bad "
        f"{args.bad}`), {elapsed:.0f} s on {args.workers} cores. Steps 5/25/50/100 %, a look "
        "every minute, 10 minutes minimum per step; latency lognormal (sigma 0.5), per-minute "
        "p95 drawn as the period's order statistic.",
        "",
        f"Tuned competitors (most sensitive setting with <= 5 % A/A false rollbacks on "
        f"1 % errors at 50 req/s, {args.calibrate} releases per trial): fixed ratios "
        f"{_fmt_fixed(tuned['fixed ratio, tuned'])}; static alarm "
        f"{_fmt_static(tuned['static alarm, tuned'])}.",
        "",
        "**A/A (identical candidate): release-wide false-rollback rate** (95 % Wilson interval)",
        "",
        "| scenario | release-guard | naive z-test | fixed ratios | static alarm "
        "| fixed ratios, tuned | static alarm, tuned |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["scenario"], r["rule"]): r for r in rows}
    names = list(dict.fromkeys(r["scenario"] for r in rows))
    for name in names:
        if not by[(name, RULES[0])]["aa"]:
            continue
        cells = []
        for rule in RULES + TUNED_RULES:
            r = by[(name, rule)]
            cells.append(f"{r['rollback_rate']:.1%} [{r['ci'][0]:.1%}, {r['ci'][1]:.1%}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "A/A releases release-guard did not roll back: promoted or held for an operator "
        "(at 1 req/s the evidence a step needs can take longer than the release allows; "
        "release-guard then holds instead of promoting blind):",
        "",
        "| scenario | promoted | held | median minutes |",
        "|---|---|---|---|",
    ]
    for name in names:
        r = by[(name, RULES[0])]
        if r["aa"]:
            lines.append(
                f"| {name} | {r['promoted']:.1%} | {r['held']:.1%} | {r['minutes_median']:.0f} |"
            )
    lines += [
        "",
        "**Regressions: detection** (rolled back at all / before the candidate reached 50 %), "
        "**bad requests served before rollback** (median / p90), **minutes to decision** "
        "(median)",
        "",
        "| scenario | rule | detected | before 50 % | bad requests median / p90 | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        if by[(name, RULES[0])]["aa"]:
            continue
        for rule in RULES + TUNED_RULES:
            r = by[(name, rule)]
            bad = (
                f"{r['bad_median']:.0f} / {r['bad_p90']:.0f}"
                if r["bad_median"] is not None
                else "n/a"
            )
            lines.append(
                f"| {name} | {rule} | {r['rollback_rate']:.1%} | {r['before_50']:.1%} | {bad} "
                f"| {r['minutes_median']:.0f} |"
            )
    lines.append("<!-- bench:end -->")
    text = path.read_text() if path.exists() else ""
    block = "\n".join(lines)
    if "<!-- bench:start" in text:
        head = text[: text.index("<!-- bench:start")]
        tail = text[text.index("<!-- bench:end -->") + len("<!-- bench:end -->") :]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n## Simulation benchmark\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
