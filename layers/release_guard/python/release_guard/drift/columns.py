"""Features read from a batch of records: the hand-off from parsing to profiling.

Inputs and outputs are compared feature by feature (marginal distributions), so each
feature's values need not line up with any other feature's. Text features are already
expanded into their derived numeric and categorical features (``drift.text``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Quality:
    """Data-quality counts for one batch; every skipped thing is counted here."""

    records: int = 0  # capture lines read (or dataset rows)
    unparsable: int = 0  # lines that are not JSON, or not a capture record
    bad_payload: int = 0  # payloads that do not decode (BASE64, UTF-8, JSON, CSV)
    missing_columns: int = 0  # CSV rows with fewer fields than the schema
    extra_columns: int = 0  # CSV rows with more fields than the schema
    type_mismatch: Counter[str] = field(default_factory=Counter)  # feature -> values
    missing_field: Counter[str] = field(default_factory=Counter)  # feature -> JSON path misses
    examples: list[str] = field(default_factory=list)  # first few problems, for the report

    def note(self, problem: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(problem[:300])

    def merge(self, other: Quality) -> None:
        self.records += other.records
        self.unparsable += other.unparsable
        self.bad_payload += other.bad_payload
        self.missing_columns += other.missing_columns
        self.extra_columns += other.extra_columns
        self.type_mismatch.update(other.type_mismatch)
        self.missing_field.update(other.missing_field)
        for e in other.examples:
            self.note(e)


@dataclass
class Columns:
    """One batch of features. Missing values: NaN (numeric), None (categorical)."""

    rows: dict[str, int] = field(default_factory=dict)  # "input"/"output" -> rows seen
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # float64, 1-d
    categorical: dict[str, list[str | None]] = field(default_factory=dict)
    embedding: dict[str, np.ndarray] = field(default_factory=dict)  # (n, dim) float32
    embedding_ids: dict[str, list[str]] = field(default_factory=dict)  # a stable id per vector
    source: dict[str, str] = field(default_factory=dict)  # feature -> "input"/"output"
    quality: Quality = field(default_factory=Quality)
