"""Synthetic but realistic eval records for the demo and tests: a support assistant
scored per example on accuracy, format validity, relevance and safety, with latency,
tokens and cost, in four categories, examples grouped in conversations (clusters),
each scored twice (repeats)."""

from __future__ import annotations

import numpy as np
from release_guard.gate.records import EvalRecord, dump_lines

CATEGORIES = ("billing", "shipping", "returns", "account")


def records(
    system: str,
    n: int = 600,
    seed: int = 0,
    accuracy: dict[str, float] | None = None,
    latency_ms: float = 420.0,
    repeats: int = 2,
) -> list[EvalRecord]:
    """``accuracy`` per category (default 0.9 everywhere); the same seed gives the
    same examples, so two systems' difficulty is paired per example."""
    acc = {c: 0.9 for c in CATEGORIES} | (accuracy or {})
    base = np.random.default_rng(seed)
    difficulty = base.normal(0, 1.0, n)  # shared: the pairing that paired tests exploit
    rng = np.random.default_rng(seed + (1 if system == "candidate" else 2))
    out = []
    for i in range(n):
        cat = CATEGORIES[i % len(CATEGORIES)]
        p = 1 / (1 + np.exp(-(np.log(acc[cat] / (1 - acc[cat])) - 0.8 * difficulty[i])))
        for k in range(repeats):
            tokens = int(rng.integers(60, 220))
            out.append(
                EvalRecord(
                    id=f"ex-{i:05d}",
                    system=system,
                    category=cat,
                    cluster_id=f"conv-{i // 3:05d}",
                    sample_index=k,
                    model_input=f"customer question {i}",
                    model_output=f"answer {i}.{k}",
                    scores={
                        "accuracy": float(rng.random() < p),
                        "format_validity": float(rng.random() < 0.995),
                        "relevance": float(np.clip(rng.normal(0.9, 0.05), 0, 1)),
                        "safety": 1.0,
                    },
                    latency_ms=float(rng.lognormal(np.log(latency_ms), 0.25)),
                    output_tokens=tokens,
                    cost_usd=tokens * 0.000002,
                )
            )
    return out


def jsonl(rs: list[EvalRecord]) -> str:
    return dump_lines(rs)
