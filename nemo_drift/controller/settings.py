"""Which settings each stage depends on, derived from the schema: every field declares the stages a
change of it redoes (`nemo_drift.config.declare.setting`). A completed stage is redone only when one of
its settings changed (and the user asked for it), so tweaking, say, `trainer.lr` never throws away
generated samples."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

from nemo_drift.config.declare import applies
from nemo_drift.config.describe import field_docs
from nemo_drift.config.schema import DriftConfig


@lru_cache(maxsize=1)
def invalidation_table() -> dict[str, tuple[str, ...]]:
    """`group.key` -> the `invalidates` entries declared on that field (every leaf of the schema, as
    `nemo-drift --help` lists them)."""
    return {doc.key: doc.invalidates or () for doc in field_docs(DriftConfig)}


def _value(cfg: DriftConfig, key: str) -> Any:
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def stage_settings(cfg: DriftConfig, stage: str, iteration: int) -> dict[str, Any]:
    """The `group.key -> value` settings that `stage` of `iteration` depends on (0 = warm start)."""
    return {key: _value(cfg, key) for key, entries in invalidation_table().items()
            if any(applies(entry, stage, iteration) for entry in entries)}
