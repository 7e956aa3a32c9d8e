"""Small stand-ins shared by tests: a sample with only the fields the pair builders read."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeSample:
    """The fields of `nemo_drift.generation.records.Sample` a method reads."""

    prompt_id: str
    sample_index: int
    text: str
    empty: bool = False
    truncated: bool = False
