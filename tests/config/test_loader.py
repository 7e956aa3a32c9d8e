"""The NeMo-style config: presets, overrides, and validation that names the key before any work."""
from __future__ import annotations

import pytest

from nemo_drift.config.loader import ConfigError, load_config, load_config_file, to_yaml


def test_default_is_the_embedded_run(smollm2_path):
    cfg = load_config([])
    assert cfg.method.name == "drift" and cfg.method.warm_start and cfg.method.iterations == 2
    assert cfg.model.hf_path == str(smollm2_path)
    assert cfg.data.source == "sample:wildfeedback_sat_dsat.json"
    assert (cfg.trainer.lr, cfg.trainer.beta, cfg.trainer.optimizer) == (5e-7, 0.1, "rmsprop")


def test_group_presets_and_nemo_style_overrides():
    cfg = load_config(["method=spin", "trainer.lr=1e-6", "++generation.temperature=0.9", "+resume.from_stage=train"])
    assert cfg.method.name == "spin"
    assert cfg.trainer.lr == 1e-6
    assert cfg.generation.temperature == 0.9
    assert cfg.resume.from_stage == "train"


def test_misspelt_key_is_named():
    with pytest.raises(ConfigError, match="trainer.lrr"):
        load_config(["trainer.lrr=1e-6"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match="trainer.lr"):
        load_config(["trainer.lr=fast"])


@pytest.mark.parametrize("override, key", [
    ("method.name=dpo", "method.name"),
    ("trainer.global_batch_size=6", "trainer.global_batch_size"),
    ("generation.top_p=1.5", "generation.top_p"),
    ("data.format=csv", "data.format"),
    ("model.tensor_model_parallel_size=2", "model.tensor_model_parallel_size"),
    ("resume.from_stage=nope", "resume.from_stage"),
    ("cluster.launcher=mpirun", "cluster.launcher"),
])
def test_each_bad_setting_fails_naming_its_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config([override, "trainer.micro_batch_size=4"] if "global_batch" in override else [override])
    assert any(p.startswith(key) for p in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config(["method.name=dpo", "generation.top_p=1.5"])
    assert len(err.value.problems) == 2


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(["method=iterdpo", "trainer.beta=0.2"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    assert load_config_file(path) == cfg
