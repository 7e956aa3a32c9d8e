"""Typed configuration: one dataclass per group (`run`, `resume`, `model`, `data`, `method`, `trainer`,
`generation`, `cluster`), each with a docstring per field and a `validate()` returning one message per
bad setting, named by key. `loader.load_config(overrides)` composes conf/*.yaml with Hydra on top of
these defaults (schema.py) and validates everything before any work starts."""
