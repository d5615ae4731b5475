"""CloudFormation in the emulated account: stack-resource look-ups that work.

moto 5.2 keeps a stack's resources in a map that yields ``None`` for every resource it
did not create (types it does not implement, such as ``AWS::Scheduler::Schedule``,
which ``stack.deploy`` lists as skipped). DescribeStackResource and
DescribeStackResources walk that map and read ``logical_resource_id`` off each entry,
so they fail on the first ``None`` with an AttributeError: a traceback in-process, and
HTTP 500 under ``release-guard emulator serve``. ``release-guard drift check`` (and any
client finding a function by its logical id, as AWS users do) needs them.

Here the three look-ups see only the resources moto created; a logical id it did not
create answers AWS's ``ValidationError`` "Resource X does not exist for stack Y".

``install()`` is idempotent; each patch keeps moto's original in ``ORIGINAL``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend

ORIGINAL: dict[str, Any] = {}


def _created(stack: Any) -> list[Any]:
    return [r for r in stack.stack_resources if r is not None]


def _describe_stack_resource(
    self: CloudFormationBackend, stack_name: str, logical_resource_id: str
) -> tuple[Any, Any]:
    stack = self.get_stack(stack_name)
    for resource in _created(stack):
        if resource.logical_resource_id == logical_resource_id:
            return stack, resource
    message = f"Resource {logical_resource_id} does not exist for stack {stack_name}"
    raise ValidationError(stack_name, message)


def _describe_stack_resources(
    self: CloudFormationBackend, stack_name: str, logical_resource_id: str | None
) -> tuple[Any, Iterable[Any]]:
    stack = self.get_stack(stack_name)
    resources = _created(stack)
    if logical_resource_id is not None:
        resources = [r for r in resources if r.logical_resource_id == logical_resource_id]
    return stack, resources


def _list_stack_resources(
    self: CloudFormationBackend, stack_name_or_id: str
) -> tuple[Any, Iterable[Any]]:
    # moto lists the missing ones with an empty logical id; AWS has no such entries.
    stack = self.get_stack(stack_name_or_id)
    return stack, _created(stack)


def install() -> None:
    """Patch moto's CloudFormation backend; idempotent."""
    if ORIGINAL:
        return
    for name, patch in (
        ("describe_stack_resource", _describe_stack_resource),
        ("describe_stack_resources", _describe_stack_resources),
        ("list_stack_resources", _list_stack_resources),
    ):
        ORIGINAL[name] = getattr(CloudFormationBackend, name)
        setattr(CloudFormationBackend, name, patch)
