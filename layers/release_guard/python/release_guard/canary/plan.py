"""Pure plans for endpoint changes: what to create, and the next reconcile action.

Roll Back and Promote are reconcilers: each call reads DescribeEndpoint, takes the
one next action that moves the endpoint toward the target, and reports verified
only when the read-back matches. A crash or a duplicate call at any point simply
resumes from what the endpoint shows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from release_guard.errors import InvalidReleaseRequest
from release_guard.events import EndpointView, PromptRef, ReleaseContext, Variant

SETTLING = {"Creating", "Updating", "SystemUpdating", "RollingBack"}
BROKEN = {"Failed", "OutOfService", "Deleting", "UpdateRollbackFailed"}


def short_hash(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:n]


def _model_label(model: str) -> str:
    if ":model-package/" in model:
        return f"v{model.rsplit('/', 1)[-1][:10]}"
    return f"c{short_hash(model, n=6)}"  # a container: no version to show


def release_id_for(endpoint: str, model: str, stamp: str, prompt: PromptRef | None = None) -> str:
    """Deterministic: duplicate events for one approval map to one execution name.
    ``model`` is the package ARN (or events.model_key of a container)."""
    label, parts = _model_label(model), [endpoint, model, stamp]
    if prompt is not None:
        label += f"-p{prompt.version}"
        parts.append(f"{prompt.label}@{prompt.digest}")
    return f"{endpoint[:40]}-{label}-{short_hash(*parts, n=12)}"


def candidate_variant_name(model: str, version: int | None, prompt: PromptRef | None = None) -> str:
    """``v7`` for package version 7, ``c-<hash>`` for a container; with a prompt,
    ``v7-support-assistant-v3``: a prompt change is a new variant of the same model."""
    base = f"v{version}" if version is not None else f"c-{short_hash(model)}"
    return base if prompt is None else f"{base}-{prompt.name}-v{prompt.version}"


def candidate_container(ctx: ReleaseContext) -> dict[str, Any]:
    """CreateModel's ContainerDefinition: the package (or image and model data) with the
    container's environment and the prompt's on top (SageMaker accepts Environment next
    to ModelPackageName; the package's own variables stay unless a key is set here)."""
    env = dict(ctx.container.environment) if ctx.container else {}
    if ctx.prompt is not None:
        env.update(ctx.prompt.environment)
    if ctx.model_package_arn:
        container: dict[str, Any] = {"ModelPackageName": ctx.model_package_arn}
    elif ctx.container is not None:
        container = {"Image": ctx.container.image}
        if ctx.container.model_data_url:
            container["ModelDataUrl"] = ctx.container.model_data_url
    else:
        raise InvalidReleaseRequest("release", "a model package or a container")
    if env:
        container["Environment"] = env
    return container


def model_tags(ctx: ReleaseContext) -> dict[str, str]:
    """Tags of the candidate's model: where it came from, readable in the console."""
    tags = {"release-guard:release": ctx.release_id}
    if ctx.model_package_arn:
        tags["release-guard:package"] = ctx.model_package_arn[-256:]
    elif ctx.container is not None:
        tags["release-guard:image"] = ctx.container.image[-256:]
    if ctx.prompt is not None:
        tags["release-guard:prompt"] = f"{ctx.prompt.label}@{ctx.prompt.digest}"
    return tags


def candidate_model_name(endpoint: str, variant: str, release_id: str) -> str:
    return f"{endpoint[:40]}-{variant[:12]}-{short_hash(release_id)}"[:63].rstrip("-")


def candidate_config_name(endpoint: str, release_id: str, purpose: str) -> str:
    return f"{endpoint[:40]}-{purpose[:8]}-{short_hash(release_id, purpose, n=10)}"


def pick_champion(
    view: EndpointView, candidate_name: str, unjudged: dict[str, str] | None = None
) -> str:
    """The single variant taking traffic; anything else is refused before a change,
    and so is a variant a release placed and never promoted (``unjudged``, with why)."""
    champion = _serving_variant(view, candidate_name)
    why = (unjudged or {}).get(champion)
    if why:
        raise InvalidReleaseRequest(
            "endpoint_name",
            "a champion the team deployed or release-guard promoted (recover or roll back "
            "the earlier release first: docs/operations.md, Runbooks)",
            f"{champion} serves, {why}",
        )
    return champion


def _serving_variant(view: EndpointView, candidate_name: str) -> str:
    if view.status != "InService":
        raise InvalidReleaseRequest(
            "endpoint_name", f"an endpoint InService (it is {view.status})", view.name
        )
    if view.variant(candidate_name) is not None:
        raise InvalidReleaseRequest(
            "candidate_variant",
            "a variant name not already on the endpoint",
            candidate_name,
        )
    serving = [v for v in view.variants if (v.current_weight or 0) > 0]
    if len(view.variants) == 1:
        return view.variants[0].name
    if len(serving) != 1:
        weights = {v.name: v.current_weight for v in view.variants}
        raise InvalidReleaseRequest(
            "endpoint_name",
            "an endpoint whose traffic goes to exactly one variant (the champion)",
            weights,
        )
    return serving[0].name


def weights_for(percent: float, champion: str, candidate: str) -> dict[str, float]:
    """SageMaker splits traffic by relative weight; percentages keep it readable."""
    return {champion: round(100.0 - percent, 6), candidate: round(percent, 6)}


def config_with_candidate(
    config_variants: list[dict[str, Any]],
    view: EndpointView,
    candidate: Variant,
) -> list[dict[str, Any]]:
    """Current variants at their *current* weights (not the config's initial ones),
    plus the candidate at weight 0 so it takes no traffic until the first step."""
    variants = []
    for cv in config_variants:
        live = view.variant(cv["VariantName"])
        weight = live.current_weight if live and live.current_weight is not None else None
        entry = {k: v for k, v in cv.items() if k != "CurrentWeight"}
        if weight is not None:
            entry["InitialVariantWeight"] = weight
        variants.append(entry)
    variants.append(
        {
            "VariantName": candidate.name,
            "ModelName": candidate.model_name,
            "InstanceType": candidate.instance_type,
            "InitialInstanceCount": candidate.instance_count,
            "InitialVariantWeight": 0.0,
        }
    )
    return variants


def config_without(
    config_variants: list[dict[str, Any]], drop: str, view: EndpointView
) -> list[dict[str, Any]]:
    """The config minus one variant, every other variant at its live weight: a
    standby at 0 stays at 0 rather than being handed traffic."""
    kept = []
    for cv in config_variants:
        if cv["VariantName"] == drop:
            continue
        entry = dict(cv)
        live = view.variant(cv["VariantName"])
        if live is not None and live.current_weight is not None:
            entry["InitialVariantWeight"] = live.current_weight
        kept.append(entry)
    return kept


@dataclass(frozen=True)
class Step:
    kind: Literal["wait", "set_weights", "replace_config", "verified", "failed"]
    detail: str
    weights: dict[str, float] | None = None
    drop_variant: str | None = None


def _shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {k: (w / total if total > 0 else 0.0) for k, w in weights.items()}


def _weights_match(view: EndpointView, target: dict[str, float]) -> bool:
    """SageMaker splits traffic by relative weight: compare each variant's share."""
    live = {v.name: v.current_weight for v in view.variants}
    if any(live.get(name) is None for name in target):
        return False
    want = _shares(target)
    have = _shares({name: float(live[name] or 0.0) for name in target})
    return all(abs(want[n] - have[n]) <= 1e-9 for n in target)


def _only_serving(view: EndpointView, serving: str) -> bool:
    """``serving`` takes traffic and every other variant has weight 0."""
    for v in view.variants:
        weight = v.current_weight or 0.0
        if (v.name == serving) != (weight > 0):
            return False
    return view.variant(serving) is not None


def _all_to(view: EndpointView, serving: str) -> dict[str, float]:
    return {v.name: (100.0 if v.name == serving else 0.0) for v in view.variants}


def next_rollback_step(view: EndpointView, champion: str, candidate: str) -> Step:
    """Champion to 100 % first, then remove the candidate, then verify."""
    if view.variant(champion) is None:
        return Step("failed", f"champion variant {champion} is no longer on the endpoint")
    if view.status in SETTLING:
        return Step("wait", f"endpoint is {view.status}")
    if view.status in BROKEN:
        return Step("failed", f"endpoint is {view.status}: {view.failure_reason or 'no reason'}")
    target = _all_to(view, champion)
    if not _weights_match(view, target):
        return Step("set_weights", "all traffic back to the champion", weights=target)
    if view.variant(candidate) is not None:
        return Step(
            "replace_config", "candidate takes no traffic; removing it", drop_variant=candidate
        )
    if not _only_serving(view, champion):
        return Step("failed", f"{champion} is not the only variant taking traffic")
    return Step("verified", f"only {champion} takes traffic")


def next_promotion_step(
    view: EndpointView, champion: str, candidate: str, remove_champion: bool
) -> Step:
    """Candidate to 100 %, then (after the watch) remove the champion, then verify."""
    if view.status in SETTLING:
        return Step("wait", f"endpoint is {view.status}")
    if view.status in BROKEN:
        return Step("failed", f"endpoint is {view.status}: {view.failure_reason or 'no reason'}")
    if view.variant(candidate) is None:
        return Step("failed", f"candidate variant {candidate} is not on the endpoint")
    target = _all_to(view, candidate)
    if not _weights_match(view, target):
        return Step("set_weights", "all traffic to the candidate", weights=target)
    if view.variant(champion) is not None:
        if not remove_champion:
            return Step("verified", f"{candidate} takes 100 %; {champion} kept at 0 for the watch")
        return Step("replace_config", "removing the former champion", drop_variant=champion)
    if not _only_serving(view, candidate):
        return Step("failed", f"{candidate} is not the only variant taking traffic")
    return Step("verified", f"only {candidate} takes traffic")
