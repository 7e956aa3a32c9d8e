"""How a schema field is declared: its default and the stages of a run that a change of it redoes.

Every leaf field of `DriftConfig` is declared with `setting(default, invalidates=(...))`. The stage
list is the single source of the controller's "which settings does this completed stage depend on"
question (`nemo_drift.controller.settings` derives its table from it), so a new field cannot be
forgotten: `tests/config/test_invalidation.py` fails on any field declared without it.

A stage name may carry a scope: `"train:warm_start"` (iteration 0 only) or `"pairs:iterations"`
(iterations 1..K only); a bare name applies to every iteration that has the stage. Settings that only
change where or how fast a stage runs (layouts, launchers, logging) declare `invalidates=()`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

STAGES = ("prepare", "import", "generate", "pairs", "reference", "train", "export", "parity")
"""The stages of one run, in the order an iteration runs them (nemo_drift/controller/pipeline.py)."""

SCOPES = ("warm_start", "iterations")
"""`stage:scope` limits a dependency to iteration 0 (the warm start) or to iterations 1..K."""

INVALIDATES = "invalidates"
"""The dataclass field-metadata key that holds a field's stage list."""


def check_stage_entry(entry: str) -> None:
    """Raise ValueError unless `entry` is `stage` or `stage:scope` with known names."""
    stage, _, scope = entry.partition(":")
    if stage not in STAGES or (scope and scope not in SCOPES):
        raise ValueError(f"invalidates entry {entry!r}: expected one of {STAGES}, optionally ':' + one of {SCOPES}")


def setting(default: Any = dataclasses.MISSING, *, invalidates: tuple[str, ...],
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its default and the stages a change of its value redoes."""
    for entry in invalidates:
        check_stage_entry(entry)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={INVALIDATES: tuple(invalidates)})


def applies(entry: str, stage: str, iteration: int) -> bool:
    """Whether an `invalidates` entry covers `stage` in `iteration` (0 = warm start)."""
    name, _, scope = entry.partition(":")
    if name != stage:
        return False
    return not scope or (scope == "warm_start") == (iteration == 0)
