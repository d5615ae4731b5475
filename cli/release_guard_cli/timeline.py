"""A readable release timeline from ledger items and DescribeEndpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _t(item: dict[str, Any], t0: datetime | None) -> str:
    at = item.get("at")
    if not at or t0 is None:
        return "        "
    return f"+{(datetime.fromisoformat(str(at)) - t0).total_seconds():6.1f}s"


def _variant_line(label: str, m: dict[str, Any]) -> str:
    n = m.get("invocations")
    e5 = m.get("errors_5xx")
    p95 = m.get("p95_latency_us")
    rate = f"{e5 / n:6.2%}" if n and e5 is not None else "   n/a"
    lat = f"{p95 / 1000:7.1f} ms" if p95 else "     n/a"
    return f"{label:<12} invocations {n if n is not None else 'n/a':>6}  5XX {rate}  p95 {lat}"


def describe(item: dict[str, Any], t0: datetime | None, ctx: dict[str, str]) -> list[str]:
    kind = item.get("kind")
    t = _t(item, t0)
    cand, champ = ctx.get("candidate", "candidate"), ctx.get("champion", "champion")
    if kind == "deploy":
        v = item.get("variants", [])[-1] if item.get("variants") else {}
        prompt = item.get("prompt") or {}
        with_prompt = f" (prompt {prompt['name']} v{prompt['version']})" if prompt else ""
        return [
            f"{t}  deploy    {v.get('VariantName')}{with_prompt} on {v.get('InstanceType')} "
            f"x{v.get('InitialInstanceCount')} at weight 0, data capture "
            f"{'on' if (item.get('data_capture') or {}).get('EnableCapture') else 'off'}; "
            f"config {item.get('result', {}).get('endpoint_config_name')}"
        ]
    if kind == "gate":
        return [
            f"{t}  gate      {str(item.get('verdict')).upper()} on {item.get('pairs')} paired "
            f"examples: {item.get('reason')}",
            f"           report {item.get('markdown_uri')}",
        ]
    if kind == "shift":
        w = item.get("weights", {})
        split = " / ".join(f"{k} {v:g} %" for k, v in w.items())
        return [f"{t}  step {item.get('step_index', 0) + 1}    traffic {split}"]
    if kind in ("judge", "watch"):
        v = item.get("verdict", {})
        snap = item.get("snapshot", {})
        lines = [
            f"{t}  {'watch' if kind == 'watch' else 'judge'}     {v.get('action', '?'):<11} "
            f"{v.get('reason', '')}",
            f"           {_variant_line(cand, snap.get('candidate', {}))}",
            f"           {_variant_line(champ, snap.get('champion', {}))}",
        ]
        for f in v.get("findings", []):
            lines.append(f"           - {f.get('metric')}: {f.get('outcome')}: {f.get('reason')}")
        return lines
    if kind == "hold":
        return [f"{t}  hold      waiting for an operator: {item.get('verdict', {}).get('reason')}"]
    if kind == "promoted_to_100":
        return [f"{t}  promote   {cand} takes 100 % (verified by DescribeEndpoint)"]
    if kind == "champion_retired":
        return [f"{t}  retire    {champ} removed; {cand} is the new champion (verified)"]
    if kind == "rollback_started":
        return [f"{t}  ROLLBACK  {item.get('reason')}"]
    if kind == "rollback_verified":
        return [
            f"{t}  rollback  verified after {item.get('attempts')} reconcile step(s): "
            f"only {champ} serves"
        ]
    if kind == "operator":
        via = f" ({item['via']})" if item.get("via") else ""
        return [
            f"{t}  operator  {item.get('action')} by {item.get('by')}{via}: "
            f"{item.get('reason') or 'no reason given'}"
        ]
    if kind == "outcome":
        return [f"{t}  outcome   {str(item.get('outcome')).upper()}: {item.get('reason') or ''}"]
    return [f"{t}  {kind}"]


def versions_line(meta: dict[str, Any]) -> str:
    """What a release deploys, from its ledger summary: model and prompt versions."""
    if meta.get("model_package_arn"):
        version = meta.get("model_package_version")
        model = f"model package {meta['model_package_arn']}"
        model += f" (version {version})" if version is not None else ""
    elif meta.get("image"):
        model = f"image {meta['image']}"
        model += f" with {meta['model_data_url']}" if meta.get("model_data_url") else ""
    else:
        model = "model n/a"
    prompt = meta.get("prompt") or {}
    if prompt:
        name, version, digest = prompt.get("name"), prompt.get("version"), prompt.get("digest")
        return f"{model}; prompt {name} v{version} ({digest})"
    return f"{model}; no prompt version"


def endpoint_lines(desc: dict[str, Any]) -> list[str]:
    variants = ", ".join(
        f"{v['VariantName']} weight {v.get('CurrentWeight', 0):g}"
        for v in desc.get("ProductionVariants", [])
    )
    return [
        f"DescribeEndpoint {desc['EndpointName']}: {desc['EndpointStatus']}, "
        f"config {desc['EndpointConfigName']}, variants: {variants}"
    ]


def gate_table(rows: list[dict[str, Any]]) -> list[str]:
    """The gate's evidence table, rows that were tested (slices too small are skipped)."""

    def num(x: Any) -> str:
        return "n/a" if x is None else f"{x:.4g}"

    out = [
        f"{'metric':<16} {'slice':<9} {'rule':<16} {'n':>5} {'candidate':>9} "
        f"{'champion':>9} {'interval':>21}  decision"
    ]
    for r in rows:
        if r.get("decision") == "skipped":
            continue
        interval = (
            f"[{num(r.get('low'))}, {num(r.get('high'))}]" if r.get("low") is not None else ""
        )
        out.append(
            f"{r['metric']:<16} {r['slice']:<9} {r['rule']:<16} {r['n']:>5} "
            f"{num(r.get('candidate')):>9} {num(r.get('champion')):>9} {interval:>21}  "
            f"{r['decision']}"
        )
    return out
