"""What release-guard writes on a model package, in a form SageMaker accepts.

UpdateModelPackage refuses the whole call (ValidationException) when one
CustomerMetadataProperties key or value has a character outside
``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]`` (letters, separators, numbers and ``_.:/=+-@``: no
``( ) ; % ~ , [ ]``), a key is not 1-128 characters, a value not 1-256, or there are
more than 50 entries; and an ApprovalDescription over 1,024 characters or with a line
break (its pattern is ``.*``). (botocore's sagemaker service-2.json: CustomerMetadataMap,
CustomerMetadataKey, CustomerMetadataValue, ApprovalDescription.)

Every write goes through here: ``package_metadata`` turns an outcome into a short
summary, the release id and the report's address; ``customer_metadata`` and
``approval_description`` make any text fit. The full reason stays in the ledger and
the release report.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

KEY_MAX = 128
VALUE_MAX = 256
MAX_ENTRIES = 50
DESCRIPTION_MAX = 1024
PREFIX = "release-guard:"

_PUNCTUATION_OK = frozenset("_.:/=+-@")
# What a reason often says with a character SageMaker refuses, in words it accepts.
_WORDS = (
    ("<=", " at most "),
    (">=", " at least "),
    ("≤", " at most "),
    ("≥", " at least "),
    ("%", " percent"),
    ("<", " under "),
    (">", " over "),
    ("~", " about "),
    ("&", " and "),
    ("±", " +/- "),
    ("×", "x"),
    (";", ":"),
)
_SPACES = re.compile(r"\s+")
# Java's "." (SageMaker's patterns) does not match these: ApprovalDescription refuses them.
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")


def _allowed(ch: str) -> bool:
    """In SageMaker's metadata character class. Only the Basic Multilingual Plane: a
    length limit is counted in UTF-16 units by the service, in code points here."""
    if ch in _PUNCTUATION_OK:
        return True
    if ord(ch) > 0xFFFF:
        return False
    return unicodedata.category(ch)[0] in "LNZ"


def _fit(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word where one is near, marked by '...'."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    if space >= limit - 40:
        cut = cut[:space]
    return cut.rstrip(" ") + "..."


def clean(text: str, limit: int = VALUE_MAX) -> str:
    """``text`` with every character SageMaker refuses in metadata replaced (by words
    for ``% < > ~ &``, ``;`` by ``:``, else a space), runs of spaces collapsed, at most ``limit``
    characters. May be empty."""
    for symbol, words in _WORDS:
        text = text.replace(symbol, words)
    kept = "".join(ch if _allowed(ch) and not ch.isspace() else " " for ch in text)
    kept = _SPACES.sub(" ", kept).strip().replace(" :", ":")
    return _fit(kept, limit)


def valid_value(value: str, limit: int = VALUE_MAX) -> bool:
    """SageMaker would store ``value`` as it is (an address must never be altered)."""
    return 0 < len(value) <= limit and all(_allowed(ch) for ch in value)


def customer_metadata(properties: Mapping[str, str | None]) -> dict[str, str]:
    """CustomerMetadataProperties SageMaker accepts: keys and values it would refuse
    cleaned, empty ones left out (both need a character), at most 50 entries. A valid
    key or value is kept as it is."""
    out: dict[str, str] = {}
    for key, value in properties.items():
        k = key if valid_value(key, KEY_MAX) else clean(key, KEY_MAX)
        v = value or ""
        v = v if valid_value(v, VALUE_MAX) else clean(v, VALUE_MAX)
        if k and v and (k in out or len(out) < MAX_ENTRIES):
            out[k] = v
    return out


def approval_description(text: str) -> str:
    """An ApprovalDescription SageMaker accepts: no line breaks or other control
    characters, at most 1,024 characters."""
    kept = "".join(
        " "
        if ch in _LINE_BREAKS or unicodedata.category(ch) in ("Cc", "Cs") or ord(ch) > 0xFFFF
        else ch
        for ch in text
    )
    return _fit(_SPACES.sub(" ", kept).strip(), DESCRIPTION_MAX)


def summary(outcome: str, reason: str) -> str:
    """``release-guard: rolled back: 5xx_rate at most 5.00 percent absolute: ...``"""
    said = f"{PREFIX} {outcome.replace('_', ' ')}"
    return clean(f"{said}: {reason}" if reason.strip() else said)


def package_metadata(
    release_id: str,
    outcome: str,
    reason: str,
    report_uri: str | None = None,
    extra: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """The outcome of a release as the model package records it: the release id, the
    outcome, a short summary of why, and where the report is. An address SageMaker
    would refuse is left out rather than altered."""
    properties: dict[str, str | None] = {
        f"{PREFIX}release": release_id,
        f"{PREFIX}outcome": outcome,
        f"{PREFIX}summary": summary(outcome, reason),
    }
    if report_uri and valid_value(report_uri):
        properties[f"{PREFIX}report"] = report_uri
    properties.update(extra or {})
    return customer_metadata(properties)
