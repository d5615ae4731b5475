"""How numbers read in the report: the same in the HTML page and the Markdown summary."""

from __future__ import annotations

import math
from typing import Any

from release_guard.canary.metrics import CATALOG, MetricSpec
from release_guard.report.model import Look, Release, Scale, number


def offset(seconds: float | None) -> str:
    """Time since the release started: +42.1 s, +12 min 5 s, +2 h 03 min."""
    if seconds is None:
        return ""
    if abs(seconds) < 120:
        return f"+{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"+{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"+{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def duration(seconds: float) -> str:
    return offset(seconds).removeprefix("+")


def deploys(meta: dict[str, Any]) -> str:
    """What the release deploys: a model package or an image, and a prompt version."""
    if meta.get("model_package_arn"):
        what = str(meta["model_package_arn"])
    elif meta.get("image"):
        what = f"image {meta['image']}"
    else:
        what = "n/a"
    prompt = meta.get("prompt") or {}
    if isinstance(prompt, dict) and prompt.get("name"):
        what += f"; prompt {prompt.get('name')} v{prompt.get('version')}"
        what += f" ({prompt['digest']})" if prompt.get("digest") else ""
    return what


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g} %"


def spec_of(label: str) -> MetricSpec | None:
    return CATALOG.get(label.split(" ", 1)[0])


def value(spec: MetricSpec | None, v: Any) -> str:
    """An estimate in its metric's unit (rates as percentages)."""
    x = number(v)
    if x is None:
        return "n/a"
    if spec is None:
        return f"{x:.4g}"
    if spec.unit == "%":
        return f"{x:.2%}"
    return f"{x * spec.scale:.4g} {spec.unit}"


def on_scale(scale: Scale, spec: MetricSpec | None, x: float) -> str:
    if math.isinf(x):
        return "∞"
    if scale == "ratio":
        return f"{x:.3g}x"
    return value(spec, x)


def scale_of(f: dict[str, Any]) -> Scale:
    """A finding's threshold is a ratio unless the rule is an absolute ceiling only."""
    label = str(f.get("metric", ""))
    return "absolute" if "absolute" in label and "x champion" not in label else "ratio"


def interval_text(f: dict[str, Any]) -> str:
    iv = f.get("interval")
    if not isinstance(iv, list | tuple) or len(iv) != 2:
        return ""
    spec, scale = spec_of(str(f.get("metric", ""))), scale_of(f)
    lo = number(iv[0]) or 0.0
    hi = number(iv[1])
    return f"[{on_scale(scale, spec, lo)}, {on_scale(scale, spec, math.inf if hi is None else hi)}]"


def threshold_text(f: dict[str, Any]) -> str:
    th = number(f.get("threshold"))
    if th is None:
        return ""
    scale = scale_of(f)
    return f"≤ {on_scale(scale, spec_of(str(f.get('metric', ''))), th)}"


def ratio_text(f: dict[str, Any]) -> str:
    r = number(f.get("ratio"))
    if r is None:
        c, h = number(f.get("candidate")), number(f.get("champion"))
        r = c / h if c is not None and h else None
    return "" if r is None else f"{r:.3g}x"


def e_text(f: dict[str, Any]) -> str:
    e = number(f.get("e_value"))
    return "" if e is None else f"{e:.3g}"


def finding_row(f: dict[str, Any]) -> list[str]:
    """rule, outcome, candidate, champion, ratio, interval, threshold, n, e-value, reason."""
    spec = spec_of(str(f.get("metric", "")))
    n = f"{f.get('candidate_n', 0):,} / {f.get('champion_n', 0):,}"
    return [
        str(f.get("metric", "")),
        str(f.get("outcome", "")),
        value(spec, f.get("candidate")),
        value(spec, f.get("champion")),
        ratio_text(f),
        interval_text(f),
        threshold_text(f),
        n,
        e_text(f),
        str(f.get("reason", "")),
    ]


FINDING_HEADER = [
    "rule",
    "outcome",
    "candidate",
    "champion",
    "ratio",
    "interval",
    "threshold",
    "n cand. / champ.",
    "e-value",
    "reason",
]


def snapshot_rows(r: Release, look: Look) -> list[list[str]]:
    """This step's traffic per variant, as the judge saw it at the look."""
    rows = []
    for side, name in (("candidate", r.candidate), ("champion", r.champion)):
        m = look.snapshot.get(side) or {}
        n, e5 = number(m.get("invocations")), number(m.get("errors_5xx"))
        p95 = number(m.get("p95_latency_us"))
        rows.append(
            [
                f"{name} ({side})",
                "n/a" if n is None else f"{int(n):,}",
                f"{e5 / n:.2%}" if n and e5 is not None else "n/a",
                "n/a" if p95 is None else f"{p95 / 1000:.1f} ms",
            ]
        )
    return rows


SNAPSHOT_HEADER = ["variant", "requests this step", "5XX rate", "p95 latency"]


def gate_rows(gate: dict[str, Any]) -> tuple[list[list[str]], int]:
    """The gate's tested rows, and how many were skipped (slices too small)."""

    def num(x: Any) -> str:
        v = number(x)
        return "n/a" if v is None else f"{v:.4g}"

    rows, skipped = [], 0
    for row in gate.get("rows") or []:
        if row.get("decision") == "skipped":
            skipped += 1
            continue
        low, high = number(row.get("low")), number(row.get("high"))
        rows.append(
            [
                str(row.get("metric", "")),
                str(row.get("slice", "")),
                str(row.get("rule", "")),
                str(row.get("n", "")),
                num(row.get("candidate")),
                num(row.get("champion")),
                f"[{num(low)}, {num(high)}]" if low is not None or high is not None else "",
                # A slice row that may not hold the gate only looked for a regression.
                "no regression"
                if row.get("decision") == "inconclusive" and row.get("required") is False
                else str(row.get("decision", "")),
                str(row.get("reason", "")),
            ]
        )
    return rows, skipped


GATE_HEADER = [
    "metric",
    "slice",
    "rule",
    "n",
    "candidate",
    "champion",
    "interval",
    "decision",
    "reason",
]


def endpoint_rows(view: dict[str, Any]) -> list[list[str]]:
    rows = []
    weights = {str(v.get("name")): number(v.get("current_weight")) or 0.0 for v in view["variants"]}
    total = sum(weights.values())
    for v in view.get("variants") or []:
        w = number(v.get("current_weight")) or 0.0
        share = f"{100 * w / total:.4g} %" if total > 0 else "0 %"
        count = v.get("current_instance_count")
        rows.append([str(v.get("name")), f"{w:g}", share, "" if count is None else str(count)])
    return rows


ENDPOINT_HEADER = ["variant", "weight", "share of traffic", "instances"]


def event_rows(r: Release) -> list[tuple[float | None, str, str]]:
    """(time, event, detail) for every decision but keep-baking looks."""
    out: list[tuple[float | None, str, str]] = []
    for e in r.events:
        kind, t = str(e.get("kind")), r.t(e)
        if kind == "gate":
            text = f"{str(e.get('verdict')).upper()} on {e.get('pairs')} paired examples"
            out.append((t, "eval gate", f"{text}: {e.get('reason', '')}"))
        elif kind == "deploy":
            v = (e.get("variants") or [{}])[-1]
            capture = (e.get("data_capture") or {}).get("EnableCapture")
            prompt = e.get("prompt") if isinstance(e.get("prompt"), dict) else {}
            with_prompt = f" (prompt {prompt['name']} v{prompt.get('version')})" if prompt else ""
            out.append(
                (
                    t,
                    "deploy",
                    f"{v.get('VariantName')}{with_prompt} on {v.get('InstanceType')} "
                    f"x{v.get('InitialInstanceCount')} at weight 0, data capture "
                    f"{'on' if capture else 'off'}; config "
                    f"{(e.get('result') or {}).get('endpoint_config_name')}",
                )
            )
        elif kind == "shift":
            split = " / ".join(f"{k} {v:g} %" for k, v in (e.get("weights") or {}).items())
            out.append((t, f"step {int(e.get('step_index') or 0) + 1}", f"traffic {split}"))
        elif kind in ("judge", "watch"):
            v = e.get("verdict") or {}
            if v.get("action") == "keep_baking":
                continue
            out.append((t, f"{kind}: {v.get('action')}", str(v.get("reason", ""))))
        elif kind == "hold":
            reason = (e.get("verdict") or {}).get("reason")
            out.append((t, "hold", f"waiting for an operator: {reason}"))
        elif kind == "promoted_to_100":
            out.append((t, "promote", f"{r.candidate} takes 100 % (verified)"))
        elif kind == "champion_retired":
            out.append((t, "retire", f"{r.champion} removed; {r.candidate} is the champion"))
        elif kind == "rollback_started":
            out.append((t, "rollback", str(e.get("reason", ""))))
        elif kind == "rollback_verified":
            out.append(
                (
                    t,
                    "rollback verified",
                    f"after {e.get('attempts')} reconcile step(s): only {r.champion} serves",
                )
            )
        elif kind == "outcome":
            out.append((t, "outcome", f"{str(e.get('outcome')).upper()}: {e.get('reason') or ''}"))
        else:
            out.append((t, kind, ""))
    return out


def step_rows(r: Release) -> list[list[str]]:
    """One row per canary step: weight, how long it baked, looks, how it ended."""
    rows = []
    shifts = r.shifts()
    for i, (t, e) in enumerate(shifts):
        looks = [lk for lk in r.looks if lk.step == int(e.get("step_index") or 0)]
        ended = next((lk for lk in looks if lk.action != "keep_baking"), None)
        stop = ended.t if ended else (shifts[i + 1][0] if i + 1 < len(shifts) else None)
        rows.append(
            [
                str(int(e.get("step_index") or 0) + 1),
                percent(number(e.get("percent"))),
                offset(t),
                duration(stop - t) if stop is not None else "",
                str(len(looks)),
                ended.action if ended else ("running" if not r.finished else "—"),
            ]
        )
    return rows


STEP_HEADER = ["step", "candidate weight", "started", "baked", "looks", "ended with"]


def counts(r: Release) -> dict[str, int]:
    out: dict[str, int] = {}
    for lk in r.looks:
        out[lk.action] = out.get(lk.action, 0) + 1
    return out
