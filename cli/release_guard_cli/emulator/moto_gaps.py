"""Everything moto 5.2 lacks that release-guard relies on, filled in one place.

Handlers and adapters never know they run against this: they make the same boto3
calls as in AWS. What is emulated here, and why:

- SageMaker endpoints have a lifecycle (Creating/Updating -> InService, Failed) and
  refuse updates while one is in progress ("Cannot update in-progress endpoint");
  moto makes every change instant and has no UpdateEndpoint at all.
- Real-time GPU instance types (ml.g5, ml.g6, ml.p4d ...) are accepted.
- A weight of 0 is kept (moto drops falsy weights) and the default weight is 1.0.
- UpdateModelPackage changes only the fields given and merges metadata (moto
  overwrites); an approval-status change is published to EventBridge as
  "SageMaker Model Package State Change", as SageMaker does.
- InvokeEndpoint is routed to per-variant model server processes by weight and
  TargetVariant (see dataplane.py), with SageMaker's ModelError on a container 5XX.
- Lambda invokes run the real handler in-process instead of in Docker.
- EventBridge delivers to Lambda targets through that dispatcher.
- CloudFormation's DescribeStackResource(s) skip the resources moto did not create
  (it failed on them, so no client could find a function by its logical id; see
  cfn_gaps.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.sagemaker import models as sm_models


@dataclass
class Timings:
    """Seconds an endpoint spends in each transition (AWS: minutes)."""

    create: float = 1.0
    update: float = 1.5
    weights: float = 0.3


@dataclass
class Faults:
    """Faults tests and the demo inject into the emulated SageMaker."""

    fail_next_update: dict[str, str] = field(default_factory=dict)  # endpoint -> reason
    stuck: set[str] = field(default_factory=set)  # endpoints that stay Updating
    throttle: dict[str, int] = field(default_factory=dict)  # operation -> calls to throttle


class Throttled(JsonRESTError):
    code = 400

    def __init__(self, operation: str) -> None:
        super().__init__("ThrottlingException", f"Rate exceeded for {operation}")


class Gaps:
    """State of the emulated services beyond moto's: timings, faults, data plane."""

    def __init__(self, account_id: str, region: str, dataplane: Any, log: Path) -> None:
        self.account_id = account_id
        self.region = region
        self.dataplane = dataplane
        self.timings = Timings()
        self.faults = Faults()
        self.functions: dict[str, Path] = {}
        self.log = log
        self._modules: dict[str, ModuleType] = {}
        self._invoke_lock = threading.RLock()
        self._timers: list[threading.Timer] = []
        self.on_invoke: list[Callable[[str, dict[str, Any], Any], None]] = []

    # --- helpers ---------------------------------------------------------------------

    def backend(self) -> Any:
        return sm_models.sagemaker_backends[self.account_id][self.region]

    def later(self, seconds: float, fn: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        self.dataplane.stop_all()

    def check_throttle(self, operation: str) -> None:
        left = self.faults.throttle.get(operation, 0)
        if left > 0:
            self.faults.throttle[operation] = left - 1
            raise Throttled(operation)

    def model_environment(self, model_name: str) -> dict[str, str]:
        """A variant's container environment, following a ModelPackageName container."""
        backend = self.backend()
        model = backend._models.get(model_name)
        if model is None:
            return {}
        containers = list(getattr(model, "containers", None) or [])
        primary = getattr(model, "primary_container", None)
        if primary:
            containers.insert(0, primary)
        env: dict[str, str] = {}
        for c in containers:
            package_ref = c.get("ModelPackageName")
            if package_ref:
                name = backend.model_package_name_mapping.get(package_ref, package_ref)
                package = backend.model_packages.get(name)
                spec = getattr(package, "inference_specification", None) or {}
                for pc in spec.get("Containers", []):
                    env.update(pc.get("Environment") or {})
            env.update(c.get("Environment") or {})
        return env


GAPS: Gaps | None = None


def gaps() -> Gaps:
    if GAPS is None:
        raise RuntimeError("the emulator is not running")
    return GAPS


# --- install ---

ORIGINAL: dict[str, Any] = {}  # moto's methods, before the modules below replaced them


def install(g: Gaps) -> None:
    global GAPS
    GAPS = g
    from release_guard_cli.emulator import (
        cfn_gaps,
        constraints,
        iam,
        lambda_gaps,
        sagemaker_gaps,
        sfn_gaps,
    )

    iam.reset()
    iam.install()
    first = not ORIGINAL
    lambda_gaps.install(g, patch=first)
    if first:
        sagemaker_gaps.install()
        sfn_gaps.install()
        cfn_gaps.install()
        constraints.install()
