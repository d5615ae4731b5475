"""What one release may cost Step Functions at worst: its duration, the events in its
execution history and the size of its state. A policy that cannot fit is refused when
it is read, naming the fields, instead of failing mid-canary with traffic on the
candidate (docs/policies.md, "Limits").

Step Functions refuses a 25,000th history event and any state over 256 KiB, and the
release state machine's TimeoutSeconds is MAX_RELEASE_SECONDS (tests/unit/test_asl.py
holds them equal). The counts below follow the release ASL, one look at a time.
"""

from __future__ import annotations

import math
from typing import Any

HISTORY_LIMIT = 25_000  # Step Functions: events per execution
# Retries (up to 6 per task, 3 events each) and the odd redelivery come on top of the
# counted path: a fifth of the history is kept for them.
HISTORY_BUDGET = 20_000
STATE_LIMIT = 256 * 1024  # bytes of a state's input or output
MAX_RELEASE_SECONDS = 14 * 86_400  # the release state machine's TimeoutSeconds

TASK = 5  # TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited
CALLBACK = 6  # ... plus TaskSubmitted (waitForTaskToken)
SMALL = 2  # a Choice, Wait or Pass state: entered and exited
LOOK = TASK + 2 * SMALL  # Judge Canary, Canary Verdict?, Keep Baking
POLL = TASK + 2 * SMALL  # a reconcile or status task, its Choice and its Wait
# An error's Cause is kept in the state (Catch ResultPath): Lambda's error payload is
# at most 32 KiB in the history, and the state can hold three (error, rollback_error,
# finish_error).
CAUSES = 3 * 32 * 1024
FINDING = 1024  # a verdict's or gate's finding, as JSON, generously
OTHER_STATE = 16 * 1024  # endpoint, deploy, promotion, approval, outcome


def looks_per_step(canary: Any) -> int:
    """At most this many looks in one step: check_interval_seconds apart, until half of
    max_looks_per_step is used; then the rest of max_bake is spread over the other half
    (look_wait). The minimum bake's shortened wait can add one."""
    wanted = math.ceil(canary.max_bake_seconds / canary.check_interval_seconds) + 1
    return min(wanted, canary.max_looks_per_step) + 1


def look_wait(canary: Any, checks: int, elapsed: float) -> int:
    """Seconds to the next look after look number ``checks`` of a step, ``elapsed``
    seconds into it. Anytime-valid tests may look at any times: spacing the later looks
    of a long bake keeps its history bounded, at the cost of noticing a late regression
    up to one wider interval later (never at the cost of the error rates)."""
    interval = canary.check_interval_seconds
    budget = canary.max_looks_per_step
    if checks < budget // 2:
        return interval
    left = max(1, budget - checks)
    return max(interval, math.ceil(max(0.0, canary.max_bake_seconds - elapsed) / left))


def worst_case_seconds(policy: Any) -> int:
    """The longest an honest release of this policy can run: the deploy deadline, every
    step baked to max_bake and held for the operator's full timeout, both eval-gate
    holds, promotion, the watch, retirement and a rollback retried to its limit."""
    steps = len(policy.canary.steps)
    reconcile = policy.rollback_max_attempts * policy.rollback_poll_seconds
    return (
        policy.deployment.in_service_timeout_seconds
        + steps * (policy.canary.max_bake_seconds + policy.operator_timeout_seconds)
        + 2 * policy.operator_timeout_seconds  # eval gate: offline and live holds
        + policy.canary.post_promotion_watch_seconds
        + 3 * reconcile  # promotion, retirement, rollback
        + 3600  # Lambda runs, retries and Step Functions' own latency
    )


def worst_case_events(policy: Any) -> int:
    """History events of the longest path: start, gate, deploy polled to its deadline,
    every step with its looks and a hold, promotion and retirement retried to their
    limit, the watch, a rollback retried to its limit, finish."""
    steps = len(policy.canary.steps)
    deploy_polls = math.ceil(
        policy.deployment.in_service_timeout_seconds / policy.deployment.poll_seconds
    )
    per_step = SMALL + TASK + SMALL + looks_per_step(policy.canary) * LOOK + CALLBACK + SMALL
    reconcile = policy.rollback_max_attempts * (POLL + SMALL)
    return (
        1  # ExecutionStarted
        + 2 * TASK  # Prepare Release, Acquire Release Lock
        + 2 * (SMALL + TASK + SMALL + CALLBACK + SMALL)  # offline and live gates
        + TASK  # Run Eval On Variants
        + TASK  # Deploy Candidate Variant
        + (deploy_polls + 1) * POLL
        + steps * per_step
        + SMALL  # Begin Promotion
        + 2 * reconcile  # Promote Candidate, Retire Champion
        + 2 * SMALL
        + TASK
        + SMALL  # Post-Promotion Watch, Judge Promotion Watch, Watch Verdict?
        + SMALL
        + reconcile  # Begin Rollback, Roll Back
        + SMALL
        + TASK
        + SMALL
        + SMALL  # Mark ..., Finish Release, Release Outcome?, end
        + 1  # ExecutionSucceeded/Failed
    )


def worst_case_state_bytes(policy_json: str, rules: int, gate_metrics: int) -> int:
    """The largest state a release carries: the release context (which holds the
    policy, counted twice for the request and the context), a verdict and a gate
    result with every finding, three error causes and the rest."""
    return 2 * len(policy_json.encode()) + (rules + gate_metrics) * FINDING + CAUSES + OTHER_STATE


def problems(policy: Any, policy_json: str) -> list[tuple[str, str]]:
    """(field, what is expected) for each limit the policy's worst case breaks."""
    found: list[tuple[str, str]] = []
    seconds = worst_case_seconds(policy)
    if seconds > MAX_RELEASE_SECONDS:
        found.append(
            (
                "policy.canary.max_bake_seconds, policy.operator_timeout_seconds, "
                "policy.deployment.in_service_timeout_seconds",
                f"a worst case within {MAX_RELEASE_SECONDS} s (the release state machine's "
                f"TimeoutSeconds); these give {seconds} s",
            )
        )
    events = worst_case_events(policy)
    if events > HISTORY_BUDGET:
        found.append(
            (
                "policy.canary.max_looks_per_step, policy.deployment.poll_seconds, "
                "policy.rollback_max_attempts",
                f"at most {HISTORY_BUDGET} history events on the longest path (Step "
                f"Functions stops an execution at {HISTORY_LIMIT}); these give {events}",
            )
        )
    gate = getattr(policy, "gate", None)
    gate_metrics = len(gate.metrics) if gate is not None else 0
    size = worst_case_state_bytes(policy_json, len(policy.canary.metrics), gate_metrics)
    if size > STATE_LIMIT:
        found.append(
            (
                "policy",
                f"a state within {STATE_LIMIT} bytes at worst (Step Functions' limit); "
                f"this policy's release carries up to {size} (fewer metric rules or a "
                "smaller policy)",
            )
        )
    return found
