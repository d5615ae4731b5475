"""Evaluation records: one JSON object per example x system x sample.

Parsing never stops at the first bad line: every problem is counted with its file and
line, so the gate can report them and fail above the policy's limit instead of silently
dropping data.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

System = Literal["candidate", "champion"]


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
    sample_index: int = Field(0, ge=0)
    scores: dict[str, float] = Field(default_factory=dict)
    latency_ms: float | None = Field(None, ge=0)
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    cost_usd: float | None = Field(None, ge=0)
    judge: JudgeInfo | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("scores", mode="before")
    @classmethod
    def _scores(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("an object of metric -> number")
        for name, score in value.items():
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise ValueError(f"score {name!r} is not a number: {score!r}")
            if not math.isfinite(float(score)):
                raise ValueError(f"score {name!r} is not finite: {score!r}")
        return value


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
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:  # pydantic parses the JSON itself: about twice as fast as json.loads first
            records.append(EvalRecord.model_validate_json(line))
        except ValidationError as err:
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
