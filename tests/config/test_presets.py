"""Defaults live once: a preset (conf/<group>/*.yaml) carries only what differs from the typed schema,
and every preset composes through the one config loader."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from omegaconf import OmegaConf

from nemo_drift.config.loader import CONF_DIR, load_config
from nemo_drift.config.schema import DriftConfig

GROUPS = ("model", "method", "data", "cluster")
IDENTITY = {"method.name"}
"""A method preset names the method it selects, even where that is the schema's default."""


def presets() -> list[Path]:
    return sorted(p for group in GROUPS for p in (CONF_DIR / group).glob("*.yaml"))


def leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def preset_settings(path: Path) -> dict[str, Any]:
    """`group.key -> value` a preset file sets (`# @package _global_` files are rooted at the config)."""
    text = path.read_text()
    tree = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    if "@package _global_" not in text:
        tree = {path.parent.name: tree}
    return dict(leaves(tree))


def schema_default(key: str) -> Any:
    value: Any = DriftConfig()
    for part in key.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def repeated_defaults(path: Path) -> list[str]:
    """Keys a preset sets to the schema's own default value (model.architecture is described whole:
    its schema default is None)."""
    return [f"{key}: {value!r}" for key, value in preset_settings(path).items()
            if key not in IDENTITY and not key.startswith("model.architecture.") and value == schema_default(key)]


@pytest.mark.parametrize("path", presets(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_repeats_no_schema_default(path: Path) -> None:
    assert repeated_defaults(path) == []


def test_a_repeated_default_is_found(tmp_path: Path) -> None:
    preset = tmp_path / "model" / "x.yaml"
    preset.parent.mkdir()
    preset.write_text("# @package _global_\ntrainer:\n  lr: 5.0e-7\n  beta: 0.2\nmodel:\n  architecture:\n"
                      "    tied_embeddings: false\n")
    assert repeated_defaults(preset) == ["trainer.lr: 5e-07"]


@pytest.mark.parametrize("path", presets(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_composes(path: Path) -> None:
    cfg = load_config([f"{path.parent.name}={path.stem}"], validate=False)
    assert isinstance(cfg, DriftConfig)
