"""DataConfig.validate: every bad data setting is reported, each message naming its key."""
from __future__ import annotations

from nemo_drift.config.data import DataConfig


def test_config_validation_names_keys():
    assert DataConfig().validate() == []
    problems = DataConfig(format="foo", heldout_fraction=1.5, max_length=100, max_prompt_length=200,
                          overlength="shrug", guided_instruction=" ").validate()
    assert problems[0].startswith("data.format: 'foo' is not one of auto, sat_dsat_annotation")
    assert [p.split(":")[0] for p in problems] == ["data.format", "data.heldout_fraction", "data.max_length",
                                                   "data.overlength", "data.guided_instruction"]
