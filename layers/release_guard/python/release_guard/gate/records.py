"""Evaluation records: one JSON object per example x system x sample.

Parsing never stops at the first bad line: every problem is counted with its file and
line, so the gate can report them and fail above the policy's limit instead of silently
dropping data.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

System = Literal["candidate", "champion"]

# The largest magnitude a number in a record may have: 2**53, up to which float64 (what
# the gate computes in) holds every integer exactly. Anything larger is no latency, count,
# cost or score but a unit or writer error, and its squares and sums would overflow or
# lose precision in the statistics; like inf and NaN it is refused, naming the field.
LIMIT = 2**53

# Strict: a boolean or a numeric string is not a score; pydantic-core checks it per value
# in compiled code (a Python validator here was most of the parsing time).
Score = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-LIMIT, le=LIMIT)]


class JudgeInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    model: str
    prompt_hash: str


class EvalRecord(BaseModel):
    """One scored output. ``scores`` holds metrics in [0, 1] or any real scale."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1)
    system: System
    model_input: Any = None
    model_output: Any = None
    target_output: str | list[str] | None = None
    category: str | None = None
    cluster_id: str | None = None
    sample_index: int = Field(0, ge=0, le=LIMIT)
    scores: dict[str, Score] = Field(default_factory=dict)
    latency_ms: float | None = Field(None, ge=0, le=LIMIT, allow_inf_nan=False)
    input_tokens: int | None = Field(None, ge=0, le=LIMIT)
    output_tokens: int | None = Field(None, ge=0, le=LIMIT)
    cost_usd: float | None = Field(None, ge=0, le=LIMIT, allow_inf_nan=False)
    judge: JudgeInfo | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@contextmanager
def bulk() -> Iterator[None]:
    """No garbage collection while many records are made: they hold no cycles, yet each
    allocation burst triggers a collection that walks every record made so far (some
    40 % of the parsing time at 100k records, bench/gate_bench.py). The collector's
    state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Problems:
    """What parsing found wrong, by kind, with up to 20 examples each."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, [])
        if len(self.examples[kind]) < 20:
            self.examples[kind].append(where)

    def merge(self, other: Problems) -> None:
        for kind, n in other.counts.items():
            self.counts[kind] += n
            for ex in other.examples.get(kind, []):
                if len(self.examples.setdefault(kind, [])) < 20:
                    self.examples[kind].append(ex)


def _kind(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "missing":
        return f"missing {loc}"
    if loc.startswith("scores"):
        return "non-numeric score"
    return f"invalid {loc}"


def parse_lines(text: str, source: str) -> tuple[list[EvalRecord], Problems]:
    """JSON Lines -> records; bad lines are counted as ``file:line: reason``."""
    records: list[EvalRecord] = []
    problems = Problems()
    if not text.strip():
        problems.add("empty file", source)
        return records, problems
    validate = EvalRecord.model_validate_json
    with bulk():
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:  # pydantic parses the JSON itself: about twice as fast as json.loads first
                records.append(validate(line))
            except ValidationError as err:
                where = f"{source}:{number}"
                first = err.errors()[0]
                if first["type"] == "json_invalid":
                    problems.add("invalid JSON", f"{where}: {first['msg']}")
                elif first["type"] == "model_type":
                    problems.add("invalid JSON", f"{where}: not an object")
                else:
                    loc = ".".join(map(str, first["loc"]))
                    problems.add(_kind(err), f"{where}: {loc}: {first['msg']}")
    return records, problems


def dump_lines(records: list[EvalRecord]) -> str:
    return "".join(
        json.dumps(r.model_dump(mode="json", exclude_none=True), sort_keys=True) + "\n"
        for r in records
    )
