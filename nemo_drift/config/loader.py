"""Load a run configuration NeMo-style: `conf/drift.yaml` + group presets + command-line overrides.

`load_config(["method=spin", "trainer.lr=1e-6", "++model.seq_length=1024"])` composes the YAML with
Hydra, merges it onto the typed schema (so a misspelt key or a wrong type is an error naming the key),
turns it into `DriftConfig` dataclasses and validates every group before any work starts.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from nemo_drift.config.paths import REPO_ROOT
from nemo_drift.config.schema import DriftConfig

CONF_DIR = REPO_ROOT / "conf"


class ConfigError(ValueError):
    """A configuration that cannot run; the message lists every problem, one per line, by key."""

    def __init__(self, problems: Sequence[str], source: str = "configuration"):
        self.problems = list(problems)
        if len(self.problems) == 1:
            super().__init__(f"invalid {source}: {self.problems[0]}")
        else:
            super().__init__(f"invalid {source}:\n" + "\n".join(f"  - {p}" for p in self.problems))


def _register_resolvers() -> None:
    """`${assets:NAME}` -> the offline model cache; `${repo:PATH}` -> a path inside the checkout."""
    if not OmegaConf.has_resolver("assets"):
        import os

        models = Path(os.environ.get("NEMO_DRIFT_MODELS", REPO_ROOT / ".cache" / "models"))
        OmegaConf.register_new_resolver("assets", lambda name: str(models / name))
    if not OmegaConf.has_resolver("repo"):
        OmegaConf.register_new_resolver("repo", lambda rel="": str(REPO_ROOT / rel))


def _register_schema() -> None:
    """Make the typed schema the base of `conf/drift.yaml` (its defaults list starts with it), so Hydra
    itself rejects an override of a key that does not exist or of the wrong type."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="drift_schema", node=DriftConfig)


def normalise_overrides(overrides: Sequence[str]) -> list[str]:
    """`+key=value` on a key the schema already has becomes `++key=value` (override-or-add), so the
    NeMo habit of `+resume.from_stage=train` works on our typed schema instead of failing."""
    return [f"+{o}" if o.startswith("+") and not o.startswith("++") else o for o in overrides]


def compose(overrides: Sequence[str] = (), config_name: str = "drift", conf_dir: Path = CONF_DIR):
    """The merged OmegaConf tree (unvalidated, interpolations unresolved)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    _register_resolvers()
    _register_schema()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
            cfg = hydra_compose(config_name=config_name, overrides=normalise_overrides(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        message = str(err).strip().splitlines()[0]
        unknown = re.match(r"Could not override '([^']+)'", message)
        if unknown:
            message = f"{unknown.group(1)}: no such setting (`nemo-drift COMMAND --help` lists every key)"
        elif "Lexer" in message or "mismatched input" in message:
            message += " (quote a value with special characters: key='value')"
        raise ConfigError([message], source=f"overrides {list(overrides)}") from err
    return cfg


def load_config(overrides: Sequence[str] = (), world_size: int | None = None, validate: bool = True,
                groups: Sequence[str] | None = None, config_name: str = "drift", conf_dir: Path = CONF_DIR) -> DriftConfig:
    """Compose, type-check and validate (the `groups` a command reads, or all); raises ConfigError naming
    every bad key. This is the only way a process builds a `DriftConfig` from settings."""
    tree = compose(overrides, config_name, conf_dir)
    schema = OmegaConf.structured(DriftConfig)
    try:
        merged = OmegaConf.merge(schema, tree)
        cfg: DriftConfig = OmegaConf.to_object(merged)
    except MissingMandatoryValue as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError([f"{key}: required, and no preset sets it; add {key}=... to the command line"]) from err
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError([f"{key}: {err.msg if hasattr(err, 'msg') else err}"]) from err
    if validate:
        problems = cfg.validate(world_size, groups)
        if problems:
            raise ConfigError(problems)
    return cfg


def to_yaml(cfg: DriftConfig) -> str:
    """The resolved configuration as YAML (saved in every run folder)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def load_config_file(path: Path, overrides: Sequence[str] = ()) -> DriftConfig:
    """A resolved config saved by `nemo-drift run` (the run folder's config.yaml), typed, with plain
    `key=value` overrides on top (e.g. analysis thresholds for a finished run)."""
    _register_resolvers()
    try:
        merged = OmegaConf.merge(OmegaConf.structured(DriftConfig), OmegaConf.load(path),
                                 OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise ConfigError([f"{getattr(err, 'full_key', '?')}: {err}"], source=str(path)) from err
