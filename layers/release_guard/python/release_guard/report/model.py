"""A release as the report sees it, read from its ledger items (plain dicts).

Nothing here trusts an item to be complete: a release that is still running, one that
never deployed, or items written by an older version still make a report (whatever
is missing is said to be missing, never invented).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from release_guard.canary.metrics import APP, CATALOG, MetricSpec, series_key
from release_guard.policy import MetricRule, ReleasePolicy

Scale = Literal["ratio", "absolute"]
DECISIVE = ("next_step", "promote", "rollback", "hold")


def when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Look:
    """One judge (or post-promotion watch) verdict."""

    t: float  # seconds since the release started
    kind: str  # judge | watch
    verdict: dict[str, Any]
    snapshot: dict[str, Any]

    @property
    def action(self) -> str:
        return str(self.verdict.get("action", "?"))

    @property
    def step(self) -> int:
        return int(self.verdict.get("step_index") or 0)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return [f for f in self.verdict.get("findings") or [] if isinstance(f, dict)]


@dataclass(frozen=True)
class Group:
    """Rules that share a per-period series and a scale: one chart."""

    metric: str
    spec: MetricSpec
    scale: Scale
    rules: list[tuple[int, MetricRule]]
    value_keys: tuple[str, str | None]  # numerator (or statistic), denominator

    @property
    def title(self) -> str:
        stat = f" {self.rules[0][1].statistic}" if self.spec.kind == "latency" else ""
        return f"{self.metric}{stat}"

    @property
    def unit(self) -> str:
        return self.spec.unit

    def value(self, num: float | None, den: float | None) -> float | None:
        """A period's value in the unit shown (rates as fractions)."""
        if num is None:
            return None
        if self.spec.kind == "latency":
            return num * self.spec.scale
        if den is None or den <= 0:
            return None
        return num / den * (1.0 if self.spec.kind == "rate" else self.spec.scale)


@dataclass
class Release:
    items: list[dict[str, Any]]
    meta: dict[str, Any]
    events: list[dict[str, Any]]
    t0: datetime
    end: datetime
    policy: ReleasePolicy | None
    looks: list[Look] = field(default_factory=list)
    weights: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    periods: dict[str, dict[str, dict[int, float | None]]] = field(default_factory=dict)
    period_seconds: int | None = None
    groups: list[Group] = field(default_factory=list)

    @property
    def release_id(self) -> str:
        return str(self.meta.get("release_id") or "unknown release")

    @property
    def status(self) -> str:
        return str(self.meta.get("status") or "unknown")

    @property
    def candidate(self) -> str:
        return str(self.meta.get("candidate") or "candidate")

    @property
    def champion(self) -> str:
        return str(self.meta.get("champion") or "champion")

    @property
    def finished(self) -> bool:
        return bool(self.meta.get("finished_at"))

    def t(self, item: dict[str, Any]) -> float | None:
        at = when(item.get("at"))
        return None if at is None else (at - self.t0).total_seconds()

    def first(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("kind") == kind), None)

    def shifts(self) -> list[tuple[float, dict[str, Any]]]:
        out = []
        for e in self.events:
            t = self.t(e)
            if e.get("kind") == "shift" and t is not None:
                out.append((t, e))
        return out

    def final_endpoint(self) -> tuple[dict[str, Any], str] | None:
        """The endpoint as FinishRelease read it, else the last verified view."""
        final = self.meta.get("final_endpoint")
        if isinstance(final, dict) and final.get("variants") is not None:
            return final, "DescribeEndpoint when the release finished"
        for e in reversed(self.events):
            view = e.get("endpoint")
            if isinstance(view, dict) and view.get("variants") is not None:
                return view, f"DescribeEndpoint verified by {e.get('kind')}"
        return None

    def series(self, side: str, key: str) -> list[tuple[int, float | None]]:
        return sorted(self.periods.get(side, {}).get(key, {}).items())


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    total = sum(w for w in weights.values() if w > 0)
    return {k: (100.0 * w / total if total > 0 else 0.0) for k, w in weights.items()}


def _view_weights(view: dict[str, Any]) -> dict[str, float]:
    out = {}
    for v in view.get("variants") or []:
        w = number(v.get("current_weight"))
        out[str(v.get("name"))] = 0.0 if w is None else w
    return out


def _weights(r: Release) -> list[tuple[float, dict[str, float]]]:
    """Traffic share per variant (percent) after each recorded change."""
    points: list[tuple[float, dict[str, float]]] = []
    names = [r.champion, r.candidate]
    for e in r.events:
        t = r.t(e)
        if t is None:
            continue
        w: dict[str, float] | None = None
        if e.get("kind") == "deploy":
            w = {}
            for v in e.get("variants") or []:
                weight = number(v.get("InitialVariantWeight"))
                w[str(v.get("VariantName"))] = 0.0 if weight is None else weight
        elif e.get("kind") == "shift" and isinstance(e.get("weights"), dict):
            w = {k: number(v) or 0.0 for k, v in e["weights"].items()}
        elif isinstance(e.get("endpoint"), dict):
            w = _view_weights(e["endpoint"])
        if w is None:
            continue
        for name in w:
            if name not in names:
                names.append(name)
        points.append((t, _normalised(w)))
    # A variant removed from the endpoint serves nothing from then on.
    return [(t, {n: w.get(n, 0.0) for n in names}) for t, w in points]


def _merge_periods(r: Release) -> None:
    """Per-period values of every look; a later look's value of a period wins."""
    for look_item in r.events:
        block = look_item.get("periods")
        if look_item.get("kind") not in ("judge", "watch") or not isinstance(block, dict):
            continue
        start, seconds = number(block.get("start")), number(block.get("seconds"))
        if start is None or not seconds:
            continue
        r.period_seconds = int(seconds)
        for side in ("candidate", "champion"):
            table = r.periods.setdefault(side, {})
            for key, values in (block.get(side) or {}).items():
                column = table.setdefault(str(key), {})
                for i, v in enumerate(values or []):
                    column[int(start + i * seconds)] = number(v)


def _groups(policy: ReleasePolicy) -> list[Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for i, rule in enumerate(policy.canary.metrics):
        spec = CATALOG.get(rule.metric)
        if spec is None:
            continue
        ns = policy.canary.app_namespace if spec.namespace == APP else spec.namespace
        scale: Scale = "ratio" if rule.max_ratio is not None else "absolute"
        stat = rule.statistic if spec.kind == "latency" else ""
        key = (rule.metric, stat, scale)
        if key not in groups:
            if spec.kind == "latency":
                keys: tuple[str, str | None] = (series_key(ns, spec.numerator, stat), None)
            else:
                assert spec.denominator is not None
                keys = (
                    series_key(ns, spec.numerator, "Sum"),
                    series_key(ns, spec.denominator, "Sum"),
                )
            groups[key] = Group(rule.metric, spec, scale, [], keys)
        groups[key].rules.append((i, rule))
    return list(groups.values())


def read(items: list[dict[str, Any]], now: datetime | None = None) -> Release:
    """The release from its ledger items (META and one item per decision)."""
    meta = next((i for i in items if i.get("sk") == "META"), {})
    events = sorted(
        (i for i in items if i.get("sk") != "META"),
        key=lambda i: (str(i.get("at", "")), str(i.get("sk", ""))),
    )
    stamps = [ts for ts in (when(e.get("at")) for e in events) if ts is not None]
    t0 = when(meta.get("started_at")) or (min(stamps) if stamps else None)
    t0 = t0 or now or datetime.now(UTC)
    end = when(meta.get("finished_at")) or max([*stamps, t0])
    if now is not None and not meta.get("finished_at"):
        end = max(end, now)
    policy = None
    if isinstance(meta.get("policy"), dict):
        try:
            policy = ReleasePolicy.model_validate(meta["policy"])
        except ValueError:
            policy = None  # an older policy schema: the charts that need it are skipped
    r = Release(items=items, meta=meta, events=events, t0=t0, end=end, policy=policy)
    for e in events:
        t = r.t(e)
        if (
            e.get("kind") in ("judge", "watch")
            and isinstance(e.get("verdict"), dict)
            and t is not None
        ):
            r.looks.append(Look(t, str(e["kind"]), e["verdict"], e.get("snapshot") or {}))
    r.weights = _weights(r)
    _merge_periods(r)
    r.groups = _groups(policy) if policy is not None else []
    return r


def finding_for(look: Look, index: int, rule: MetricRule) -> dict[str, Any] | None:
    """The look's finding of a rule: same position as in the policy, same label."""
    found = look.findings
    if index < len(found) and found[index].get("metric") == rule.label:
        return found[index]
    return next((f for f in found if f.get("metric") == rule.label), None)


def estimate(f: dict[str, Any], scale: Scale, kind: str) -> float | None:
    """A finding's estimate on its threshold's scale."""
    if scale == "absolute":
        return number(f.get("candidate"))
    if kind != "rate":
        return number(f.get("ratio"))
    c, h = number(f.get("candidate")), number(f.get("champion"))
    return c / h if c is not None and h else None


def interval(f: dict[str, Any]) -> tuple[float, float] | None:
    """(low, high); an unbounded end (null in JSON) is 0 or infinity."""
    iv = f.get("interval")
    if not isinstance(iv, list | tuple) or len(iv) != 2:
        return None
    lo, hi = number(iv[0]), number(iv[1])
    return (0.0 if lo is None else lo, math.inf if hi is None else hi)
