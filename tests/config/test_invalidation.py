"""Every schema field declares which stages a change of it redoes, and the controller's per-stage
settings are derived from those declarations (nemo_drift/config/declare.py)."""
from __future__ import annotations

import dataclasses

import pytest

from nemo_drift.config.declare import STAGES, setting
from nemo_drift.config.describe import field_docs
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.settings import stage_settings


def unclassified(cls: type) -> list[str]:
    """Leaf fields of `cls` declared without `setting(..., invalidates=...)`."""
    return [doc.key for doc in field_docs(cls) if doc.invalidates is None]


def test_every_schema_field_is_classified():
    assert unclassified(DriftConfig) == []


@dataclasses.dataclass
class Group:
    declared: int = setting(1, invalidates=("train",))
    forgotten: int = 2


@dataclasses.dataclass
class Root:
    group: Group = dataclasses.field(default_factory=Group)


def test_an_unclassified_field_is_found():
    assert unclassified(Root) == ["group.forgotten"]


def test_unknown_stage_names_are_refused_at_declaration():
    with pytest.raises(ValueError, match="trian"):
        setting(1, invalidates=("trian",))
    with pytest.raises(ValueError, match="warmstart"):
        setting(1, invalidates=("train:warmstart",))


# Settings that change results and that the hand-kept list of earlier versions missed.
@pytest.mark.parametrize("key, stage", [("trainer.reference_path", "reference"), ("trainer.reference_path", "train"),
                                        ("model.precision", "train"), ("model.fp8", "train"),
                                        ("generation.dtype", "generate"), ("generation.dtype", "parity"),
                                        ("trainer.lr", "train"), ("data.source", "prepare")])
def test_result_changing_settings_invalidate_their_stage(key, stage):
    assert key in stage_settings(DriftConfig(), stage, iteration=1)


def test_scopes_split_warm_start_from_iterations():
    cfg = DriftConfig()
    assert "method.warm_start_epochs" in stage_settings(cfg, "train", 0)
    assert "method.warm_start_epochs" not in stage_settings(cfg, "train", 1)
    assert "trainer.epochs" in stage_settings(cfg, "train", 1)
    assert "trainer.epochs" not in stage_settings(cfg, "train", 0)
    # the warm start trains on the seed pairs whatever the method
    assert "method.name" in stage_settings(cfg, "pairs", 1)
    assert "method.name" not in stage_settings(cfg, "pairs", 0)


def test_layout_and_logging_settings_invalidate_nothing():
    cfg = DriftConfig()
    everything = {k for stage in STAGES for it in (0, 1) for k in stage_settings(cfg, stage, it)}
    for key in ("model.tensor_model_parallel_size", "cluster.nodes", "trainer.log_every", "generation.replicas",
                "run.dry_run", "model.architecture.num_layers"):
        assert key not in everything
