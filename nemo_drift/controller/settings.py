"""Which settings each stage depends on, derived from the schema: every field declares the stages a
change of it redoes (`nemo_drift.config.declare.setting`). A completed stage is redone only when one of
its settings changed (and the user asked for it), so tweaking, say, `trainer.lr` never throws away
generated samples."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any, Iterator

from nemo_drift.config.declare import INVALIDATES, applies
from nemo_drift.config.schema import DriftConfig


def schema_fields(cls: type = DriftConfig, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """(dotted key, field) for every declared field: the groups of DriftConfig are walked into; a field
    declared with `setting(...)` is a leaf, whatever its type (model.architecture is one)."""
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if INVALIDATES not in f.metadata and isinstance(f.default_factory, type) \
                and dataclasses.is_dataclass(f.default_factory):
            yield from schema_fields(f.default_factory, key + ".")
        else:
            yield key, f


@lru_cache(maxsize=1)
def invalidation_table() -> dict[str, tuple[str, ...]]:
    """`group.key` -> the `invalidates` entries declared on that field."""
    return {key: tuple(f.metadata.get(INVALIDATES, ())) for key, f in schema_fields()}


def _value(cfg: DriftConfig, key: str) -> Any:
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def stage_settings(cfg: DriftConfig, stage: str, iteration: int) -> dict[str, Any]:
    """The `group.key -> value` settings that `stage` of `iteration` depends on (0 = warm start)."""
    return {key: _value(cfg, key) for key, entries in invalidation_table().items()
            if any(applies(entry, stage, iteration) for entry in entries)}
