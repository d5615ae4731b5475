"""What SageMaker's UpdateModelPackage accepts, read from botocore's service model
(sagemaker service-2.json), never from release_guard: the oracle of the registry tests
and of FakeEndpoints.record_on_package.

botocore validates only a string's ``min`` on the client; the service checks the rest
(``max`` in UTF-16 units, as Java counts, and the pattern, with Java's regex syntax:
``\\p{L}`` etc. as the ``regex`` module reads them, ``.`` not matching line breaks).
``regex`` comes with cfn-lint (requirements/dev.txt).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
import regex


@cache
def shape(name: str) -> dict[str, Any]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return dict(model.shape_for(name).metadata)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _string_problem(
    what: str, text: str, shape_name: str, pattern: str | None = None
) -> str | None:
    spec = shape(shape_name)
    size = utf16_length(text)
    if not spec.get("min", 0) <= size <= spec["max"]:
        return f"{what} {text[:40]!r}: length {size} not in [{spec.get('min', 0)}, {spec['max']}]"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} {text[:40]!r}: not encodable (a lone surrogate)"
    if not regex.fullmatch(pattern or spec["pattern"], text):
        return f"{what} {text[:40]!r}: does not match {spec['pattern']}"
    return None


def metadata_problems(properties: Mapping[str, str]) -> list[str]:
    """Why UpdateModelPackage would refuse these CustomerMetadataProperties (none: fine)."""
    spec = shape("CustomerMetadataMap")
    problems = []
    if not spec.get("min", 0) <= len(properties) <= spec["max"]:
        problems.append(f"{len(properties)} entries, not in [{spec.get('min', 0)}, {spec['max']}]")
    for key, value in properties.items():
        problems += [
            p
            for p in (
                _string_problem("key", key, "CustomerMetadataKey"),
                _string_problem("value", value, "CustomerMetadataValue"),
            )
            if p
        ]
    return problems


# Java's "." matches anything but these (without DOTALL); Python's only excludes "\n".
JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"


def description_problem(text: str) -> str | None:
    """Why UpdateModelPackage would refuse this ApprovalDescription (None: fine)."""
    pattern = shape("ApprovalDescription")["pattern"]
    assert pattern == ".*", f"ApprovalDescription's pattern changed: {pattern}"
    return _string_problem("ApprovalDescription", text, "ApprovalDescription", f"{JAVA_DOT}*")
