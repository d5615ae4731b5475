"""What the release needs from the outside world. The aws adapters (modules) satisfy
these protocols structurally; tests pass in-memory fakes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from release_guard.events import EndpointView


class Endpoints(Protocol):
    def describe_endpoint(self, name: str) -> EndpointView | None: ...
    def describe_endpoint_config(self, name: str) -> dict[str, Any]: ...
    def describe_model_package(self, arn: str) -> dict[str, Any] | None: ...
    def create_model(
        self, name: str, container: dict[str, Any], role_arn: str, tags: dict[str, str]
    ) -> None: ...
    def create_endpoint_config(
        self, name: str, variants: list[dict[str, Any]], data_capture: dict[str, Any] | None
    ) -> None: ...
    def update_endpoint(self, endpoint: str, config_name: str) -> None: ...
    def update_weights(self, endpoint: str, weights: dict[str, float]) -> None: ...
    def record_on_package(self, arn: str, properties: dict[str, str]) -> None: ...


class Ledger(Protocol):
    def record_once(
        self, release_id: str, key: str, item: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]: ...
    def put_summary(self, release_id: str, summary: dict[str, Any]) -> None: ...
    def update_summary(self, release_id: str, fields: dict[str, Any]) -> None: ...
    def acquire_lock(
        self,
        endpoint: str,
        owner: str,
        execution_arn: str,
        now: int,
        lease: int,
        replace_owner: str | None = None,
    ) -> bool: ...
    def lock_holder(self, endpoint: str) -> dict[str, Any] | None: ...
    def release_lock(self, endpoint: str, owner: str) -> bool: ...
    def put_package_outcome(
        self, package_arn: str, prompt: str | None, item: dict[str, Any]
    ) -> None: ...
    def package_outcome(self, package_arn: str, prompt: str | None) -> dict[str, Any] | None: ...


class Metrics(Protocol):
    def variant_series(
        self,
        endpoint: str,
        variant: str,
        start: datetime,
        end: datetime,
        period: int,
        wanted: dict[str, tuple[str, str, str]],
    ) -> dict[str, list[float | None]]: ...


class Workflow(Protocol):
    def execution_status(self, arn: str) -> str | None: ...
    def notify(self, subject: str, body: dict[str, Any]) -> None: ...


class Starter(Workflow, Protocol):
    """What starting a release needs of Step Functions and S3."""

    def execution_arn(self, state_machine_arn: str, name: str) -> str: ...
    def start_execution(
        self, state_machine_arn: str, name: str, payload: dict[str, Any]
    ) -> str | None: ...
    def read_json(self, uri: str) -> Any: ...
