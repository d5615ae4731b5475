"""The report's charts as inline SVG, written by hand: no plotting library, no script,
no external font or stylesheet. Each chart has a <title> and a <desc> that says in
words what it shows (screen readers, and anyone reading the page source), axis labels,
and shapes as well as colours for its marks (Okabe-Ito colours, safe for colour-blind
readers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from release_guard.report import fmt
from release_guard.report.model import (
    Group,
    Release,
    estimate,
    finding_for,
    interval,
)

CHAMPION = "#0072B2"
CANDIDATE = "#E69F00"
OTHERS = ("#56B4E9", "#999999", "#F0E442", "#000000")
PASS = "#009E73"
FAIL = "#D55E00"
HOLD = "#CC79A7"
NEUTRAL = "#8a8a8a"
INK = "#333333"
GRID = "#e4e4e4"
FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"

WIDTH = 880
LEFT, RIGHT = 70, 135  # the right margin carries the threshold labels

# verdict action -> (shape, colour, legend text)
ACTIONS = {
    "keep_baking": ("dot", NEUTRAL, "keep baking"),
    "next_step": ("triangle", PASS, "next step"),
    "promote": ("square", PASS, "promote"),
    "hold": ("diamond", HOLD, "hold"),
    "rollback": ("cross", FAIL, "roll back"),
}
# finding outcome -> (shape, colour, legend text)
OUTCOMES = {
    "pass": ("circle", PASS, "pass"),
    "pending": ("ring", NEUTRAL, "pending"),
    "no_data": ("box", NEUTRAL, "no data"),
    "fail": ("cross", FAIL, "fail"),
}
SEVERITY = {"fail": 3, "pending": 2, "no_data": 1, "pass": 0}


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


class Svg:
    def __init__(self, uid: str, height: int, title: str, desc: str) -> None:
        self.uid, self.height = uid, height
        self.parts: list[str] = []
        self.title, self.desc = title, desc

    def add(self, element: str) -> None:
        self.parts.append(element)

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        stroke: str = INK,
        width: float = 1,
        dash: str | None = None,
    ) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
            f'stroke="{stroke}" stroke-width="{width}"{extra}/>'
        )

    def path(self, d: str, stroke: str, width: float = 2, fill: str = "none", **attrs: str) -> None:
        extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.add(f'<path d="{d}" stroke="{stroke}" stroke-width="{width}" fill="{fill}"{extra}/>')

    def text(
        self,
        x: float,
        y: float,
        s: str,
        anchor: str = "start",
        size: int = 11,
        fill: str = INK,
        bold: bool = False,
        rotate: bool = False,
    ) -> None:
        weight = ' font-weight="bold"' if bold else ""
        turn = f' transform="rotate(-90 {_n(x)} {_n(y)})"' if rotate else ""
        self.add(
            f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}"{weight}{turn}>{escape(s)}</text>'
        )

    def marker(self, shape: str, x: float, y: float, colour: str, size: float = 5) -> None:
        s = size
        if shape == "dot":
            self.add(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(s * 0.6)}" fill="{colour}"/>')
        elif shape == "circle":
            self.add(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(s)}" fill="{colour}"/>')
        elif shape == "ring":
            self.add(
                f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(s * 0.9)}" fill="white" '
                f'stroke="{colour}" stroke-width="1.6"/>'
            )
        elif shape == "box":
            self.add(
                f'<rect x="{_n(x - s * 0.8)}" y="{_n(y - s * 0.8)}" width="{_n(1.6 * s)}" '
                f'height="{_n(1.6 * s)}" fill="white" stroke="{colour}" stroke-width="1.6"/>'
            )
        elif shape == "triangle":
            self.path(
                f"M{_n(x)},{_n(y - s * 1.2)} L{_n(x + s)},{_n(y + s * 0.8)} "
                f"L{_n(x - s)},{_n(y + s * 0.8)} Z",
                "none",
                0,
                colour,
            )
        elif shape == "square":
            self.add(
                f'<rect x="{_n(x - s)}" y="{_n(y - s)}" width="{_n(2 * s)}" '
                f'height="{_n(2 * s)}" fill="{colour}"/>'
            )
        elif shape == "diamond":
            self.path(
                f"M{_n(x)},{_n(y - s * 1.3)} L{_n(x + s)},{_n(y)} L{_n(x)},{_n(y + s * 1.3)} "
                f"L{_n(x - s)},{_n(y)} Z",
                "none",
                0,
                colour,
            )
        else:  # cross
            self.path(
                f"M{_n(x - s)},{_n(y - s)} L{_n(x + s)},{_n(y + s)} "
                f"M{_n(x - s)},{_n(y + s)} L{_n(x + s)},{_n(y - s)}",
                colour,
                2.5,
            )

    def render(self) -> str:
        t, d = f"{self.uid}-title", f"{self.uid}-desc"
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" id="{self.uid}" class="chart" '
            f'role="img" aria-labelledby="{t} {d}" width="{WIDTH}" height="{self.height}" '
            f'viewBox="0 0 {WIDTH} {self.height}" font-family="{FONT}">'
            f'<title id="{t}">{escape(self.title)}</title><desc id="{d}">{escape(self.desc)}</desc>'
            f'<rect width="{WIDTH}" height="{self.height}" fill="white"/>'
        )
        return head + "".join(self.parts) + "</svg>"


# --- scales -------------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def time_ticks(span: float) -> tuple[list[float], Callable[[float], str]]:
    """Ticks over [0, span] seconds in s, min or h, and how each tick reads."""
    unit, name = (1.0, "s") if span <= 180 else (60.0, "min") if span <= 3 * 3600 else (3600.0, "h")
    ticks = [t * unit for t in nice_ticks(0, span / unit, 6)]
    return ticks, lambda t: f"+{t / unit:g} {name}"


class Frame:
    """A plot area: x is seconds since the release started, y linear or log."""

    def __init__(
        self,
        top: float,
        height: float,
        span: float,
        ylo: float,
        yhi: float,
        log: bool = False,
    ) -> None:
        self.top, self.bottom = top, top + height
        self.left, self.right = LEFT, WIDTH - RIGHT
        self.span = max(span, 1e-9)
        self.log = log
        self.ylo, self.yhi = ylo, yhi

    def x(self, t: float) -> float:
        t = min(max(t, 0.0), self.span)
        return self.left + t / self.span * (self.right - self.left)

    def y(self, v: float) -> float:
        """Clipped to the plot area."""
        if self.log:
            v = min(max(v, self.ylo), self.yhi)
            f = (math.log(v) - math.log(self.ylo)) / (math.log(self.yhi) - math.log(self.ylo))
        else:
            v = min(max(v, self.ylo), self.yhi)
            f = (v - self.ylo) / (self.yhi - self.ylo) if self.yhi > self.ylo else 0.5
        return self.bottom - f * (self.bottom - self.top)

    def clipped(self, v: float) -> bool:
        return v < self.ylo or v > self.yhi


def _axes(
    svg: Svg,
    f: Frame,
    yticks: Sequence[float],
    ylabel: Callable[[float], str],
    title: str,
    xaxis: bool = True,
) -> None:
    for v in yticks:
        y = f.y(v)
        svg.line(f.left, y, f.right, y, GRID)
        svg.text(f.left - 6, y + 4, ylabel(v), anchor="end", size=10)
    ticks, label = time_ticks(f.span)
    for t in ticks:
        x = f.x(t)
        svg.line(x, f.bottom, x, f.bottom + 4, INK)
        if xaxis:
            svg.text(x, f.bottom + 16, label(t), anchor="middle", size=10)
    svg.line(f.left, f.bottom, f.right, f.bottom, INK)
    svg.line(f.left, f.top, f.left, f.bottom, INK)
    if title:
        svg.text(f.left, f.top - 8, title, size=12, bold=True)


def _x_label(svg: Svg, f: Frame) -> None:
    svg.text((f.left + f.right) / 2, f.bottom + 32, "time since the release started", "middle", 11)


def _steps(svg: Svg, r: Release, f: Frame, labels: bool) -> None:
    """A dashed line where each step began; labels above the plot, on a second row
    when a step follows the previous one too closely for its label."""
    ends = [-1e9, -1e9]  # where the label on each row ends
    for t, e in r.shifts():
        x = f.x(t)
        svg.line(x, f.top, x, f.bottom, "#b0b0b0", 1, "3 3")
        if labels:
            text = f"step {int(e.get('step_index') or 0) + 1}: {fmt.percent(e.get('percent'))}"
            row = 0 if x >= ends[0] + 4 else 1
            svg.text(x + 3, f.top - 6 - 12 * row, text, size=10)
            ends[row] = x + 3 + 6.2 * len(text)


def _legend(svg: Svg, x: float, y: float, entries: list[tuple[str, str, str]]) -> None:
    """One row of (kind, colour, text): kind is a marker shape, or 'line' / 'dash'."""
    for kind, colour, text in entries:
        if kind == "line":
            svg.line(x, y, x + 18, y, colour, 3)
        elif kind == "dash":
            svg.line(x, y, x + 18, y, colour, 1.6, "5 3")
        else:
            svg.marker(kind, x + 9, y, colour, 4.5)
        svg.text(x + 24, y + 4, text, size=10)
        x += 24 + 6.2 * len(text) + 16


# --- weights over time ------------------------------------------------------------------------


def _colour(r: Release, name: str, i: int) -> str:
    if name == r.candidate:
        return CANDIDATE
    if name == r.champion:
        return CHAMPION
    return OTHERS[i % len(OTHERS)]


def _span(r: Release) -> float:
    """The time axis: the whole release, and a little after its last decision."""
    return max((r.end - r.t0).total_seconds(), 1.0) * 1.04


def weights_chart(r: Release, uid: str = "weights") -> str:
    span = _span(r)
    height = 312
    f = Frame(top=72, height=170, span=span, ylo=0, yhi=100)
    names = list(r.weights[0][1]) if r.weights else []
    desc = _weights_desc(r, names)
    svg = Svg(uid, height, f"Traffic share per variant over release {r.release_id}", desc)
    _axes(svg, f, [0, 25, 50, 75, 100], lambda v: f"{v:g} %", "")
    svg.text(f.left, 16, "traffic share per variant, and the judge's verdicts", size=12, bold=True)
    _x_label(svg, f)
    _steps(svg, r, f, labels=True)
    legend: list[tuple[str, str, str]] = []
    for i, name in enumerate(names):
        pts = [(t, w.get(name, 0.0)) for t, w in r.weights]
        if name == r.champion:  # it served everything before the candidate was deployed
            pts.insert(0, (0.0, pts[0][1]))
        d = f"M{_n(f.x(pts[0][0]))},{_n(f.y(pts[0][1]))}"
        for t, w in pts[1:]:
            d += f" H{_n(f.x(t))} V{_n(f.y(w))}"
        d += f" H{_n(f.x(span))}"
        colour = _colour(r, name, i)
        if name == r.candidate:
            area = d + f" V{_n(f.y(0))} H{_n(f.x(pts[0][0]))} Z"
            svg.path(area, "none", 0, colour, fill_opacity="0.18")
        svg.path(d, colour, 3 if name == r.candidate else 2.5, stroke_linejoin="round")
        role = "candidate" if name == r.candidate else "champion" if name == r.champion else ""
        legend.append(("line", colour, f"{name} ({role})" if role else name))
    for e in r.events:
        at = r.t(e)
        if at is None:
            continue
        if e.get("kind") == "rollback_started":
            svg.line(f.x(at), f.top, f.x(at), f.bottom, FAIL, 1.5, "6 3")
        elif e.get("kind") == "promoted_to_100":
            svg.line(f.x(at), f.top, f.x(at), f.bottom, PASS, 1.5, "6 3")
    # Verdicts on a row above the plot.
    row = f.top - 36
    svg.text(f.left - 6, row + 4, "verdicts", anchor="end", size=10)
    seen: list[str] = []
    for look in r.looks:
        shape, colour, _ = ACTIONS.get(look.action, ("dot", NEUTRAL, look.action))
        big = look.action != "keep_baking"
        svg.marker(shape, f.x(look.t), row, colour, 5.5 if big else 3.2)
        if look.action not in seen:
            seen.append(look.action)
    legend += [(ACTIONS[a][0], ACTIONS[a][1], ACTIONS[a][2]) for a in ACTIONS if a in seen]
    kinds = {e.get("kind") for e in r.events}
    if "rollback_started" in kinds:
        legend.append(("dash", FAIL, "rollback started"))
    if "promoted_to_100" in kinds:
        legend.append(("dash", PASS, "promoted to 100 %"))
    _legend(svg, f.left, f.bottom + 52, legend)
    return svg.render()


def _weights_desc(r: Release, names: list[str]) -> str:
    if not r.weights:
        return "No traffic change was recorded: the candidate was never deployed."
    parts = []
    for t, w in r.weights:
        split = ", ".join(f"{n} {w.get(n, 0.0):.3g} %" for n in names)
        parts.append(f"at {fmt.offset(t)}: {split}")
    acts = fmt.counts(r)
    verdicts = ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in acts.items())
    return (
        "Step chart of each variant's share of the endpoint's traffic; "
        + "; ".join(parts)
        + (f". Judge verdicts: {verdicts}." if verdicts else ".")
    )


# --- a metric per period, and the judge's interval at each look --------------------------------


def _fmt_value(g: Group, v: float) -> str:
    """A value on the evidence scale of an absolute rule: a rate, as a percentage."""
    if g.spec.unit == "%":
        return f"{v * 100:.3g} %"
    return f"{v * g.spec.scale:.4g} {g.unit}"


def _period_points(r: Release, g: Group, side: str) -> list[tuple[float, float | None]]:
    num_key, den_key = g.value_keys
    nums = dict(r.series(side, num_key))
    dens = dict(r.series(side, den_key)) if den_key else {}
    half = (r.period_seconds or 0) / 2
    t0 = r.t0.timestamp()
    out = []
    for start in sorted(nums):
        v = g.value(nums[start], dens.get(start) if den_key else None)
        if g.spec.unit == "%" and v is not None:
            v *= 100  # rates are drawn in percent
        out.append((start + half - t0, v))
    return out


def _polyline(svg: Svg, f: Frame, pts: list[tuple[float, float | None]], colour: str) -> int:
    """Lines through consecutive periods with a value; a gap where there is none."""
    d, drawn, pen = "", 0, False
    for t, v in pts:
        if v is None or t < 0:
            pen = False
            continue
        d += f"{'L' if pen else 'M'}{_n(f.x(t))},{_n(f.y(v))} "
        pen, drawn = True, drawn + 1
    if d:
        svg.path(d.strip(), colour, 2, stroke_linejoin="round", class_="series")
    if 0 < drawn <= 90:
        for t, v in pts:
            if v is not None and t >= 0:
                svg.add(f'<circle cx="{_n(f.x(t))}" cy="{_n(f.y(v))}" r="2.2" fill="{colour}"/>')
    return drawn


def metric_chart(r: Release, g: Group, uid: str) -> str:
    span = _span(r)
    height = 460
    cand, champ = _period_points(r, g, "candidate"), _period_points(r, g, "champion")
    shown = [v for _, v in cand + champ if v is not None]
    absolute = [rule.max_absolute * 100 for _, rule in g.rules if rule.max_absolute is not None]
    top_a = max([*shown, *absolute, 0.0]) * 1.12 or 1.0
    unit = "%" if g.spec.unit == "%" else g.unit
    a = Frame(top=30, height=150, span=span, ylo=0, yhi=top_a)
    looks = _look_marks(r, g)
    b_lo, b_hi, log = _evidence_domain(g, looks)
    b = Frame(top=250, height=140, span=span, ylo=b_lo, yhi=b_hi, log=log)
    title = f"{g.title}: per period, and the judge's evidence at each look"
    svg = Svg(uid, height, title, _metric_desc(r, g, cand, champ, looks))

    # Panel A: both variants' per-period values.
    kind = {"rate": "rate", "latency": g.rules[0][1].statistic, "mean": "per request"}
    _axes(
        svg,
        a,
        nice_ticks(0, top_a, 4),
        lambda v: f"{v:g}",
        f"{g.title} per {r.period_seconds or '?'} s period ({unit})",
        xaxis=False,
    )
    _steps(svg, r, a, labels=False)
    for v in absolute:
        svg.line(a.left, a.y(v), a.right, a.y(v), FAIL, 1.4, "6 3")
        svg.text(a.right + 4, a.y(v) + 4, f"ceiling {v:g} %", size=10, fill=FAIL)
    n_champ = _polyline(svg, a, champ, CHAMPION)
    n_cand = _polyline(svg, a, cand, CANDIDATE)
    if not n_cand and not n_champ:
        svg.text((a.left + a.right) / 2, (a.top + a.bottom) / 2, "no per-period data", "middle")
    _legend(
        svg,
        a.left,
        a.bottom + 22,
        [
            ("line", CANDIDATE, f"{r.candidate} (candidate)"),
            ("line", CHAMPION, f"{r.champion} (champion)"),
        ],
    )
    svg.text(18, (a.top + a.bottom) / 2, f"{kind[g.spec.kind]} ({unit})", "middle", 10, rotate=True)

    # Panel B: per look, the estimate and its interval against each rule's threshold.
    if log:
        yticks = _log_ticks(b_lo, b_hi)
        ylabel: Callable[[float], str] = lambda v: f"{v:g}x"  # noqa: E731
        what = (
            "candidate / champion rate ratio"
            if g.spec.kind == "rate"
            else "median period ratio, candidate / champion"
        )
    else:
        yticks = nice_ticks(b_lo, b_hi, 4)
        ylabel = lambda v: _fmt_value(g, v)  # noqa: E731
        what = f"candidate's {g.metric} over the release"
    _axes(svg, b, yticks, ylabel, f"judge: {what}, with its interval at each look")
    _x_label(svg, b)
    _steps(svg, r, b, labels=False)
    if log and b_lo < 1 < b_hi:
        svg.line(b.left, b.y(1), b.right, b.y(1), "#9a9a9a", 1)
    for _, rule in g.rules:
        th = rule.max_ratio if g.scale == "ratio" else rule.max_absolute
        if th is None:
            continue
        y = b.y(th)
        svg.line(b.left, y, b.right, y, FAIL, 1.4, "6 3")
        text = f"≤ {th:g}x" if g.scale == "ratio" else f"≤ {_fmt_value(g, th)}"
        svg.text(b.right + 4, y + 4, text + ("" if rule.critical else " (not critical)"), size=10)
    outcomes_seen: list[str] = []
    for t, est, iv, outcome in looks:
        x = b.x(t)
        if iv is not None:
            lo, hi = iv
            y1, y2 = b.y(max(lo, b_lo) if log and lo <= 0 else lo), b.y(hi)
            svg.line(x, y1, x, y2, "#555555", 1.3)
            for v, y in ((lo, y1), (hi, y2)):
                if b.clipped(v) or (log and v <= 0) or math.isinf(v):
                    up = v >= b_hi or math.isinf(v)
                    tip = y - 5 if up else y + 5
                    svg.path(
                        f"M{_n(x - 3)},{_n(y)} L{_n(x)},{_n(tip)} L{_n(x + 3)},{_n(y)}",
                        "#555555",
                        1.2,
                    )
                else:
                    svg.line(x - 3, y, x + 3, y, "#555555", 1.3)
        if est is not None:
            shape, colour, _ = OUTCOMES.get(outcome, ("ring", NEUTRAL, outcome))
            svg.marker(shape, x, b.y(est), colour, 3.6)
            if outcome not in outcomes_seen:
                outcomes_seen.append(outcome)
    if not looks:
        svg.text((b.left + b.right) / 2, (b.top + b.bottom) / 2, "no judge look yet", "middle")
    entries = [("dash", FAIL, "threshold")]
    entries += [OUTCOMES[o] for o in OUTCOMES if o in outcomes_seen]
    entries.append(("line", "#555555", "interval (95 %)" if r.policy is None else _level(r)))
    _legend(svg, b.left, b.bottom + 56, entries)
    return svg.render()


def _level(r: Release) -> str:
    assert r.policy is not None
    return f"interval ({1 - r.policy.canary.alpha:.0%})"


Mark = tuple[float, float | None, tuple[float, float] | None, str]


def _look_marks(r: Release, g: Group) -> list[Mark]:
    """Per look: time, estimate, interval and the group's worst outcome."""
    out: list[Mark] = []
    for look in r.looks:
        found = [(finding_for(look, i, rule), rule) for i, rule in g.rules]
        present = [f for f, _ in found if f is not None]
        if not present:
            continue
        worst = max((str(f.get("outcome")) for f in present), key=lambda o: SEVERITY.get(o, 0))
        first = present[0]
        out.append((look.t, estimate(first, g.scale, g.spec.kind), interval(first), worst))
    return out


def _evidence_domain(g: Group, looks: list[Mark]) -> tuple[float, float, bool]:
    thresholds = [
        (rule.max_ratio if g.scale == "ratio" else rule.max_absolute) for _, rule in g.rules
    ]
    values = [v for v in thresholds if v is not None]
    for _, est, iv, _ in looks:
        if est is not None:
            values.append(est)
        if iv is not None:
            values += [v for v in iv if 0 < v < math.inf]
    if g.scale == "ratio":
        finite = [v for v in values if v > 0] + [1.0]
        lo = max(min(finite) / 1.3, 1 / 64)
        hi = min(max(finite) * 1.3, 64.0)
        return lo, hi, True
    hi = min(max([*values, 1e-4]) * 1.15, 1.0)
    return 0.0, hi, False


def _log_ticks(lo: float, hi: float) -> list[float]:
    cands = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 5, 10, 20, 50]
    inside = [c for c in cands if lo <= c <= hi]
    while len(inside) > 7:
        inside = [c for i, c in enumerate(inside) if i % 2 == 0 or c == 1]
    return inside


def _metric_desc(
    r: Release,
    g: Group,
    cand: list[tuple[float, float | None]],
    champ: list[tuple[float, float | None]],
    looks: list[Mark],
) -> str:
    def median(pts: list[tuple[float, float | None]]) -> str:
        vals = sorted(v for _, v in pts if v is not None)
        if not vals:
            return "no data"
        unit = "%" if g.spec.unit == "%" else g.unit
        return f"median {vals[len(vals) // 2]:.4g} {unit} over {len(vals)} periods"

    text = (
        f"Top: {g.title} per period for {r.candidate} (candidate, {median(cand)}) and "
        f"{r.champion} (champion, {median(champ)}). Bottom: the judge's estimate and interval "
        f"at each of {len(looks)} looks"
    )
    if looks:
        t, est, iv, outcome = looks[-1]
        scale = g.scale
        spec = g.spec
        shown = "n/a" if est is None else fmt.on_scale(scale, spec, est)
        ends = (
            ""
            if iv is None
            else (f" in [{fmt.on_scale(scale, spec, iv[0])}, {fmt.on_scale(scale, spec, iv[1])}]")
        )
        text += f"; the last, at {fmt.offset(t)}: {shown}{ends}, {outcome}"
    thresholds = ", ".join(
        f"≤ {rule.max_ratio:g}x" if g.scale == "ratio" else f"≤ {(rule.max_absolute or 0):.2%}"
        for _, rule in g.rules
    )
    return text + f". Threshold {thresholds}."
